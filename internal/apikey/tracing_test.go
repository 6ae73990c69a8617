package apikey_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// tracedEnv is an env whose service records its spans.
func tracedEnv(t *testing.T) (*env, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return newEnv(t, func(c *apikey.Config) { c.TracerProvider = tp }), rec
}

// spanAttrs returns the attributes of the ended spans named name.
func spanAttrs(rec *tracetest.SpanRecorder, name string) []map[string]string {
	var out []map[string]string
	for _, s := range rec.Ended() {
		if s.Name() != name {
			continue
		}
		m := map[string]string{}
		for _, a := range s.Attributes() {
			m[string(a.Key)] = a.Value.Emit()
		}
		out = append(out, m)
	}
	return out
}

func TestVerificationRecordsASpanWithTheCodeAndKeyIDButNeverTheKey(t *testing.T) {
	t.Parallel()
	e, rec := tracedEnv(t)
	k, key := e.create(t, apikey.CreateParams{Scopes: []string{"read"}})
	e.wantCode(t, key, apikey.CodeValid, "read")
	e.wantCode(t, key, apikey.CodeInsufficientScope, "write")
	e.wantCode(t, "sk_test_notakey", apikey.CodeInvalid)

	got := spanAttrs(rec, apikey.SpanVerify)
	if len(got) != 3 {
		t.Fatalf("%d %s spans for 3 verifications", len(got), apikey.SpanVerify)
	}
	want := []map[string]string{
		{string(apikey.AttrCode): "VALID", string(apikey.AttrKeyID): k.ID},
		{string(apikey.AttrCode): "INSUFFICIENT_SCOPE", string(apikey.AttrKeyID): k.ID},
		{string(apikey.AttrCode): "INVALID"},
	}
	for i := range want {
		for a, v := range want[i] {
			if got[i][a] != v {
				t.Errorf("span %d: %s = %q, want %q", i, a, got[i][a], v)
			}
		}
	}
	for _, s := range rec.Ended() {
		for _, a := range s.Attributes() {
			if v := a.Value.Emit(); strings.Contains(v, key[8:]) {
				t.Fatalf("span %s attribute %s holds the key", s.Name(), a.Key)
			}
		}
	}
	if n := len(spanAttrs(rec, apikey.SpanSettle)); n != 0 {
		t.Errorf("keys without credits recorded %d %s spans; settling them does no I/O", n, apikey.SpanSettle)
	}
}

func TestSpendingCreditsRecordsASettleSpan(t *testing.T) {
	t.Parallel()
	e, rec := tracedEnv(t)
	k, key := e.create(t, apikey.CreateParams{Credits: credits(10)})
	e.wantCode(t, key, apikey.CodeValid)
	got := spanAttrs(rec, apikey.SpanSettle)
	if len(got) != 1 || got[0][string(apikey.AttrKeyID)] != k.ID || got[0][string(apikey.AttrCode)] != "VALID" {
		t.Fatalf("%s spans = %v, want one for %s, VALID", apikey.SpanSettle, got, k.ID)
	}
}

func TestAStoreFailureMarksTheVerificationSpanFailed(t *testing.T) {
	t.Parallel()
	e, rec := tracedEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	e.store.Fail("GetAPIKeyByHash", errors.New("disk on fire"))
	if _, err := e.svc.Verify(context.Background(), key, nil); err == nil {
		t.Fatal("Verify with a failing store succeeded")
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Status().Code.String() != "Error" || !strings.Contains(spans[0].Status().Description, "disk on fire") {
		t.Fatalf("spans = %v, want one failed %s span", spans, apikey.SpanVerify)
	}
}

// BenchmarkVerifyWarmTraced is BenchmarkVerifyWarm with tracing on and
// every verification in a sampled trace: the cost of an apikey.verify span
// (BenchmarkVerifyWarm is tracing off).
func BenchmarkVerifyWarmTraced(b *testing.B) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	e := newEnv(b, func(c *apikey.Config) { c.Now = auth.SystemNow; c.TracerProvider = tp })
	_, key := e.create(b, apikey.CreateParams{Scopes: []string{"read"}, RateLimit: auth.RateLimit{Rate: 1e9, Burst: 1_000_000}})
	scopes := []string{"read"}
	ctx, parent := tp.Tracer("bench").Start(context.Background(), "request")
	defer parent.End()
	e.svc.Verify(ctx, key, scopes)
	b.ReportAllocs()
	defer reportCPU(b)()
	for i := 0; b.Loop(); i++ {
		if r, _ := e.svc.Verify(ctx, key, scopes); !r.Valid() {
			b.Fatalf("Verify = %s", r.Code)
		}
		if i%4096 == 0 {
			rec.Reset() // the recorder keeps every span otherwise
		}
	}
}
