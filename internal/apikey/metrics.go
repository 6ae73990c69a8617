package apikey

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's Prometheus counters. Labels hold only outcome
// codes: never a key, a hash or an ID (IDs would make the series unbounded).
type metrics struct {
	verifications [numCodes]prometheus.Counter // by codeIndex, so the hot path does no label lookup
	cacheHits     prometheus.Counter
	cacheMisses   prometheus.Counter
}

const numCodes = 8

// allCodes lists every Code in codeIndex order.
func allCodes() [numCodes]Code {
	return [numCodes]Code{CodeValid, CodeInvalid, CodeExpired, CodeRevoked, CodeInsufficientScope, CodeRateLimited, CodeUsageExceeded, CodeIPNotAllowed}
}

func codeIndex(c Code) int {
	switch c {
	case CodeValid:
		return 0
	case CodeInvalid:
		return 1
	case CodeExpired:
		return 2
	case CodeRevoked:
		return 3
	case CodeInsufficientScope:
		return 4
	case CodeUsageExceeded:
		return 6
	case CodeIPNotAllowed:
		return 7
	default:
		return 5
	}
}

// newMetrics registers the service's metrics with reg; with feedUp, also
// the gauge of the key change feed, which it computes at each scrape.
func newMetrics(reg prometheus.Registerer, feedUp func() float64) (*metrics, error) {
	verifications := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_apikey_verifications_total",
		Help: "API key verifications, by outcome code.",
	}, []string{"code"})
	m := &metrics{
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_apikey_cache_hits_total",
			Help: "Verifications of well-formed keys answered from the in-memory cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_apikey_cache_misses_total",
			Help: "Verifications of well-formed keys that had to read the store.",
		}),
	}
	for i, c := range allCodes() {
		// Created up front, so every code is exported (as 0) from the start.
		m.verifications[i] = verifications.WithLabelValues(string(c))
	}
	collectors := []prometheus.Collector{verifications, m.cacheHits, m.cacheMisses}
	if feedUp != nil {
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_apikey_change_feed_up",
			Help: "1 while the store's feed of key changes made by other nodes is known complete, so cached keys answer; 0 while it is lost or not yet caught up, and every verification reads the store.",
		}, feedUp))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("apikey: register metrics: %w", err)
		}
	}
	return m, nil
}
