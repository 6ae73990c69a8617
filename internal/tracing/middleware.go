package tracing

import (
	"bufio"
	"context"
	"net"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// scope is the instrumentation scope of the HTTP server spans.
const scope = "github.com/gatehouse-dev/gatehouse/internal/tracing"

// Attribute keys of the server spans (OpenTelemetry's HTTP semantic
// conventions). The query string is never recorded: OAuth and webhook
// URLs may carry codes and tokens there.
const (
	AttrMethod = attribute.Key("http.request.method")
	AttrPath   = attribute.Key("url.path")
	AttrRoute  = attribute.Key("http.route")
	AttrStatus = attribute.Key("http.response.status_code")
)

// Middleware gives every request next serves a server span, the child of
// the caller's span when the request carries a W3C traceparent (and
// tracestate). The span is named "METHOD route", route being what
// name(r) returns: a small fixed vocabulary (an endpoint group, a
// gateway route), never the raw path; "" leaves the request untraced (its
// traceparent untouched). With tp nil it returns next itself: tracing off
// costs nothing.
func Middleware(tp trace.TracerProvider, name func(*http.Request) string, next http.Handler) http.Handler {
	if tp == nil {
		return next
	}
	tracer := tp.Tracer(scope)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := name(r)
		if route == "" {
			next.ServeHTTP(w, r)
			return
		}
		ctx := Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+route,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(AttrMethod.String(r.Method), AttrPath.String(r.URL.Path), AttrRoute.String(route)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		status := sw.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		span.SetAttributes(AttrStatus.Int(status))
		if status >= 500 {
			// Server spans fail on 5xx only: a 4xx is the caller's error
			// (HTTP semantic conventions).
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

// Inject writes the span context of ctx into h as traceparent and
// tracestate, in place of those the caller sent: the upstream sees the
// current span (the gateway's) as its parent, in the same trace. Without
// a span in ctx, h is left as it is.
func Inject(ctx context.Context, h http.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	delete(h, "Tracestate") // a span without trace state writes none
	Propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// statusWriter remembers the response status. It unwraps, so that
// http.ResponseController reaches the real writer (the gateway's proxy
// flushes streams and hijacks WebSocket connections through it).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	// 1xx are interim, except 101, which ends the exchange.
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush is forwarded for handlers that type-assert http.Flusher.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack is forwarded for handlers that type-assert http.Hijacker; the
// upgraded connection's 101 is written on the raw connection.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, brw, err
}
