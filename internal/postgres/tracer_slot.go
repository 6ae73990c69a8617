package postgres

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// SetQueryTracer makes t see every query and batch that db's pool sends
// from now on (not those of the change watcher's own connection); nil
// stops it. t may also implement pgx.BatchTracer to see batches. Tests use
// it to count the round trips each kind of request costs
// (docs/scaling.md); it is safe to call while queries run.
func (db *DB) SetQueryTracer(t pgx.QueryTracer) {
	db.tracer.set(t)
}

// tracerSlot is the pool's pgx tracer, installed when the pool is made:
// pgx reads a connection's tracer once, as it connects, so a tracer set
// later (SetQueryTracer) can only be reached through a slot that was there
// from the start. Empty, it costs one atomic load per query.
type tracerSlot struct {
	t atomic.Pointer[installedTracer]
}

// installedTracer boxes the interface for atomic.Pointer.
type installedTracer struct{ pgx.QueryTracer }

var (
	_ pgx.QueryTracer = (*tracerSlot)(nil)
	_ pgx.BatchTracer = (*tracerSlot)(nil)
)

func (s *tracerSlot) set(t pgx.QueryTracer) {
	if t == nil {
		s.t.Store(nil)
		return
	}
	s.t.Store(&installedTracer{t})
}

func (s *tracerSlot) load() pgx.QueryTracer {
	if it := s.t.Load(); it != nil {
		return it.QueryTracer
	}
	return nil
}

func (s *tracerSlot) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if t := s.load(); t != nil {
		return t.TraceQueryStart(ctx, conn, data)
	}
	return ctx
}

func (s *tracerSlot) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	if t := s.load(); t != nil {
		t.TraceQueryEnd(ctx, conn, data)
	}
}

func (s *tracerSlot) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if t, ok := s.load().(pgx.BatchTracer); ok {
		return t.TraceBatchStart(ctx, conn, data)
	}
	return ctx
}

func (s *tracerSlot) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	if t, ok := s.load().(pgx.BatchTracer); ok {
		t.TraceBatchQuery(ctx, conn, data)
	}
}

func (s *tracerSlot) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	if t, ok := s.load().(pgx.BatchTracer); ok {
		t.TraceBatchEnd(ctx, conn, data)
	}
}
