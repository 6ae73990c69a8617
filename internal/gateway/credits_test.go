package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/problem"
)

func (e *testEnv) createKeyWith(p apikey.CreateParams) string {
	e.t.Helper()
	p.Owner, p.Actor = "svc", auth.ActorSystem
	_, plain, err := e.keys.Create(context.Background(), p)
	if err != nil {
		e.t.Fatalf("create key: %v", err)
	}
	return plain
}

func problemType(t *testing.T, resp *http.Response) string {
	t.Helper()
	var d problem.Details
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatalf("decode problem: %v", err)
	}
	return d.Type
}

// TestKeyCreditsAtTheGateway: a key's credits pay for requests through an
// api_key route; when they are spent the gateway answers 429
// usage_exceeded, without Retry-After, and forwards nothing.
func TestKeyCreditsAtTheGateway(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("api", "/", auth.PolicyAPIKey))
	key := e.createKeyWith(apikey.CreateParams{Credits: &auth.Credits{Remaining: 2}})
	echoOf(t, e.do("GET", "/", "X-API-Key", key))
	echoOf(t, e.do("GET", "/", "X-API-Key", key))
	seen := e.upstream.count()
	resp := e.do("GET", "/", "X-API-Key", key)
	wantStatus(t, resp, http.StatusTooManyRequests)
	if typ := problemType(t, resp); typ != problem.TypePrefix+"usage_exceeded" {
		t.Fatalf("problem type %q, want usage_exceeded", typ)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After %q on a spent quota, want none", ra)
	}
	if e.upstream.count() != seen {
		t.Fatal("a request over the key's credits reached the upstream")
	}
}

// TestRouteLimitsSpendNoCredits: a request the route's limits refuse
// spends none of the key's credits, and is counted RATE_LIMITED, not
// VALID.
func TestRouteLimitsSpendNoCredits(t *testing.T) {
	e := newTestEnv(t)
	r := e.route("api", "/", auth.PolicyAPIKey)
	r.ClientRateLimit = auth.RateLimit{Rate: 0.001, Burst: 1}
	e.setRoutes(r)
	k, plain, err := e.keys.Create(context.Background(), apikey.CreateParams{
		Owner: "svc", Actor: auth.ActorSystem, Credits: &auth.Credits{Remaining: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	echoOf(t, e.do("GET", "/", "X-API-Key", plain))
	for range 4 {
		wantStatus(t, e.do("GET", "/", "X-API-Key", plain), http.StatusTooManyRequests)
	}
	got, err := e.keys.Get(context.Background(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Credits.Remaining != 4 {
		t.Errorf("%d credits left after 1 forwarded and 4 refused requests, want 4", got.Credits.Remaining)
	}
	counts := map[string]int64{}
	for cell, n := range e.keyUsage.Take() {
		if cell.Event.KeyID == k.ID {
			counts[cell.Event.Outcome] += n
		}
	}
	if counts["VALID"] != 1 || counts["RATE_LIMITED"] != 4 || len(counts) != 2 {
		t.Errorf("counted %v, want 1 VALID and 4 RATE_LIMITED", counts)
	}
}

// TestKeyAllowedNetworksAtTheGateway: the gateway checks the caller's
// address, taken from X-Forwarded-For only when the peer is a trusted
// proxy.
func TestKeyAllowedNetworksAtTheGateway(t *testing.T) {
	nets, err := auth.ParseAllowedIPs([]string{"198.51.100.0/24", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("behind a trusted proxy", func(t *testing.T) {
		e := newTestEnv(t, func(c *Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		})
		e.setRoutes(e.route("api", "/", auth.PolicyAPIKey))
		key := e.createKeyWith(apikey.CreateParams{AllowedIPs: nets})
		echoOf(t, e.do("GET", "/", "X-API-Key", key, "X-Forwarded-For", "198.51.100.7"))
		echoOf(t, e.do("GET", "/", "X-API-Key", key, "X-Forwarded-For", "2001:db8::5"))
		// The right-most untrusted entry is the caller, not the first.
		echoOf(t, e.do("GET", "/", "X-API-Key", key, "X-Forwarded-For", "203.0.113.1, 198.51.100.9"))
		for _, xff := range []string{"203.0.113.1", "198.51.100.9, 203.0.113.1", "2001:db9::1"} {
			resp := e.do("GET", "/", "X-API-Key", key, "X-Forwarded-For", xff)
			wantStatus(t, resp, http.StatusForbidden)
			if typ := problemType(t, resp); typ != problem.TypePrefix+"ip_not_allowed" {
				t.Fatalf("from %s: problem type %q, want ip_not_allowed", xff, typ)
			}
		}
		// Without X-Forwarded-For the caller is the proxy itself.
		wantStatus(t, e.do("GET", "/", "X-API-Key", key), http.StatusForbidden)
	})
	t.Run("without trusted proxies X-Forwarded-For is ignored", func(t *testing.T) {
		e := newTestEnv(t)
		e.setRoutes(e.route("api", "/", auth.PolicyAPIKey))
		key := e.createKeyWith(apikey.CreateParams{AllowedIPs: nets})
		wantStatus(t, e.do("GET", "/", "X-API-Key", key, "X-Forwarded-For", "198.51.100.7"), http.StatusForbidden)
		wantStatus(t, e.do("GET", "/", "X-API-Key", key, "X-Real-IP", "198.51.100.7"), http.StatusForbidden)
		local, _ := auth.ParseAllowedIPs([]string{"127.0.0.0/8", "::1"})
		echoOf(t, e.do("GET", "/", "X-API-Key", e.createKeyWith(apikey.CreateParams{AllowedIPs: local})))
	})
}
