package main

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// startTracing builds the span exporter when tracing.otlp_endpoint is set
// (docs/tracing.md). It connects to nothing yet: a collector that is down
// loses spans, never requests, and does not stop the start.
func (m *Main) startTracing(ctx context.Context) error {
	t := m.Config.Tracing
	if !t.Enabled() {
		return nil
	}
	p, err := tracing.New(ctx, tracing.Config{
		Endpoint:       t.OTLPEndpoint,
		SampleRatio:    t.SampleRatio,
		ServiceName:    t.ServiceName,
		ServiceVersion: buildVersion().Version,
	})
	if err != nil {
		return err
	}
	m.tracing = p
	m.Logger.Info("tracing on", "sample_ratio", t.SampleRatio, "service_name", t.ServiceName)
	return nil
}

// tracerProvider is what the components get: nil when tracing is off, so
// that each skips its spans with a nil check.
func (m *Main) tracerProvider() trace.TracerProvider { return m.tracing.TracerProvider() }

// stopTracing sends the spans still batched, within ctx (Close: what is
// left of the shutdown timeout): last, once the servers and the background
// work have stopped.
func (m *Main) stopTracing(ctx context.Context) error {
	if m.tracing == nil {
		return nil
	}
	err := m.tracing.Shutdown(ctx)
	m.tracing = nil
	return err
}

// apiSpanName names the API listener's server spans by endpoint group
// (token, verify, admin, ...), the metrics' vocabulary. Probes and scrapes
// (/healthz, /readyz, /metrics) are not traced: every few seconds from
// every balancer and Prometheus, they would be most of the traces.
func apiSpanName(r *http.Request) string {
	switch g := endpointGroup(r.URL.Path); g {
	case "health", "metrics":
		return ""
	default:
		return g
	}
}
