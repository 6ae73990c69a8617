package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// TestJWTVerificationsAreCountedByClientUserRouteAndOutcome sends tokens
// through jwt routes and reads what the gateway counted: every verdict on
// a presented token, under the route and, once the signature is verified,
// the token's client and user; nothing for a request without a token.
func TestJWTVerificationsAreCountedByClientUserRouteAndOutcome(t *testing.T) {
	counter := usage.NewCounter()
	e := newTestEnv(t, func(c *Config) { c.Usage = counter })
	scoped := e.route("scoped", "/scoped", auth.PolicyJWT)
	scoped.Scopes = []string{"orders:write"}
	limited := e.route("limited", "/limited", auth.PolicyJWT)
	limited.RateLimit = auth.RateLimit{Rate: 0.001, Burst: 1}
	e.setRoutes(e.route("orders", "/orders", auth.PolicyJWT), scoped, limited, e.route("keys", "/keys", auth.PolicyAPIKey))

	user := e.token(tokenClaims{Sub: "usr_1", ClientID: "cli_web", Scope: "orders:read"})
	machine := e.token(tokenClaims{Sub: "cli_batch", ClientID: "cli_batch", Scope: "orders:read"})
	expired := e.token(tokenClaims{Sub: "usr_1", ClientID: "cli_web", TTL: -time.Hour})
	revoked := e.token(tokenClaims{Sub: "usr_2", ClientID: "cli_web", JTI: "jti-revoked"})
	e.mu.Lock()
	e.revoked["jti-revoked"] = true
	e.mu.Unlock()

	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	for _, c := range []struct {
		path   string
		header []string
		status int
	}{
		{"/orders/1", bearer(user), http.StatusOK},
		{"/orders/2", bearer(user), http.StatusOK},
		{"/orders/3", bearer(machine), http.StatusOK},
		{"/orders/4", bearer(expired), http.StatusUnauthorized},
		{"/orders/5", bearer(revoked), http.StatusUnauthorized},
		{"/orders/6", bearer("not.a.token"), http.StatusUnauthorized},
		{"/orders/7", nil, http.StatusUnauthorized}, // no token: nothing verified, nothing counted
		{"/scoped/1", bearer(user), http.StatusForbidden},
		{"/limited/1", bearer(user), http.StatusOK},
		{"/limited/2", bearer(user), http.StatusTooManyRequests},
	} {
		wantStatus(t, e.do("GET", c.path, c.header...), c.status)
	}

	got := map[usage.Event]int64{}
	for cell, n := range counter.Take() {
		got[cell.Event] += n
	}
	ev := func(client, user, route, outcome string) usage.Event {
		return usage.Event{ClientID: client, UserID: user, Route: route, Outcome: outcome}
	}
	want := map[usage.Event]int64{
		ev("cli_web", "usr_1", "orders", "VALID"):              2,
		ev("cli_batch", "", "orders", "VALID"):                 1, // a client's own token has no user
		ev("", "", "orders", "EXPIRED"):                        1, // claims of a refused signature check are not trusted
		ev("", "", "orders", "REVOKED"):                        1, // the revocation list refuses inside verification
		ev("", "", "orders", "INVALID"):                        1,
		ev("cli_web", "usr_1", "scoped", "INSUFFICIENT_SCOPE"): 1,
		ev("cli_web", "usr_1", "limited", "VALID"):             1,
		ev("cli_web", "usr_1", "limited", "RATE_LIMITED"):      1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%+v counted %d times, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected count %+v: %d", k, n)
		}
	}
}

// TestCountingATokenAllocatesNothingOnceSeen holds the gateway's share of
// usage counting to the hot path's budget. (Under the race detector the
// count is only indicative; the test then skips.)
func TestCountingATokenAllocatesNothingOnceSeen(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need the race detector off")
	}
	counter := usage.NewCounter()
	g := &Gateway{cfg: Config{Usage: counter}}
	x := &exchange{route: &route{name: "orders"}}
	x.id = identity{token: true, tokenClient: "cli_web", tokenUser: "usr_1"}
	now := time.Now()
	for range 10000 {
		g.countToken(x, "VALID", now)
	}
	counter.Take()
	for range 10000 {
		g.countToken(x, "VALID", now)
	}
	if n := testing.AllocsPerRun(1000, func() { g.countToken(x, "VALID", now) }); n != 0 {
		t.Errorf("countToken allocates %.1f times per call", n)
	}
}
