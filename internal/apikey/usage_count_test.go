package apikey_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// TestCheckCountsEveryOutcomeWithRouteAndOwner verifies keys into each
// outcome and reads the counter: each verdict once, under the key, its
// owner and the route asked for; an unknown key under no key at all.
func TestCheckCountsEveryOutcomeWithRouteAndOwner(t *testing.T) {
	counter := usage.NewCounter()
	e := newEnv(t, func(c *apikey.Config) { c.Usage = counter })
	ctx := context.Background()
	good, goodKey := e.create(t, apikey.CreateParams{Owner: "billing", Scopes: []string{"read"}})
	limited, limitedKey := e.create(t, apikey.CreateParams{Owner: "billing", RateLimit: auth.RateLimit{Rate: 0.001, Burst: 1}})
	expiring, expiringKey := e.create(t, apikey.CreateParams{Owner: "shop", ExpiresAt: e.clock.Now().Add(time.Minute)})
	revoked, revokedKey := e.create(t, apikey.CreateParams{Owner: "shop"})
	if _, err := e.svc.Revoke(ctx, revoked.ID, "key_admin"); err != nil {
		t.Fatal(err)
	}
	unknown := generate(t, testPrefix)

	check := func(key, route string, scopes ...string) {
		t.Helper()
		if _, err := e.svc.Check(ctx, apikey.Request{Key: key, Scopes: scopes, Route: route}); err != nil {
			t.Fatal(err)
		}
	}
	check(goodKey, "orders", "read")
	check(goodKey, "orders", "read")
	check(goodKey, "", "read") // the verify endpoint: no route
	check(goodKey, "orders", "write")
	check(limitedKey, "orders")
	check(limitedKey, "orders")
	check(revokedKey, "orders")
	check(unknown, "orders")
	check("not a key", "orders")
	e.clock.Add(2 * time.Minute)
	check(expiringKey, "")

	got := map[usage.Event]int64{}
	for cell, n := range counter.Take() {
		got[cell.Event] += n
		if want := e.clock.Now().Unix() / 60; cell.Minute != want && cell.Minute != want-2 {
			t.Errorf("%+v counted in minute %d, not the verification's", cell.Event, cell.Minute)
		}
	}
	ev := func(k *auth.APIKey, route, outcome string) usage.Event {
		e := usage.Event{Route: route, Outcome: outcome}
		if k != nil {
			e.KeyID, e.Owner = k.ID, k.Owner
		}
		return e
	}
	want := map[usage.Event]int64{
		ev(good, "orders", "VALID"):              2,
		ev(good, "", "VALID"):                    1,
		ev(good, "orders", "INSUFFICIENT_SCOPE"): 1,
		ev(limited, "orders", "VALID"):           1,
		ev(limited, "orders", "RATE_LIMITED"):    1,
		ev(revoked, "orders", "REVOKED"):         1,
		ev(nil, "orders", "INVALID"):             2, // unknown and malformed: no key to name
		ev(expiring, "", "EXPIRED"):              1,
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
