package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

const (
	challengeMissing = `Bearer realm="gatehouse"`
	challengeInvalid = `Bearer realm="gatehouse", error="invalid_token"`
)

func TestPublicRouteForwardsWithoutIdentity(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("open", "/open", auth.PolicyPublic))

	resp := e.do("GET", "/open/x?q=1",
		"Authorization", "Bearer something-of-the-upstream",
		"X-API-Key", "sk_test_whatever",
		"X-Gatehouse-Subject", "admin",
		"x-gatehouse-auth", "jwt",
		"X-GATEHOUSE-KEY-ID", "key_1",
		"X-Gatehouse-Scopes", "admin")
	got := echoOf(t, resp)
	if got.Path != "/open/x" || got.RawQuery != "q=1" {
		t.Errorf("upstream got %s?%s, want /open/x?q=1", got.Path, got.RawQuery)
	}
	if a := got.Header.Get("Authorization"); a != "Bearer something-of-the-upstream" {
		t.Errorf("Authorization = %q, want it forwarded untouched on a public route", a)
	}
	if k := got.Header.Get("X-API-Key"); k != "" {
		t.Errorf("X-API-Key forwarded on a public route: %q", k)
	}
	for name := range got.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-gatehouse-") {
			t.Errorf("spoofed header %s reached the upstream: %q", name, got.Header[name])
		}
	}
}

func TestSpoofedIdentityHeadersAreReplaced(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("keys", "/", auth.PolicyAPIKey))
	k, plain := e.createKey("billing", []string{"a", "b"}, auth.RateLimit{})
	got := echoOf(t, e.do("GET", "/x", "X-API-Key", plain,
		"x-gatehouse-subject", "root", "X-Gatehouse-Client", "root", "X-GATEHOUSE-FOO", "bar"))
	want := map[string]string{
		HeaderAuth: "api_key", HeaderSubject: "billing", HeaderClient: "billing",
		HeaderScopes: "a b", HeaderKeyID: k.ID,
	}
	for name, v := range want {
		if vals := got.Header.Values(name); len(vals) != 1 || vals[0] != v {
			t.Errorf("%s = %q, want exactly %q", name, vals, v)
		}
	}
	if v := got.Header.Get("X-Gatehouse-Foo"); v != "" {
		t.Errorf("X-Gatehouse-Foo reached the upstream: %q", v)
	}
}

func TestRouteStripHeaders(t *testing.T) {
	e := newTestEnv(t)
	r := e.route("open", "/", auth.PolicyPublic)
	r.StripHeaders = []string{"x-user-id"}
	e.setRoutes(r)
	got := echoOf(t, e.do("GET", "/", "X-User-Id", "42", "X-Other", "kept"))
	if got.Header.Get("X-User-Id") != "" || got.Header.Get("X-Other") != "kept" {
		t.Errorf("headers at the upstream: %v", got.Header)
	}
}

// apiKeyNeverForwarded checks that key appears nowhere in what the
// upstream saw.
func apiKeyNeverForwarded(t *testing.T, got echo, key string) {
	t.Helper()
	for name, vals := range got.Header {
		for _, v := range vals {
			if strings.Contains(v, key) {
				t.Errorf("the API key reached the upstream in %s", name)
			}
		}
	}
	if strings.Contains(got.RawQuery, key) || strings.Contains(got.Path, key) || strings.Contains(got.Body, key) {
		t.Error("the API key reached the upstream in the URL or body")
	}
}

