package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func TestQueriesOfATracedOperationAreItsChildSpans(t *testing.T) {
	t.Parallel()
	dsn, _ := testenv.PostgresSchema(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db, err := Open(t.Context(), dsn, WithTracerProvider(tp))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })

	// Outside any trace: background work, not recorded.
	if _, err := db.GetAPIKeyByHash(t.Context(), make([]byte, 32)); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("GetAPIKeyByHash = %v", err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("a query outside any trace recorded %d spans", n)
	}

	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := db.GetAPIKeyByHash(ctx, make([]byte, 32)); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("GetAPIKeyByHash = %v", err)
	}
	events := []auth.AuditEvent{{Time: time.Now(), Type: "key.created", Actor: auth.ActorSystem, KeyID: "key_1", Count: 1},
		{Time: time.Now(), Type: "key.revoked", Actor: auth.ActorSystem, KeyID: "key_1", Count: 1}}
	if err := db.AppendAuditEvents(ctx, events...); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	parent.End()

	var names []string
	for _, s := range rec.Ended() {
		if s.Name() == "request" {
			continue
		}
		names = append(names, s.Name())
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s is not a child of the operation's span", s.Name())
		}
		if s.Status().Code.String() != "Unset" {
			t.Errorf("span %s has status %v; a key not found is no failure", s.Name(), s.Status())
		}
	}
	for _, want := range []string{"postgres SELECT", "postgres BEGIN", "postgres LOCK", "postgres batch", "postgres COMMIT"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %q span among %q", want, names)
		}
	}
}

func TestTheTracerJoinsOneSetBefore(t *testing.T) {
	var cfg pgxpool.Config
	cfg.ConnConfig = &pgx.ConnConfig{}
	other := queryTracer{}
	cfg.ConnConfig.Tracer = other
	WithTracerProvider(sdktrace.NewTracerProvider())(&cfg)
	mt, ok := cfg.ConnConfig.Tracer.(*multitracer.Tracer)
	if !ok || len(mt.QueryTracers) != 2 {
		t.Fatalf("Tracer = %#v, want both tracers", cfg.ConnConfig.Tracer)
	}
	cfg.ConnConfig.Tracer = nil
	WithTracerProvider(nil)(&cfg)
	if cfg.ConnConfig.Tracer != nil {
		t.Fatal("a nil provider set a tracer")
	}
}
