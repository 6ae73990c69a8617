package gateway

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus collectors. Their labels are
// bounded: route names come from the route table (or "none"), codes are
// HTTP status codes, reasons and kinds are fixed vocabularies.
type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	refusals   *prometheus.CounterVec
	upstreamEr *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_gateway_requests_total",
			Help: "Requests answered by the gateway, by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_gateway_request_duration_seconds",
			Help:    "Time from a request's arrival until its response headers and body were handed back, by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_gateway_refusals_total",
			Help: "Requests the gateway refused itself (not the upstreams' own refusals), by route and reason.",
		}, []string{"route", "reason"}),
		upstreamEr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_gateway_upstream_errors_total",
			Help: "Failures to reach an upstream, by route and kind (unavailable, timeout, error).",
		}, []string{"route", "kind"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.refusals, m.upstreamEr} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("gateway: register metrics: %w", err)
		}
	}
	return m, nil
}

// routeMetrics are one route's children, resolved when the table is built
// so that a request touches no label map: the duration observer directly,
// and a status code's counter through an array slot filled on first use
// (creating all 500 children up front would export 500 zero series).
type routeMetrics struct {
	parent   *metrics
	route    string
	duration prometheus.Observer
	codes    [600]atomic.Pointer[counterRef]
}

type counterRef struct{ c prometheus.Counter }

// forRoute returns the children of route; nil when metrics are off (every
// method of *routeMetrics accepts a nil receiver).
func (m *metrics) forRoute(route string) *routeMetrics {
	if m == nil {
		return nil
	}
	return &routeMetrics{parent: m, route: route, duration: m.duration.WithLabelValues(route)}
}

// forget removes every series of route.
func (m *metrics) forget(route string) {
	if m == nil {
		return
	}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.requests, m.duration, m.refusals, m.upstreamEr} {
		v.DeletePartialMatch(prometheus.Labels{"route": route})
	}
}

func (rm *routeMetrics) request(code int, seconds float64) {
	if rm == nil {
		return
	}
	rm.duration.Observe(seconds)
	if code < 100 || code >= len(rm.codes) {
		rm.parent.requests.WithLabelValues(rm.route, strconv.Itoa(code)).Inc()
		return
	}
	ref := rm.codes[code].Load()
	if ref == nil {
		ref = &counterRef{rm.parent.requests.WithLabelValues(rm.route, strconv.Itoa(code))}
		rm.codes[code].Store(ref)
	}
	ref.c.Inc()
}

func (rm *routeMetrics) refusal(reason string) {
	if rm == nil {
		return
	}
	rm.parent.refusals.WithLabelValues(rm.route, reason).Inc()
}

func (rm *routeMetrics) upstreamError(kind string) {
	if rm == nil {
		return
	}
	rm.parent.upstreamEr.WithLabelValues(rm.route, kind).Inc()
}
