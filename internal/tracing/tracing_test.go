package tracing

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func recorder(t *testing.T, cfg Config) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := NewTracerProvider(cfg, sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes() {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}

func TestOffMeansNoProviderAndNoWrapping(t *testing.T) {
	p, err := New(context.Background(), Config{})
	if err != nil || p != nil {
		t.Fatalf("New without an endpoint = %v, %v; want nil, nil", p, err)
	}
	if tp := p.TracerProvider(); tp != nil {
		t.Fatalf("a nil Provider's TracerProvider is %#v, want a nil interface", tp)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if Tracer(nil, "x") != nil {
		t.Fatal("Tracer(nil) is not nil")
	}
	h := &countingHandler{}
	if got := Middleware(nil, func(*http.Request) string { return "x" }, h); got != http.Handler(h) {
		t.Fatal("Middleware without a provider wrapped the handler")
	}
}

type countingHandler struct{ n int }

func (h *countingHandler) ServeHTTP(http.ResponseWriter, *http.Request) { h.n++ }

func TestEndpointURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:4318":               "http://localhost:4318/v1/traces",
		"http://localhost:4318/":              "http://localhost:4318/v1/traces",
		"https://otlp.example/otlp/v1/traces": "https://otlp.example/otlp/v1/traces",
	} {
		if got, err := EndpointURL(in); err != nil || got != want {
			t.Errorf("EndpointURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"localhost:4318", "grpc://h:4317", "http://u:secret@h", "http://h/?k=secret", "http://h/#secret", ""} {
		_, err := EndpointURL(bad)
		if err == nil {
			t.Errorf("EndpointURL(%q) accepted", bad)
		} else if bad != "" && contains(err.Error(), "secret") {
			t.Errorf("the error repeats the endpoint: %v", err)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestMiddlewareContinuesTheCallersTrace(t *testing.T) {
	tp, rec := recorder(t, Config{SampleRatio: 1})
	var inner trace.SpanContext
	h := Middleware(tp, func(*http.Request) string { return "token" }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
		http.Error(w, "no", http.StatusTeapot)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/oauth2/token?code=secret-code", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "POST token" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q of kind %v", s.Name(), s.SpanKind())
	}
	if s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span not in the caller's trace: %v, parent %v", s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	if inner.SpanID() != s.SpanContext().SpanID() {
		t.Error("the handler's context does not carry the server span")
	}
	a := attrs(s)
	want := map[string]string{"http.request.method": "POST", "url.path": "/oauth2/token", "http.route": "token", "http.response.status_code": "418"}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s = %q, want %q", k, a[k], v)
		}
	}
	for k, v := range a {
		if contains(v, "secret-code") {
			t.Errorf("attribute %s records the query string: %q", k, v)
		}
	}
	if s.Status().Code.String() != "Unset" {
		t.Errorf("a 4xx marked the span %v", s.Status())
	}
}

// A caller's sampled flag does not force recording: any client can set
// it. At ratio 0 the request is not recorded, but the caller's trace ID
// still reaches the upstream.
func TestMiddlewareAppliesTheRatioToACallersSampledFlag(t *testing.T) {
	tp, rec := recorder(t, Config{SampleRatio: 0})
	upstream := http.Header{}
	h := Middleware(tp, func(*http.Request) string { return "x" }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Inject(r.Context(), upstream)
	}))
	for range 10 {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("ratio 0 recorded %d spans because the caller set the sampled flag", n)
	}
	if got := upstream.Get("Traceparent"); !strings.HasPrefix(got, "00-4bf92f3577b34da6a3ce929d0e0e4736-") {
		t.Fatalf("upstream traceparent %q, want the caller's trace ID", got)
	}
}

