package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/jackc/pgx/v5"
)

// sqlRecorder records the SQL of every query and batched query it sees.
type sqlRecorder struct {
	mu  sync.Mutex
	sql []string
}

func (r *sqlRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, data.SQL)
	return ctx
}

func (r *sqlRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *sqlRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (r *sqlRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, data.SQL)
}

func (r *sqlRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *sqlRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sql...)
}

// TestQueryTracerSetAfterOpenSeesThePoolsQueries: a tracer installed on an
// open DB (whose pool already holds a connection) sees the queries and
// batches that follow, and none once it is removed.
func TestQueryTracerSetAfterOpenSeesThePoolsQueries(t *testing.T) {
	t.Parallel()
	dsn, _ := testenv.PostgresSchema(t)
	db := openDSN(t, dsn)
	ctx := t.Context()
	rec := &sqlRecorder{}
	db.SetQueryTracer(rec)
	if _, err := db.pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{}
	b.Queue("SELECT 2")
	b.Queue("SELECT 3")
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	db.SetQueryTracer(nil)
	if _, err := db.pool.Exec(ctx, "SELECT 4"); err != nil {
		t.Fatal(err)
	}
	got := rec.seen()
	want := []string{"SELECT 1", "SELECT 2", "SELECT 3"}
	if len(got) != len(want) {
		t.Fatalf("the tracer saw %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("the tracer saw %q, want %q", got, want)
		}
	}
}
