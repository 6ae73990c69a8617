package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/storetest"
)

func openTraced(t *testing.T, tp *sdktrace.TracerProvider) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"), WithTracerProvider(tp))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// The tracing wrapper forwards everything the driver's connections do:
// the whole contract holds through it.
func TestStoreContractThroughTheTracingWrapper(t *testing.T) {
	t.Parallel()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	storetest.Run(t, func(t *testing.T) auth.Store { return openTraced(t, tp) })
}

func TestStatementsOfATracedOperationAreItsChildSpans(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db := openTraced(t, tp)
	key := testKey("key_traced")

	// Outside any trace: background work, not recorded.
	if _, err := db.GetAPIKeyByHash(t.Context(), key.Hash); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("GetAPIKeyByHash = %v", err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("a statement outside any trace recorded %d spans", n)
	}

	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	if err := db.CreateAPIKey(ctx, key); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if _, err := db.GetAPIKeyByHash(ctx, key.Hash); err != nil {
		t.Fatalf("GetAPIKeyByHash: %v", err)
	}
	ev := auth.AuditEvent{Time: time.Now(), Type: "key.created", Actor: auth.ActorSystem, KeyID: key.ID, Count: 1}
	if err := db.AppendAuditEvents(ctx, ev, ev); err != nil { // a prepared statement, run twice
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	parent.End()

	var names []string
	for _, s := range rec.Ended() {
		if s == nil || s.Name() == "request" {
			continue
		}
		names = append(names, s.Name())
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s is not a child of the operation's span", s.Name())
		}
		if s.Status().Code.String() != "Unset" {
			t.Errorf("span %s failed: %v", s.Name(), s.Status())
		}
	}
	for _, want := range []string{"sqlite BEGIN", "sqlite INSERT", "sqlite COMMIT", "sqlite SELECT"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %q span among %q", want, names)
		}
	}
}