func TestMiddlewareSamplesNewTracesAtTheRatio(t *testing.T) {
	tp, rec := recorder(t, Config{SampleRatio: 0})
	h := Middleware(tp, func(*http.Request) string { return "x" }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	for range 10 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("ratio 0 recorded %d new traces", n)
	}
	tp, rec = recorder(t, Config{SampleRatio: 1})
	h = Middleware(tp, func(*http.Request) string { return "x" }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if s := rec.Ended(); len(s) != 1 || s[0].Status().Code.String() != "Error" {
		t.Fatalf("a 500 at ratio 1: %v", s)
	}
}

func TestMiddlewareLeavesUnnamedRequestsUntraced(t *testing.T) {
	tp, rec := recorder(t, Config{SampleRatio: 1})
	var traced bool
	h := Middleware(tp, func(r *http.Request) string {
		if r.URL.Path == "/healthz" {
			return ""
		}
		return "x"
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traced = trace.SpanContextFromContext(r.Context()).IsValid()
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	if traced || len(rec.Ended()) != 0 {
		t.Fatalf("an unnamed request was traced (%d spans)", len(rec.Ended()))
	}
}

func TestInjectReplacesTheCallersTraceparent(t *testing.T) {
	tp, _ := recorder(t, Config{SampleRatio: 1})
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	defer span.End()
	h := http.Header{"Traceparent": {"00-11111111111111111111111111111111-2222222222222222-01"}, "Tracestate": {"a=b"}}
	Inject(ctx, h)
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if h.Get("Traceparent") != want || h.Get("Tracestate") != "" {
		t.Fatalf("headers %v, want traceparent %s and no tracestate", h, want)
	}
	h = http.Header{"Traceparent": {"kept"}}
	Inject(context.Background(), h)
	if h.Get("Traceparent") != "kept" {
		t.Fatal("Inject without a span changed the headers")
	}
}

func TestSQLOperation(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT 1":                    "SELECT",
		"\n\t  insert into x":         "INSERT",
		"(SELECT 1) UNION (SELECT 2)": "SELECT",
		"begin":                       "BEGIN",
		"":                            "query",
		"-- comment":                  "query",
	} {
		if got := SQLOperation(sql); got != want {
			t.Errorf("SQLOperation(%q) = %q, want %q", sql, got, want)
		}
	}
}

func TestRedisCommandsOfATracedOperationAreItsChildSpans(t *testing.T) {
	t.Parallel()
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		testenv.RedisUnreachable(t, err)
	}
	tp, rec := recorder(t, Config{SampleRatio: 1})
	InstrumentRedis(c, tp)
	key := "gatehouse-test:tracing:" + rand.Text()
	t.Cleanup(func() { c.Del(context.Background(), key) })

	if err := c.Set(context.Background(), key, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("a command outside any trace recorded %d spans", n)
	}
	ctx, parent := tp.Tracer("t").Start(context.Background(), "request")
	if err := c.Get(ctx, key+":missing").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET of a missing key = %v", err)
	}
	pipe := c.Pipeline()
	pipe.Incr(ctx, key)
	pipe.Expire(ctx, key, 60e9)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	parent.End()

	// Keyed by name and operation: opening a connection inside the trace
	// adds go-redis's own handshake (HELLO, CLIENT SETINFO) to it.
	got := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if s.Name() == "request" {
			continue
		}
		if s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("%s is not in the operation's trace", s.Name())
		}
		got[s.Name()+" "+attrs(s)["db.operation.name"]] = s
	}
	for _, name := range []string{"redis GET GET", "redis pipeline INCR EXPIRE"} {
		s := got[name]
		if s == nil {
			t.Errorf("no span %q among %v", name, got)
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s is not a child of the operation", name)
		}
		if s.Status().Code.String() != "Unset" {
			t.Errorf("%s: status %v (a missing key is an answer, not a failure)", name, s.Status())
		}
		if a := attrs(s); a["db.system.name"] != "redis" {
			t.Errorf("%s: attributes %v", name, a)
		}
	}
	if a := got["redis pipeline INCR EXPIRE"]; a != nil && attrs(a)["db.operation.batch.size"] != "2" {
		t.Errorf("pipeline batch size %v", attrs(a))
	}
	for name, sp := range got {
		for k, v := range attrs(sp) {
			if contains(v, key) {
				t.Errorf("%s attribute %s records a key: %q", name, k, v)
			}
		}
	}
}
