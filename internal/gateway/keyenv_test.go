package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestKeyEnvironmentForwardedAndEnforced(t *testing.T) {
	e := newTestEnv(t)
	any := e.route("any-env", "/any", auth.PolicyAPIKey)
	liveOnly := e.route("live-only", "/live", auth.PolicyAPIKey)
	liveOnly.KeyEnvironment = auth.KeyEnvLive
	eitherLive := e.route("either-live", "/either", auth.PolicyAny)
	eitherLive.KeyEnvironment = auth.KeyEnvLive
	e.setRoutes(any, liveOnly, eitherLive)
	_, testKey := e.createKey("shop", nil, auth.RateLimit{}) // the test service's default: test
	_, liveKey, err := e.keys.Create(context.Background(), apikey.CreateParams{
		Owner: "shop", Actor: auth.ActorSystem, Environment: auth.KeyEnvLive,
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the environment is forwarded, and a spoofed one removed", func(t *testing.T) {
		for key, want := range map[string]string{testKey: "test", liveKey: "live"} {
			got := echoOf(t, e.do("GET", "/any/x", "X-API-Key", key, "X-Gatehouse-Key-Environment", "prod", "x_gatehouse_key_environment", "prod"))
			if vals := got.Header.Values(HeaderKeyEnvironment); len(vals) != 1 || vals[0] != want {
				t.Errorf("%s = %q, want exactly %q", HeaderKeyEnvironment, vals, want)
			}
			for name := range got.Header {
				if strings.EqualFold(strings.ReplaceAll(name, "_", "-"), HeaderKeyEnvironment) && name != HeaderKeyEnvironment {
					t.Errorf("spoofed %s reached the upstream", name)
				}
			}
		}
	})
	t.Run("a route that requires live takes live keys", func(t *testing.T) {
		for _, path := range []string{"/live/x", "/either/x"} {
			got := echoOf(t, e.do("GET", path, "X-API-Key", liveKey))
			if got.Header.Get(HeaderKeyEnvironment) != "live" {
				t.Errorf("%s: environment header %q", path, got.Header.Get(HeaderKeyEnvironment))
			}
		}
	})
	t.Run("and refuses test keys with 403 and a clear detail", func(t *testing.T) {
		n := e.upstream.count()
		for _, path := range []string{"/live/x", "/either/x"} {
			resp := e.do("GET", path, "X-API-Key", testKey)
			wantStatus(t, resp, http.StatusForbidden)
			if b := body(t, resp); !strings.Contains(b, "only live API keys") || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: body %s", path, b)
			}
		}
		if e.upstream.count() != n {
			t.Error("a refused request reached the upstream")
		}
	})
	t.Run("JWTs on an any route are not concerned", func(t *testing.T) {
		tok := e.token(tokenClaims{Sub: "alice", ClientID: "app"})
		got := echoOf(t, e.do("GET", "/either/x", "Authorization", "Bearer "+tok))
		if got.Header.Get(HeaderKeyEnvironment) != "" {
			t.Errorf("environment header on a JWT request: %q", got.Header.Get(HeaderKeyEnvironment))
		}
	})
}

// A key the route does not take is refused before its verification: it
// spends none of the key's rate limit, is not recorded as used, and is not
// counted as a valid verification.
func TestWrongKeyEnvironmentSpendsNothing(t *testing.T) {
	e := newTestEnv(t)
	any := e.route("any-env", "/any", auth.PolicyAPIKey)
	liveOnly := e.route("live-only", "/live", auth.PolicyAPIKey)
	liveOnly.KeyEnvironment = auth.KeyEnvLive
	e.setRoutes(any, liveOnly)
	k, testKey := e.createKey("shop", nil, auth.RateLimit{Rate: 0.001, Burst: 2}) // test environment

	for range 3 {
		wantStatus(t, e.do("GET", "/live/x", "X-API-Key", testKey), http.StatusForbidden)
	}
	if n := verifications(t, e, apikey.CodeValid); n != 0 {
		t.Errorf("%v refusals counted as valid verifications", n)
	}
	if err := e.keys.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, err := e.keys.Get(context.Background(), k.ID); err != nil || !got.LastUsedAt.IsZero() {
		t.Fatalf("last used %v after refusals only (%v)", got.LastUsedAt, err)
	}
	// The whole bucket is still there.
	for i, want := range []string{"1", "0"} {
		resp := e.do("GET", "/any/x", "X-API-Key", testKey)
		wantStatus(t, resp, http.StatusOK)
		if got := resp.Header.Get("RateLimit-Remaining"); got != want {
			t.Errorf("request %d: RateLimit-Remaining %q, want %q", i, got, want)
		}
	}
	if n := verifications(t, e, apikey.CodeValid); n != 2 {
		t.Errorf("%v valid verifications, want 2", n)
	}
}

// verifications reads gatehouse_apikey_verifications_total{code}.
func verifications(t *testing.T, e *testEnv, code apikey.Code) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_apikey_verifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" && l.GetValue() == string(code) {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no verification counter for %s", code)
	return 0
}
