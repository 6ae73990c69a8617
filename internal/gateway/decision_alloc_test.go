package gateway

import (
	"net/http"
	"testing"
)

// TestDecisionAllocatesNothingTheGatewayDoesNot holds issue 16's rule: a
// decision allocates nothing that the gateway's own path does not.
//
// The comparison: the gateway's path is ServeHTTP, which is the pooled
// exchange around serve, and serve is admit (the decision) followed by the
// route's proxy. The proxy's allocations (the outbound request, the
// upstream's response) are the work a decision hands to the other proxy,
// so the gateway side is measured without it: admitOnly is ServeHTTP with
// serve's proxying left out, the same pooled exchange, admit and finish.
// The decision side is the whole endpoint, DecisionHandler's ServeHTTP:
// the trusted-proxy check, the original request read from X-Forwarded-*,
// admit, the identity copied to the answer, WriteHeader. Whatever the
// decision allocates beyond admitOnly is the decision API's own cost,
// and must be none.
//
// Both requests are built before the measurement, one per run (admit
// changes a request's headers and path), with header maps and a response
// header made large enough not to grow (headerRoom). Each credential is
// served from the caches after the warm-up run AllocsPerRun makes.
func TestDecisionAllocatesNothingTheGatewayDoesNot(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need the race detector off")
	}
	e, cases := newDecisionEnv(t)
	decisions := e.gw.DecisionHandler()
	const runs = 200
	measure := func(newRequest func() *http.Request, serve func(http.ResponseWriter, *http.Request)) float64 {
		t.Helper()
		reqs := make([]*http.Request, runs+1) // AllocsPerRun warms up with one run
		for i := range reqs {
			reqs[i] = newRequest()
		}
		w := &discardWriter{h: make(http.Header, headerRoom)}
		n := 0
		return testing.AllocsPerRun(runs, func() {
			clear(w.h)
			w.status = 0
			serve(w, reqs[n])
			n++
			if w.status != 0 && w.status != http.StatusOK {
				t.Fatalf("status %d", w.status)
			}
		})
	}
	for _, c := range cases {
		gateway := measure(c.gatewayRequest, e.gw.admitOnly)
		decision := measure(c.decisionRequest, decisions.ServeHTTP)
		t.Logf("%s: decision %.0f allocations, gateway without its proxy %.0f", c.name, decision, gateway)
		if decision > gateway {
			t.Errorf("%s: a decision allocates %.0f times, the gateway's admission %.0f", c.name, decision, gateway)
		}
	}
}

// admitOnly is ServeHTTP without the proxying: see
// TestDecisionAllocatesNothingTheGatewayDoesNot.
func (g *Gateway) admitOnly(w http.ResponseWriter, r *http.Request) {
	x := begin(w)
	defer g.end(x, r)
	g.admit(&x.rec, r, x)
}
