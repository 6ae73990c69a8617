package apikey_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestEnvironmentPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ def, env, want string }{
		{"sk_live_", auth.KeyEnvLive, "sk_live_"},
		{"sk_live_", auth.KeyEnvTest, "sk_test_"},
		{"sk_test_", auth.KeyEnvLive, "sk_live_"},
		{"sk_test_", auth.KeyEnvTest, "sk_test_"},
		{"acme_prod_", auth.KeyEnvLive, "acme_prod_"},
		{"acme_prod_", auth.KeyEnvTest, "acme_test_"},
		{"gh_", auth.KeyEnvLive, "gh_"},
		{"gh_", auth.KeyEnvTest, "gh_test_"},
	} {
		got := apikey.EnvironmentPrefix(tc.def, tc.env)
		if got != tc.want {
			t.Errorf("EnvironmentPrefix(%q, %q) = %q, want %q", tc.def, tc.env, got, tc.want)
		}
		if err := apikey.ValidatePrefix(got); err != nil || auth.KeyEnvironmentOf(got) != tc.env {
			t.Errorf("EnvironmentPrefix(%q, %q) = %q: valid %v, environment %q", tc.def, tc.env, got, err, auth.KeyEnvironmentOf(got))
		}
	}
}

func TestKeysOfEveryEnvironmentVerifyOnOneService(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if got := e.svc.Environment(); got != auth.KeyEnvLive {
		t.Fatalf("default environment of %s = %q", testPrefix, got)
	}
	live, liveKey := e.create(t, apikey.CreateParams{})
	test, testKey := e.create(t, apikey.CreateParams{Environment: auth.KeyEnvTest})
	if live.Prefix != "sk_live_" || !strings.HasPrefix(liveKey, "sk_live_") || live.Environment() != auth.KeyEnvLive {
		t.Fatalf("default key: prefix %q, environment %q", live.Prefix, live.Environment())
	}
	if test.Prefix != "sk_test_" || !strings.HasPrefix(testKey, "sk_test_") || test.Environment() != auth.KeyEnvTest {
		t.Fatalf("test key: prefix %q, environment %q", test.Prefix, test.Environment())
	}
	for _, key := range []string{liveKey, testKey} {
		if r := e.wantCode(t, key, apikey.CodeValid); r.Key.Prefix != key[:len(r.Key.Prefix)] {
			t.Fatalf("verified record has prefix %q", r.Key.Prefix)
		}
	}
	// Rotation keeps the environment.
	next, nextKey, err := e.svc.Rotate(context.Background(), test.ID, 0, "key_admin")
	if err != nil {
		t.Fatal(err)
	}
	if next.Environment() != auth.KeyEnvTest || !strings.HasPrefix(nextKey, "sk_test_") {
		t.Fatalf("rotated test key: prefix %q", next.Prefix)
	}
	// The audit log says which environment each key was made in.
	envs := map[string]string{}
	for _, ev := range e.events(t, auth.EventKeyCreated) {
		envs[ev.KeyID] = ev.Details["environment"]
	}
	if envs[live.ID] != auth.KeyEnvLive || envs[test.ID] != auth.KeyEnvTest || envs[next.ID] != auth.KeyEnvTest {
		t.Fatalf("key.created environments: %v", envs)
	}
}

func TestChangingTheDefaultPrefixKeepsOldKeysValid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, old := e.create(t, apikey.CreateParams{})
	_, oldTest := e.create(t, apikey.CreateParams{Environment: auth.KeyEnvTest})
	// Same store and secret, another default prefix (and environment).
	cfg := e.cfg
	cfg.Prefix = "acme_test_"
	svc, err := apikey.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{old, oldTest} {
		r, err := svc.Verify(context.Background(), key, nil)
		if err != nil || r.Code != apikey.CodeValid {
			t.Fatalf("old key after the prefix changed: %v, %v", r.Code, err)
		}
	}
	k, key, err := svc.Create(context.Background(), apikey.CreateParams{Owner: "svc", Actor: "key_admin"})
	if err != nil || !strings.HasPrefix(key, "acme_test_") || k.Environment() != auth.KeyEnvTest {
		t.Fatalf("new default key: %v, environment %q", err, k.Environment())
	}
}

func TestEnvironmentsRefusesTheOthersWithoutAStoreRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, liveKey := e.create(t, apikey.CreateParams{})
	_, testKey := e.create(t, apikey.CreateParams{Environment: auth.KeyEnvTest})
	cfg := e.cfg
	cfg.Environments = []string{auth.KeyEnvLive}
	svc, err := apikey.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.store.Reset()
	if r, _ := svc.Verify(context.Background(), testKey, nil); r.Code != apikey.CodeInvalid || r.Key != nil {
		t.Fatalf("test key on a live-only service: %s", r.Code)
	}
	if n := e.store.Calls(""); n != 0 {
		t.Fatalf("a refused environment cost %d store calls", n)
	}
	if r, _ := svc.Verify(context.Background(), liveKey, nil); r.Code != apikey.CodeValid {
		t.Fatalf("live key on a live-only service: %s", r.Code)
	}
	cfg.Environments = []string{"staging"}
	if _, err := apikey.NewService(cfg); err == nil {
		t.Fatal("NewService accepted an unknown environment")
	}
}

func TestKeyCanHoldEveryScopeARouteCanRequire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	scopes := []string{":read", "https://api.example.com/orders.read", "a!#$%&'()*+,;<=>?@[]^`{|}~"}
	r := auth.Route{Name: "r", Upstreams: []string{"http://up"}, Policy: auth.PolicyAPIKey, Scopes: scopes}
	if err := r.Normalize(); err != nil {
		t.Fatalf("route: %v", err)
	}
	_, key := e.create(t, apikey.CreateParams{Scopes: scopes})
	e.wantCode(t, key, apikey.CodeValid, r.Scopes...)
}

// FuzzKeyHoldsWhatARouteRequires: whatever scope a route accepts, a key
// accepts too, in the same canonical form (the one scope grammar).
func FuzzKeyHoldsWhatARouteRequires(f *testing.F) {
	for _, s := range []string{"orders:read", ":read", "a b", `x"y`, "https://api.example.com/x", "~"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := auth.Route{Name: "r", Upstreams: []string{"http://up"}, Policy: auth.PolicyAPIKey, Scopes: []string{s}}
		routeErr := r.Normalize()
		held, keyErr := apikey.NormalizeScopes([]string{s})
		if (routeErr == nil) != (keyErr == nil) {
			t.Fatalf("scope %q: route error %v, key error %v", s, routeErr, keyErr)
		}
		if routeErr == nil && (len(held) != 1 || held[0] != r.Scopes[0]) {
			t.Fatalf("scope %q: route keeps %q, key %q", s, r.Scopes, held)
		}
	})
}
