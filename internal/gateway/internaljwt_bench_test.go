package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// internalRoute returns the provisioned route of name from the gateway's
// table.
func internalRoute(tb testing.TB, g *Gateway, name string) *route {
	tb.Helper()
	for _, rt := range g.table.Load().routes {
		if rt.name == name {
			return rt
		}
	}
	tb.Fatalf("no route %s", name)
	return nil
}

// BenchmarkInternalToken measures the minting of internal JWTs: hit is a
// caller whose token is in the mint cache (every request but one per
// half token lifetime), miss signs a new one each time.
func BenchmarkInternalToken(b *testing.B) {
	e := newTestEnv(b, func(c *Config) { c.AccessLog = false; c.InternalTokenTTL = time.Hour })
	r := e.route("internal", "/in", auth.PolicyAny)
	r.InternalJWT = true
	e.setRoutes(r)
	rt := internalRoute(b, e.gw, "internal")
	id := &identity{auth: authJWT, subject: "usr_bench", client: "cli_bench", scopes: []string{"a", "b"}}
	now := e.clock.Now()
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		if _, err := e.gw.internalToken(rt, id, now); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := e.gw.internalToken(rt, id, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		at := now
		for b.Loop() {
			at = at.Add(time.Hour) // past the reuse window: sign again
			if _, err := e.gw.internalToken(rt, id, at); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGatewayInternalJWT sends requests through ServeHTTP to an
// internal_jwt route, for an API key and a JWT caller whose internal
// tokens are in the mint cache.
func BenchmarkGatewayInternalJWT(b *testing.B) {
	e := newTestEnv(b, func(c *Config) { c.AccessLog = false; c.InternalTokenTTL = time.Hour })
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	r := auth.Route{Name: "internal", PathPrefix: "/in", Policy: auth.PolicyAny, Upstreams: []string{up.URL}, AnyAudience: true, InternalJWT: true}
	e.setRoutes(r)
	_, key := e.createKey("bench", []string{"a", "b"}, auth.RateLimit{})
	tok := e.token(tokenClaims{Sub: "bench", ClientID: "bench-app", Scope: "a b"})
	run := func(name string, headers map[string]string) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					r := httptest.NewRequest("GET", "http://gw.example.com/in", nil)
					for k, v := range headers {
						r.Header.Set(k, v)
					}
					clear(w.h)
					w.status = 0
					e.gw.ServeHTTP(w, r)
					if w.status != 0 && w.status != 200 {
						b.Errorf("%s: status %d", name, w.status)
						return
					}
				}
			})
		})
	}
	run("api_key", map[string]string{"X-API-Key": key})
	run("jwt", map[string]string{"Authorization": "Bearer " + tok})
}

// TestInternalTokenCacheHitAllocations holds a mint-cache hit to its
// budget: the mint key's scope string is the only allocation (none for a
// caller with at most one scope). (Under the race detector the count is
// only indicative; the test then skips.)
func TestInternalTokenCacheHitAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need the race detector off")
	}
	e := newTestEnv(t, func(c *Config) { c.InternalTokenTTL = time.Hour })
	r := e.route("internal", "/in", auth.PolicyAny)
	r.InternalJWT = true
	e.setRoutes(r)
	rt := internalRoute(t, e.gw, "internal")
	now := e.clock.Now()
	for _, tc := range []struct {
		name   string
		scopes []string
		budget float64
	}{
		{"one scope", []string{"a"}, 0},
		{"two scopes", []string{"a", "b"}, 1},
	} {
		id := &identity{auth: authJWT, subject: "usr_1", client: "cli_1", scopes: tc.scopes}
		if _, err := e.gw.internalToken(rt, id, now); err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(1000, func() {
			if _, err := e.gw.internalToken(rt, id, now); err != nil {
				t.Fatal(err)
			}
		})
		if n > tc.budget {
			t.Errorf("%s: a mint-cache hit allocates %.1f times (budget %.0f)", tc.name, n, tc.budget)
		}
	}
}