func TestAPIKeyPolicy(t *testing.T) {
	e := newTestEnv(t)
	r := e.route("orders", "/orders", auth.PolicyAPIKey)
	r.Scopes = []string{"orders:read"}
	e.setRoutes(r)
	good, goodKey := e.createKey("shop", []string{"orders:read", "orders:write"}, auth.RateLimit{})
	_, weakKey := e.createKey("shop", []string{"other"}, auth.RateLimit{})
	_, limitedKey := e.createKey("busy", []string{"orders:read"}, auth.RateLimit{Rate: 1, Burst: 2})

	t.Run("valid in X-API-Key", func(t *testing.T) {
		got := echoOf(t, e.do("GET", "/orders/1", "X-API-Key", goodKey))
		apiKeyNeverForwarded(t, got, goodKey)
		if got.Header.Get(HeaderKeyID) != good.ID || got.Header.Get(HeaderAuth) != "api_key" {
			t.Errorf("identity headers: %v", got.Header)
		}
	})
	t.Run("valid in Authorization is not forwarded", func(t *testing.T) {
		got := echoOf(t, e.do("GET", "/orders/1", "Authorization", "Bearer "+goodKey))
		apiKeyNeverForwarded(t, got, goodKey)
		if got.Header.Get("Authorization") != "" {
			t.Errorf("Authorization forwarded: %q", got.Header.Get("Authorization"))
		}
	})
	t.Run("a second key in Authorization is not forwarded either", func(t *testing.T) {
		got := echoOf(t, e.do("GET", "/orders/1", "X-API-Key", goodKey, "Authorization", "Bearer "+weakKey))
		apiKeyNeverForwarded(t, got, goodKey)
		apiKeyNeverForwarded(t, got, weakKey)
	})
	t.Run("Connection cannot strip the identity", func(t *testing.T) {
		got := echoOf(t, e.do("GET", "/orders/1", "X-API-Key", goodKey,
			"Connection", "X-Gatehouse-Subject, x-gatehouse-key-id", "Connection", "X-Request-Id, X-Custom", "X-Custom", "hop"))
		if got.Header.Get(HeaderSubject) != "shop" || got.Header.Get(HeaderKeyID) != good.ID || got.Header.Get(HeaderRequestID) == "" {
			t.Errorf("identity headers after a hostile Connection header: %v", got.Header)
		}
		if got.Header.Get("X-Custom") != "" {
			t.Error("a header the client named in Connection was forwarded")
		}
	})
	refusals := []struct {
		name      string
		headers   []string
		status    int
		challenge string
		reason    string
	}{
		{"missing", nil, 401, challengeMissing, "missing"},
		{"malformed: two keys", []string{"X-API-Key", goodKey, "X-API-Key", goodKey}, 401, challengeInvalid, "malformed"},
		{"unknown key", []string{"X-API-Key", testPrefix + strings.Repeat("A", 38)}, 401, challengeInvalid, "invalid_key"},
		{"not a key", []string{"X-API-Key", "hello"}, 401, challengeInvalid, "invalid_key"},
		{"insufficient scope", []string{"X-API-Key", weakKey}, 403, `Bearer realm="gatehouse", error="insufficient_scope", scope="orders:read"`, "insufficient_scope"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			before := e.upstream.count()
			resp := e.do("GET", "/orders/1", tc.headers...)
			wantStatus(t, resp, tc.status)
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if e.upstream.count() != before {
				t.Error("a refused request reached the upstream")
			}
			if n := value(t, e.gw.metrics.refusals.WithLabelValues("orders", tc.reason)); n < 1 {
				t.Errorf("refusals{orders,%s} = %v", tc.reason, n)
			}
		})
	}
	t.Run("key rate limit", func(t *testing.T) {
		for range 2 {
			echoOf(t, e.do("GET", "/orders", "X-API-Key", limitedKey))
		}
		resp := e.do("GET", "/orders", "X-API-Key", limitedKey)
		wantStatus(t, resp, http.StatusTooManyRequests)
		if resp.Header.Get("Retry-After") != "1" || resp.Header.Get("RateLimit-Limit") != "2" || resp.Header.Get("RateLimit-Remaining") != "0" {
			t.Errorf("429 headers: %v", resp.Header)
		}
		e.clock.Add(time.Second)
		echoOf(t, e.do("GET", "/orders", "X-API-Key", limitedKey))
	})
	t.Run("expired", func(t *testing.T) {
		k, plain, err := e.keys.Create(context.Background(), apikey.CreateParams{
			Owner: "temp", Name: "t", Scopes: []string{"orders:read"}, ExpiresAt: e.clock.Now().Add(time.Minute), Actor: auth.ActorSystem,
		})
		if err != nil {
			t.Fatal(err)
		}
		echoOf(t, e.do("GET", "/orders", "X-API-Key", plain))
		e.clock.Add(2 * time.Minute)
		resp := e.do("GET", "/orders", "X-API-Key", plain)
		wantStatus(t, resp, http.StatusUnauthorized)
		if n := value(t, e.gw.metrics.refusals.WithLabelValues("orders", "expired")); n != 1 {
			t.Errorf("refusals{orders,expired} = %v (key %s)", n, k.ID)
		}
	})
	t.Run("revoked: the next request is refused", func(t *testing.T) {
		k, plain := e.createKey("gone", []string{"orders:read"}, auth.RateLimit{})
		echoOf(t, e.do("GET", "/orders", "X-API-Key", plain)) // now cached
		if _, err := e.keys.Revoke(context.Background(), k.ID, auth.ActorSystem); err != nil {
			t.Fatal(err)
		}
		resp := e.do("GET", "/orders", "X-API-Key", plain)
		wantStatus(t, resp, http.StatusUnauthorized)
		if n := value(t, e.gw.metrics.refusals.WithLabelValues("orders", "revoked")); n != 1 {
			t.Errorf("refusals{orders,revoked} = %v, want 1", n)
		}
	})
	t.Run("access log holds no key", func(t *testing.T) {
		logs := e.logs.String()
		for _, k := range []string{goodKey, weakKey, limitedKey} {
			if strings.Contains(logs, k) {
				t.Fatal("an API key was logged")
			}
		}
		if !strings.Contains(logs, `"key_id":"`+good.ID+`"`) {
			t.Error("the access log does not name the key id")
		}
	})
}

