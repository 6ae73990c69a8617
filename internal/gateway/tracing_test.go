package gateway

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

const (
	callerTraceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerParentID = "00f067aa0ba902b7"
	callerParent   = "00-" + callerTraceID + "-" + callerParentID + "-01"
	callerState    = "vendor=opaque-value"
)

// newTracedEnv is a test env whose gateway records spans and whose
// listener starts a server span per request, as cmd/gatehouse wires it.
func newTracedEnv(t *testing.T) (*testEnv, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	e := newTestEnv(t, func(c *Config) { c.TracerProvider = tp })
	e.srv.Close()
	e.srv = httptest.NewServer(tracing.Middleware(tp, ServerSpanName, e.gw))
	t.Cleanup(e.srv.Close)
	return e, rec
}

func endedSpan(t *testing.T, rec *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var names []string
	for _, s := range rec.Ended() {
		if s.Name() == name {
			return s
		}
		names = append(names, s.Name())
	}
	t.Fatalf("no span %q among %q", name, names)
	return nil
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func TestTraceContextPassesUnchangedWhenTracingIsOff(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("open", "/open", auth.PolicyPublic))
	got := echoOf(t, e.do("GET", "/open/x", "Traceparent", callerParent, "Tracestate", callerState))
	if v := got.Header.Values("Traceparent"); len(v) != 1 || v[0] != callerParent {
		t.Errorf("upstream traceparent = %q, want the caller's %q", v, callerParent)
	}
	if v := got.Header.Values("Tracestate"); len(v) != 1 || v[0] != callerState {
		t.Errorf("upstream tracestate = %q, want the caller's %q", v, callerState)
	}
}

func TestUpstreamSeesTheGatewaySpanAsItsParent(t *testing.T) {
	e, rec := newTracedEnv(t)
	r := e.route("users", "/users", auth.PolicyJWT)
	e.setRoutes(r)
	tok := e.token(tokenClaims{Sub: "alice", ClientID: "app", Scope: "users:read"})
	got := echoOf(t, e.do("GET", "/users/me", "Authorization", "Bearer "+tok,
		"Traceparent", callerParent, "Tracestate", callerState))

	server := endedSpan(t, rec, "GET users")
	sc := server.SpanContext()
	if sc.TraceID().String() != callerTraceID || server.Parent().SpanID().String() != callerParentID || !server.Parent().IsRemote() {
		t.Fatalf("server span %s in trace %s with parent %s, want the caller's trace and span as parent",
			sc.SpanID(), sc.TraceID(), server.Parent().SpanID())
	}
	want := "00-" + callerTraceID + "-" + sc.SpanID().String() + "-01"
	if v := got.Header.Values("Traceparent"); len(v) != 1 || v[0] != want {
		t.Errorf("upstream traceparent = %q, want %q (same trace, the gateway's span as parent)", v, want)
	}
	if v := got.Header.Get("Tracestate"); v != callerState {
		t.Errorf("upstream tracestate = %q, want the caller's %q kept", v, callerState)
	}
	if a := attr(server, "gatehouse.route"); a != "users" {
		t.Errorf("server span route = %q", a)
	}
	if a := attr(server, "http.response.status_code"); a != "200" {
		t.Errorf("server span status = %q", a)
	}

	v := endedSpan(t, rec, SpanVerifyJWT)
	if v.Parent().SpanID() != sc.SpanID() || v.SpanContext().TraceID() != sc.TraceID() {
		t.Errorf("%s is not a child of the server span", SpanVerifyJWT)
	}
	if attr(v, "gatehouse.client_id") != "app" || attr(v, "gatehouse.jwt.issuer") != testIssuer || attr(v, "gatehouse.refusal") != "" {
		t.Errorf("%s attributes = %v", SpanVerifyJWT, v.Attributes())
	}
	for _, s := range rec.Ended() {
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.Emit(), tok) || strings.Contains(a.Value.Emit(), strings.Split(tok, ".")[2]) {
				t.Fatalf("span %s attribute %s holds the token", s.Name(), a.Key)
			}
		}
	}
}

func TestARefusedTokenIsARefusalNotAFailedSpan(t *testing.T) {
	e, rec := newTracedEnv(t)
	e.setRoutes(e.route("users", "/users", auth.PolicyJWT))
	resp := e.do("GET", "/users/me", "Authorization", "Bearer not.a.jwt")
	if resp.StatusCode != 401 {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	v := endedSpan(t, rec, SpanVerifyJWT)
	if attr(v, "gatehouse.refusal") != "malformed" || v.Status().Code.String() != "Unset" {
		t.Errorf("%s: refusal %q, status %v; want malformed and no error status", SpanVerifyJWT, attr(v, "gatehouse.refusal"), v.Status())
	}
	server := endedSpan(t, rec, "GET users")
	if attr(server, "http.response.status_code") != "401" || server.Status().Code.String() != "Unset" {
		t.Errorf("server span: status code %q, span status %v; a 4xx is not the server's error", attr(server, "http.response.status_code"), server.Status())
	}
}

func TestARequestWithoutTraceparentStartsATraceThatReachesTheUpstream(t *testing.T) {
	e, rec := newTracedEnv(t)
	e.setRoutes(e.route("open", "/open", auth.PolicyPublic))
	got := echoOf(t, e.do("GET", "/open/x"))
	server := endedSpan(t, rec, "GET open")
	if server.Parent().IsValid() {
		t.Errorf("a request without traceparent got a parent: %v", server.Parent())
	}
	want := "00-" + server.SpanContext().TraceID().String() + "-" + server.SpanContext().SpanID().String() + "-01"
	if v := got.Header.Get("Traceparent"); v != want {
		t.Errorf("upstream traceparent = %q, want %q", v, want)
	}
}
