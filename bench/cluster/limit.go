package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

// limitResult is what hammering one rate-limited key through every node
// gave.
type limitResult struct {
	rate          float64
	burst         int
	d             time.Duration
	admitted      int64 // VALID answers
	refused       int64 // RATE_LIMITED answers
	other         int64 // anything else
	allowed       float64
	bound         float64 // limit × time + burst + one per node: the ceiling
	callers, node int
	// by counts the nodes' shared-limit decisions in the window by where
	// they were made (gatehouse_ratelimit_decisions_total's "by": redis,
	// lease, fallback), the verify endpoint's own limit off.
	by map[string]float64
}

// limitDecisions sums gatehouse_ratelimit_decisions_total over the nodes,
// by where the decisions were made.
func (f *fixture) limitDecisions(ctx context.Context) (map[string]float64, error) {
	by := map[string]float64{}
	for _, n := range f.c.Nodes {
		samples, err := scrape(ctx, f.hc, n.APIURL)
		if err != nil {
			return nil, err
		}
		for _, s := range samples {
			if s.name == "gatehouse_ratelimit_decisions_total" {
				by[s.label("by")] += s.value
			}
		}
	}
	return by, nil
}

// sharedLimit creates a key limited to rate per second with burst, and
// verifies it from callersPerNode goroutines at each node directly (so
// every node takes an equal share) for d.
func (f *fixture) sharedLimit(ctx context.Context, rate float64, burst int, d time.Duration, callersPerNode int) (limitResult, error) {
	k, err := f.newKey(ctx, &admin.RateLimit{Rate: rate, Burst: burst})
	if err != nil {
		return limitResult{}, err
	}
	// Every node reads the key from the store before the window opens
	// (not counted), and the bucket refills what that spent.
	for _, n := range f.c.Nodes {
		if st, _, err := f.verify(ctx, n.APIURL, k.Secret); err != nil || st != http.StatusOK {
			return limitResult{}, fmt.Errorf("warm %s: %d %v", n.Name, st, err)
		}
	}
	time.Sleep(time.Duration(float64(burst)/rate*float64(time.Second)) + 200*time.Millisecond)
	r := limitResult{rate: rate, burst: burst, d: d, callers: callersPerNode, node: len(f.c.Nodes)}
	before, err := f.limitDecisions(ctx)
	if err != nil {
		return limitResult{}, err
	}
	var admitted, refused, other atomic.Int64
	window, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range f.c.Nodes {
		for range callersPerNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for window.Err() == nil {
					st, code, err := f.verify(window, n.APIURL, k.Secret)
					if window.Err() != nil {
						return // cut by the end of the window: not counted
					}
					switch {
					case err == nil && st == http.StatusOK && code == "VALID":
						admitted.Add(1)
					case err == nil && st == http.StatusTooManyRequests && code == "RATE_LIMITED":
						refused.Add(1)
					default:
						other.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	r.admitted, r.refused, r.other = admitted.Load(), refused.Load(), other.Load()
	after, err := f.limitDecisions(ctx)
	if err != nil {
		return limitResult{}, err
	}
	r.by = map[string]float64{}
	for by, v := range after {
		r.by[by] = v - before[by]
	}
	r.allowed = rate*d.Seconds() + float64(burst)
	r.bound = r.allowed + float64(len(f.c.Nodes))
	return r, nil
}

func (r limitResult) print(w *strings.Builder) {
	fmt.Fprintf(w, "| key limit | window | callers | admitted | allowed (rate × time + burst) | admitted / allowed | refused (429) | other |\n| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(w, "| %g/s, burst %d | %s | %d per node × %d nodes | %d | %.0f | %.2f | %d | %d |\n",
		r.rate, r.burst, r.d, r.callers, r.node, r.admitted, r.allowed, float64(r.admitted)/r.allowed, r.refused, r.other)
	verdict := "within"
	if float64(r.admitted) > r.bound {
		verdict = "ABOVE"
	}
	fmt.Fprintf(w, "\nAdmitted %d: %s the issue's ceiling of %.0f (limit × time + burst + one per node).\n", r.admitted, verdict, r.bound)
	// A node whose Redis call outlasts redis_timeout decides on its own,
	// at its share of the limit, for a second: what Redis and the other
	// nodes admit meanwhile comes on top, so the ceiling holds only
	// while no decision was a fallback.
	fmt.Fprintf(w, "Decisions in the window: %.0f by Redis, %.0f from leases, %.0f by a node alone while Redis did not answer in time (fallback).\n",
		r.by["redis"], r.by["lease"], r.by["fallback"])
}
