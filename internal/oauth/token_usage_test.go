package oauth

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// TestTokenRequestsAreCountedByClientUserAndOutcome runs each grant and a
// few refusals through the token endpoint and reads the counter.
func TestTokenRequestsAreCountedByClientUserAndOutcome(t *testing.T) {
	counter := usage.NewCounter()
	ts := newTestServer(t, func(c *Config) { c.Usage = counter })
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	alice := ts.mustUser("alice")

	first := ts.signIn(t, c, secret, alice) // authorization_code: VALID for alice
	decode(t, ts.refresh(c, secret, first["refresh_token"].(string), nil), http.StatusOK)
	decode(t, ts.refresh(c, secret, "not-a-refresh-token", nil), http.StatusBadRequest) // invalid_grant
	decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret), http.StatusOK)
	decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, "wrong"), http.StatusUnauthorized)
	decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, "cli_made_up", "x"), http.StatusUnauthorized)

	got := map[usage.Event]int64{}
	for cell, n := range counter.Take() {
		got[cell.Event] += n
	}
	ev := func(client, user, outcome string) usage.Event {
		return usage.Event{ClientID: client, UserID: user, Outcome: outcome}
	}
	want := map[usage.Event]int64{
		ev(c.ID, alice.ID, "VALID"):   2, // code exchange and refresh
		ev(c.ID, "", "VALID"):         1, // client credentials: no user
		ev(c.ID, "", "invalid_grant"): 1,
		ev("", "", "invalid_client"):  2, // an unproven client ID is not recorded
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