func TestJWTPolicy(t *testing.T) {
	e := newTestEnv(t)
	r := e.route("users", "/users", auth.PolicyJWT)
	r.Scopes = []string{"users:read"}
	r.Audience, r.AnyAudience = "users-api", false
	e.setRoutes(r)

	valid := tokenClaims{Sub: "alice", ClientID: "app", Scope: "users:read profile", Aud: []string{"users-api"}}
	t.Run("valid", func(t *testing.T) {
		tok := e.token(valid)
		got := echoOf(t, e.do("GET", "/users/me", "Authorization", "Bearer "+tok))
		for name, v := range map[string]string{HeaderAuth: "jwt", HeaderSubject: "alice", HeaderClient: "app", HeaderScopes: "users:read profile", HeaderKeyID: ""} {
			if got.Header.Get(name) != v {
				t.Errorf("%s = %q, want %q", name, got.Header.Get(name), v)
			}
		}
		if got.Header.Get("Authorization") != "Bearer "+tok {
			t.Error("the caller's JWT was not forwarded (the route has no internal_jwt)")
		}
	})

	forged := func() string {
		tok := e.token(valid)
		parts := strings.Split(tok, ".")
		sig := []byte(parts[2])
		if sig[5] == 'A' {
			sig[5] = 'B'
		} else {
			sig[5] = 'A'
		}
		return parts[0] + "." + parts[1] + "." + string(sig)
	}
	otherIssuer := valid
	otherIssuer.Issuer = "https://evil.example.test"
	wrongAud := valid
	wrongAud.Aud = []string{"other-api"}
	noScope := valid
	noScope.Scope = "profile"
	cases := []struct {
		name      string
		authz     string
		status    int
		challenge string
		reason    string
	}{
		{"missing", "", 401, challengeMissing, "missing"},
		{"malformed", "Bearer not.a.jwt", 401, challengeInvalid, "malformed"},
		{"basic scheme", "Basic YTpi", 401, "", ""},
		{"forged signature", "Bearer " + forged(), 401, challengeInvalid, "bad_signature"},
		{"wrong issuer", "Bearer " + e.token(otherIssuer), 401, challengeInvalid, "wrong_issuer"},
		{"wrong audience", "Bearer " + e.token(wrongAud), 401, challengeInvalid, "wrong_audience"},
		{"insufficient scope", "Bearer " + e.token(noScope), 403, `Bearer realm="gatehouse", error="insufficient_scope", scope="users:read"`, "insufficient_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.authz != "" {
				h = []string{"Authorization", tc.authz}
			}
			resp := e.do("GET", "/users/me", h...)
			wantStatus(t, resp, tc.status)
			if tc.challenge != "" {
				if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
				}
			}
			if tc.reason != "" {
				if n := value(t, e.gw.metrics.refusals.WithLabelValues("users", tc.reason)); n != 1 {
					t.Errorf("refusals{users,%s} = %v, want 1", tc.reason, n)
				}
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		c := valid
		c.TTL = time.Minute
		tok := e.token(c)
		echoOf(t, e.do("GET", "/users", "Authorization", "Bearer "+tok))
		e.clock.Add(2 * time.Minute) // past exp and the 30s leeway
		wantStatus(t, e.do("GET", "/users", "Authorization", "Bearer "+tok), 401)
	})
	t.Run("revoked jti is refused on the next request, though cached", func(t *testing.T) {
		c := valid
		c.JTI = "revoke-me"
		tok := e.token(c)
		echoOf(t, e.do("GET", "/users", "Authorization", "Bearer "+tok))
		e.mu.Lock()
		e.revoked["revoke-me"] = true
		e.mu.Unlock()
		wantStatus(t, e.do("GET", "/users", "Authorization", "Bearer "+tok), 401)
	})
	t.Run("deleted client", func(t *testing.T) {
		c := valid
		c.ClientID = "deleted-app"
		tok := e.token(c)
		echoOf(t, e.do("GET", "/users", "Authorization", "Bearer "+tok))
		e.mu.Lock()
		e.inactive["deleted-app"] = true
		e.mu.Unlock()
		before := value(t, e.gw.metrics.refusals.WithLabelValues("users", "revoked"))
		resp := e.do("GET", "/users", "Authorization", "Bearer "+tok)
		wantStatus(t, resp, 401)
		if resp.Header.Get("WWW-Authenticate") != challengeInvalid {
			t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
		}
		if n := value(t, e.gw.metrics.refusals.WithLabelValues("users", "revoked")); n != before+1 {
			t.Errorf("refusals{users,revoked} went from %v to %v", before, n)
		}
	})
	t.Run("client check failing is 503, not 401", func(t *testing.T) {
		tok := e.token(valid)
		e.mu.Lock()
		e.clientErr = errors.New("store down")
		e.mu.Unlock()
		defer func() { e.mu.Lock(); e.clientErr = nil; e.mu.Unlock() }()
		wantStatus(t, e.do("GET", "/users", "Authorization", "Bearer "+tok), http.StatusServiceUnavailable)
	})
	t.Run("no token in the logs", func(t *testing.T) {
		if strings.Contains(e.logs.String(), "eyJ") {
			t.Error("a JWT was logged")
		}
	})
}

