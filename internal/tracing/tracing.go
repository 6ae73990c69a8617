// Package tracing sets up OpenTelemetry tracing for a Gatehouse node: a
// TracerProvider that samples by the caller's decision or a ratio and
// exports spans over OTLP/HTTP, the W3C trace-context propagator, and the
// server span middleware of the HTTP listeners.
//
// Tracing is off unless an OTLP endpoint is configured. Off, New returns a
// nil *Provider, whose TracerProvider is nil: components take a
// trace.TracerProvider and, when it is nil, start no span at all (a nil
// check, not otel's no-op provider), so the hot paths keep their budget of
// zero allocations.
//
// Nothing here touches otel's global providers or propagators: the
// provider is handed to each component explicitly.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is the service.name of the spans when none is set.
const DefaultServiceName = "gatehouse"

// TracesPath is the OTLP/HTTP path of traces, appended to an endpoint
// given without a path.
const TracesPath = "/v1/traces"

// Propagator reads and writes the W3C traceparent and tracestate headers.
// It has no state; every component uses this one.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Config says where spans go and how many are kept.
type Config struct {
	// Endpoint is the OTLP/HTTP collector: a base URL such as
	// http://localhost:4318 (TracesPath is appended), or a URL with the
	// full path. Empty: tracing is off.
	Endpoint string
	// SampleRatio is the share of new traces recorded, 0 to 1. A request
	// that arrives with a traceparent follows its caller's decision
	// (parent-based sampling).
	SampleRatio float64
	// ServiceName is the service.name resource attribute; default
	// DefaultServiceName. ServiceVersion is service.version.
	ServiceName    string
	ServiceVersion string
	// InstanceID is service.instance.id (a node's name); "" leaves it out.
	InstanceID string
}

// Provider is the node's TracerProvider and exporter. A nil *Provider is
// tracing turned off; its methods are safe to call.
type Provider struct {
	tp *sdktrace.TracerProvider
}

// New builds the provider cfg describes, or returns nil when cfg.Endpoint
// is empty. It connects to nothing yet: spans are batched and exported in
// the background, and an unreachable collector loses spans, never requests.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	endpoint, err := EndpointURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if !(cfg.SampleRatio >= 0 && cfg.SampleRatio <= 1) {
		return nil, fmt.Errorf("tracing: sample ratio %v is not between 0 and 1", cfg.SampleRatio)
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	return &Provider{tp: NewTracerProvider(cfg, sdktrace.WithBatcher(exp))}, nil
}

// NewTracerProvider is the provider New builds, with the span processors
// given (tests pass a tracetest.SpanRecorder): sampling at cfg.SampleRatio
// (see sampler) and the service's resource.
func NewTracerProvider(cfg Config, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	name := cfg.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	if cfg.InstanceID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.InstanceID))
	}
	opts = append([]sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sampler(cfg.SampleRatio)),
	}, opts...)
	return sdktrace.NewTracerProvider(opts...)
}

// sampler records new traces at ratio, and applies the ratio to a
// caller's sampled traceparent too: any internet client can set the
// sampled flag, and trusting it would let them record (and flood the
// collector with) every request whatever the ratio. The decision is by
// trace ID, so callers sampling at the same ratio agree with it; an
// unsampled caller stays unsampled, and spans under a local parent follow
// it. A trace that is not recorded still propagates its trace ID.
func sampler(ratio float64) sdktrace.Sampler {
	byID := sdktrace.TraceIDRatioBased(ratio)
	return sdktrace.ParentBased(byID, sdktrace.WithRemoteParentSampled(byID))
}

// EndpointURL checks an OTLP/HTTP endpoint and returns the URL spans are
// posted to: TracesPath is added to a URL without a path.
func EndpointURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// The text is not repeated: a mistyped URL may hold a token.
		return "", errors.New("tracing: the OTLP endpoint must be an http:// or https:// URL without user information, query or fragment (like http://localhost:4318)")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = TracesPath
	}
	u.Path = "/" + strings.TrimPrefix(u.Path, "/")
	return u.String(), nil
}

// TracerProvider is what components are given: nil when tracing is off,
// so that they can tell by a nil check.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return nil // not a nil *sdktrace.TracerProvider in the interface
	}
	return p.tp
}

// Shutdown exports the spans still batched and stops the exporter; ctx
// bounds the wait. Call it after the servers have stopped, so that the
// spans of the last requests are sent.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// Tracer is tp's tracer for the instrumentation scope name, or nil when tp
// is nil: what a component keeps and checks before starting a span.
func Tracer(tp trace.TracerProvider, name string) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(name)
}

// Fail marks span as failed with err. The error's text is recorded: the
// errors that reach here (store, Redis, upstream) never carry secrets.
func Fail(span trace.Span, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// SQLOperation is a statement's first keyword (SELECT, INSERT, ...), upper
// case, which names the store's spans ("postgres SELECT"); "query" when
// it has none.
func SQLOperation(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	i := strings.IndexFunc(sql, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') })
	if i < 0 {
		i = len(sql)
	}
	if i == 0 || i > 16 {
		return "query"
	}
	return strings.ToUpper(sql[:i])
}
