package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

// op is one kind of request of the mixed load.
type op int

const (
	opToken    op = iota // client_credentials token issuance
	opVerify             // POST /v1/keys/verify
	opJWTRoute           // gateway route, Bearer JWT
	opKeyRoute           // gateway route, X-API-Key
	opAdmin              // admin write: create a key, then revoke it
	numOps
)

var opNames = [numOps]string{"token issuance", "key verification", "gateway JWT route", "gateway key route", "admin write"}

// mix is the share of each op in the load, as a sequence each worker runs
// in turn (from its own offset): per 20 requests, 2 token issuances, 6
// verifications, 5 JWT route calls, 6 key route calls and 1 admin write.
var mix = []op{
	opVerify, opJWTRoute, opKeyRoute, opVerify, opToken, opKeyRoute, opJWTRoute, opVerify, opKeyRoute, opAdmin,
	opVerify, opJWTRoute, opKeyRoute, opVerify, opToken, opKeyRoute, opJWTRoute, opVerify, opKeyRoute, opJWTRoute,
}

// loadStats counts the answers of the mixed load by op.
type loadStats struct {
	sent, ok, s4xx, s5xx, failed [numOps]atomic.Int64

	mu         sync.Mutex
	unexpected map[string]int // "op: status" -> count, for everything not expected
}

func (s *loadStats) record(o op, status int, err error, ok bool) {
	s.sent[o].Add(1)
	switch {
	case err != nil || status == 0:
		s.failed[o].Add(1)
	case ok:
		s.ok[o].Add(1)
		return
	case status >= 500:
		s.s5xx[o].Add(1)
	case status >= 400:
		s.s4xx[o].Add(1)
	}
	what := fmt.Sprintf("%s: %d", opNames[o], status)
	if err != nil {
		what = fmt.Sprintf("%s: %v", opNames[o], err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unexpected == nil {
		s.unexpected = map[string]int{}
	}
	if len(s.unexpected) < 50 {
		s.unexpected[what]++
	}
}

func (s *loadStats) total() (sent, bad5xx, failed int64) {
	for o := range numOps {
		sent += s.sent[o].Load()
		bad5xx += s.s5xx[o].Load()
		failed += s.failed[o].Load()
	}
	return sent, bad5xx, failed
}

func (s *loadStats) print(w *strings.Builder, d time.Duration) {
	fmt.Fprintf(w, "| request (through HAProxy) | sent | per second | as expected | 4xx | 5xx | no answer |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for o := range numOps {
		fmt.Fprintf(w, "| %s | %d | %.0f | %d | %d | %d | %d |\n", opNames[o], s.sent[o].Load(),
			float64(s.sent[o].Load())/d.Seconds(), s.ok[o].Load(), s.s4xx[o].Load(), s.s5xx[o].Load(), s.failed[o].Load())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.unexpected) > 0 {
		keys := make([]string, 0, len(s.unexpected))
		for k := range s.unexpected {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "\nUnexpected answers:\n")
		for _, k := range keys {
			fmt.Fprintf(w, "  %6d × %s\n", s.unexpected[k], k)
		}
	}
}

// mixedLoad drives the mix through the balancer with workers concurrent
// callers until ctx is done, counting every answer in stats.
func (f *fixture) mixedLoad(ctx context.Context, workers int, stats *loadStats) error {
	_, token, err := f.issue(ctx, f.c.APIURL, f.client.ClientID, f.client.ClientSecret)
	if err != nil || token == "" {
		return fmt.Errorf("first load token: %v", err)
	}
	var current atomic.Pointer[string]
	current.Store(&token)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.worker(ctx, w, &current, stats)
		}()
	}
	wg.Wait()
	return nil
}