func TestAnyPolicy(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("both", "/", auth.PolicyAny))
	k, key := e.createKey("svc", nil, auth.RateLimit{})

	got := echoOf(t, e.do("GET", "/", "X-API-Key", key))
	if got.Header.Get(HeaderAuth) != "api_key" || got.Header.Get(HeaderKeyID) != k.ID {
		t.Errorf("X-API-Key: identity %v", got.Header)
	}
	apiKeyNeverForwarded(t, got, key)

	got = echoOf(t, e.do("GET", "/", "Authorization", "Bearer "+key))
	if got.Header.Get(HeaderAuth) != "api_key" {
		t.Errorf("Bearer API key: auth %q", got.Header.Get(HeaderAuth))
	}
	apiKeyNeverForwarded(t, got, key)

	tok := e.token(tokenClaims{Sub: "bob", ClientID: "app", Scope: "x"})
	got = echoOf(t, e.do("GET", "/", "Authorization", "Bearer "+tok))
	if got.Header.Get(HeaderAuth) != "jwt" || got.Header.Get(HeaderSubject) != "bob" {
		t.Errorf("Bearer JWT: identity %v", got.Header)
	}

	for _, h := range [][]string{nil, {"Authorization", "Bearer opaque-thing"}, {"Authorization", "Basic YTpi"}} {
		resp := e.do("GET", "/", h...)
		wantStatus(t, resp, http.StatusUnauthorized)
		if got := resp.Header.Get("WWW-Authenticate"); got != challengeMissing {
			t.Errorf("%v: WWW-Authenticate = %q, want %q (no error code, RFC 6750 §3.1)", h, got, challengeMissing)
		}
	}
}

func TestHeaderAPIKeyIsCanonical(t *testing.T) {
	if headerAPIKey != http.CanonicalHeaderKey(apikey.HeaderAPIKey) {
		t.Fatalf("headerAPIKey %q is not the canonical form of %q", headerAPIKey, apikey.HeaderAPIKey)
	}
}
