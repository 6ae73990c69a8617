package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// Option is an optional setting of Open.
type Option func(*pgxpool.Config)

// WithTracerProvider records a span per query and per batch (see
// queryTracer); a nil tp records none, and the pool has no tracer at all.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(cfg *pgxpool.Config) {
		if tp == nil {
			return
		}
		addTracer(cfg, queryTracer{tracing.Tracer(tp, tracerName)})
	}
}

// addTracer sets t as the pool's tracer, beside any set already.
func addTracer(cfg *pgxpool.Config, t pgx.QueryTracer) {
	if prev := cfg.ConnConfig.Tracer; prev != nil {
		t = multitracer.New(prev, t)
	}
	cfg.ConnConfig.Tracer = t
}

// tracerName is the instrumentation scope of the store's spans.
const tracerName = "github.com/gatehouse-dev/gatehouse/internal/postgres"

// Attributes of the query spans (OpenTelemetry's database conventions).
// The SQL text is recorded: every statement of this package passes its
// values as parameters ($1), and the parameters are never recorded.
var (
	attrSystem    = attribute.String("db.system.name", "postgresql")
	AttrQueryText = attribute.Key("db.query.text")
	AttrBatchSize = attribute.Key("db.operation.batch.size")
)

// queryTracer is a pgx.QueryTracer and pgx.BatchTracer that records each
// query of an operation already traced (a request, a grant) as a child
// span, "postgres SELECT" and the like. Queries with no span in their
// context (the change feed's heartbeats, background flushes) are not
// recorded: each would otherwise be a trace of its own, every second.
type queryTracer struct {
	tracer trace.Tracer
}

var (
	_ pgx.QueryTracer = queryTracer{}
	_ pgx.BatchTracer = queryTracer{}
)

func (t queryTracer) start(ctx context.Context, name string, attrs ...attribute.KeyValue) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	ctx, _ = t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx
}

// end ends the span start put in ctx. Without one, SpanFromContext is
// the caller's span only if start declined to record (no valid parent),
// and then it is a no-op span.
func end(ctx context.Context, err error) {
	span := trace.SpanFromContext(ctx)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		tracing.Fail(span, err)
	}
	span.End()
}

func (t queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return t.start(ctx, "postgres "+tracing.SQLOperation(data.SQL), attrSystem, AttrQueryText.String(data.SQL))
}

func (t queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	end(ctx, data.Err)
}

func (t queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	return t.start(ctx, "postgres batch", attrSystem, AttrBatchSize.Int(data.Batch.Len()))
}

func (t queryTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	end(ctx, data.Err)
}