func (f *fixture) worker(ctx context.Context, w int, token *atomic.Pointer[string], stats *loadStats) {
	var created string // a key this worker created and revokes next
	for i := w * 7; ctx.Err() == nil; i++ {
		o := mix[i%len(mix)]
		key := f.keys[i%len(f.keys)]
		var (
			st  int
			err error
			ok  bool
		)
		switch o {
		case opToken:
			var tok string
			st, tok, err = f.issue(ctx, f.c.APIURL, f.client.ClientID, f.client.ClientSecret)
			if ok = st == http.StatusOK && err == nil; ok && f.newTokens {
				token.Store(&tok)
			}
		case opVerify:
			var code string
			st, code, err = f.verify(ctx, f.c.APIURL, key)
			ok = st == http.StatusOK && code == "VALID"
		case opJWTRoute:
			st, _, err = f.get(ctx, f.c.GatewayURL+f.jwtRoute, http.Header{"Authorization": {"Bearer " + *token.Load()}})
			ok = st == http.StatusOK
		case opKeyRoute:
			st, _, err = f.get(ctx, f.c.GatewayURL+f.keyRoute, http.Header{"X-Api-Key": {key}})
			ok = st == http.StatusOK
		case opAdmin:
			if created == "" {
				var k *admin.CreatedKey
				k, err = f.adm.CreateKey(ctx, admin.CreateKeyRequest{Owner: "load-" + f.run, Scopes: []string{scope}})
				st = http.StatusCreated
				if err == nil {
					created = k.ID
				}
			} else {
				_, err = f.adm.RevokeKey(ctx, created)
				st = http.StatusOK
				created = ""
			}
			if s := statusOf(err); s != 0 {
				st, err = s, nil
			}
			ok = err == nil && (st == http.StatusOK || st == http.StatusCreated)
		}
		if ctx.Err() != nil {
			return // a request cut by the end of the run counts for nothing
		}
		stats.record(o, st, err, ok)
	}
}

// nodeCounts are a node's request counters at one moment.
type nodeCounts struct {
	api     float64 // gatehouse_http_requests_total, without health checks and scrapes
	gateway float64 // gatehouse_gateway_requests_total
	api5xx  float64
	gw5xx   float64
	byGroup map[string]float64
}

func (f *fixture) counts(ctx context.Context) ([]nodeCounts, error) {
	out := make([]nodeCounts, len(f.c.Nodes))
	for i, n := range f.c.Nodes {
		s, err := scrape(ctx, f.hc, n.APIURL)
		if err != nil {
			return nil, err
		}
		served := func(x sample) bool { g := x.label("group"); return g != "health" && g != "metrics" }
		out[i] = nodeCounts{
			api:     sum(s, "gatehouse_http_requests_total", served),
			gateway: sum(s, "gatehouse_gateway_requests_total", nil),
			api5xx:  sum(s, "gatehouse_http_requests_total", func(x sample) bool { return strings.HasPrefix(x.label("code"), "5") }),
			gw5xx:   sum(s, "gatehouse_gateway_requests_total", func(x sample) bool { return strings.HasPrefix(x.label("code"), "5") }),
			byGroup: map[string]float64{},
		}
		for _, x := range s {
			if x.name == "gatehouse_http_requests_total" && served(x) {
				out[i].byGroup[x.label("group")] += x.value
			}
		}
	}
	return out, nil
}

// printThroughput writes each node's requests per second between two
// readings of its counters.
func (f *fixture) printThroughput(w *strings.Builder, before, after []nodeCounts, d time.Duration) {
	fmt.Fprintf(w, "| node | API req/s | of which verify | token | admin | gateway req/s | total req/s | 5xx |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	var all float64
	for i, n := range f.c.Nodes {
		b, a := before[i], after[i]
		rate := func(x, y float64) float64 { return (y - x) / d.Seconds() }
		api, gw := rate(b.api, a.api), rate(b.gateway, a.gateway)
		all += api + gw
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", n.Name, api,
			rate(b.byGroup["verify"], a.byGroup["verify"]), rate(b.byGroup["token"], a.byGroup["token"]),
			rate(b.byGroup["admin"], a.byGroup["admin"]), gw, api+gw, (a.api5xx+a.gw5xx)-(b.api5xx+b.gw5xx))
	}
	fmt.Fprintf(w, "| all | | | | | | %.0f | |\n", all)
}
