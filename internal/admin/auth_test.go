package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestAdminAuthentication(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()

	_, noAdmin := env.createKey(t, apikey.CreateParams{Owner: "svc", Scopes: []string{"read"}})
	_, expiring := env.createKey(t, apikey.CreateParams{Owner: "ops", Scopes: []string{ScopeAdmin}, ExpiresAt: testStart.Add(time.Hour)})
	revokedKey, revoked := env.createKey(t, apikey.CreateParams{Owner: "ops", Scopes: []string{ScopeAdmin}})
	if _, err := env.keys.Revoke(ctx, revokedKey.ID, auth.ActorSystem); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	_, limited := env.createKey(t, apikey.CreateParams{Owner: "ops", Scopes: []string{ScopeAdmin}, RateLimit: auth.RateLimit{Rate: 0.01, Burst: 1}})
	unknown, err := apikey.Generate(testPrefix)
	if err != nil {
		t.Fatal(err)
	}
	env.clock.Add(2 * time.Hour) // past the expiring key's end

	tests := []struct {
		name   string
		header http.Header
		status int
	}{
		{"no key is 401", nil, http.StatusUnauthorized},
		{"an empty bearer is 401", http.Header{"Authorization": {"Bearer "}}, http.StatusUnauthorized},
		{"another auth scheme is 401", http.Header{"Authorization": {"Basic " + env.adminKey}}, http.StatusUnauthorized},
		{"garbage is 401", http.Header{"X-Api-Key": {"not a key"}}, http.StatusUnauthorized},
		{"a truncated key is 401", http.Header{"X-Api-Key": {env.adminKey[:len(env.adminKey)-1]}}, http.StatusUnauthorized},
		{"a key with a bad checksum is 401", http.Header{"X-Api-Key": {flipLast(env.adminKey)}}, http.StatusUnauthorized},
		{"a well-formed unknown key is 401", http.Header{"X-Api-Key": {unknown}}, http.StatusUnauthorized},
		{"an expired admin key is 401", http.Header{"X-Api-Key": {expiring}}, http.StatusUnauthorized},
		{"a revoked admin key is 401", http.Header{"X-Api-Key": {revoked}}, http.StatusUnauthorized},
		{"two X-API-Key headers are 401", http.Header{"X-Api-Key": {env.adminKey, env.adminKey}}, http.StatusUnauthorized},
		{"a key without the admin scope is 403", http.Header{"X-Api-Key": {noAdmin}}, http.StatusForbidden},
		{"the admin key in X-API-Key is 200", http.Header{"X-Api-Key": {env.adminKey}}, http.StatusOK},
		{"the admin key as a bearer token is 200", http.Header{"Authorization": {"Bearer " + env.adminKey}}, http.StatusOK},
		{"a lower-case bearer scheme is 200", http.Header{"Authorization": {"bearer " + env.adminKey}}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := env.do(t, http.MethodGet, "/admin/v1/keys", "", nil, tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			challenge := resp.Header.Get("WWW-Authenticate")
			if tt.status == http.StatusUnauthorized && challenge != `Bearer realm="gatehouse"` {
				t.Errorf("WWW-Authenticate = %q", challenge)
			}
			if tt.status != http.StatusUnauthorized && challenge != "" {
				t.Errorf("WWW-Authenticate = %q on a %d", challenge, tt.status)
			}
			if tt.status >= 400 {
				assertProblem(t, resp, body, tt.status)
			}
		})
	}

	t.Run("the client reports the codes", func(t *testing.T) {
		_, err := env.clientWithKey("").ListKeys(ctx, ListKeysParams{})
		assertCode(t, err, auth.EUNAUTHORIZED, http.StatusUnauthorized)
		_, err = env.clientWithKey(noAdmin).ListKeys(ctx, ListKeysParams{})
		assertCode(t, err, auth.EFORBIDDEN, http.StatusForbidden)
	})

	t.Run("a key over its limit is 429 with Retry-After and RateLimit headers", func(t *testing.T) {
		h := http.Header{"X-Api-Key": {limited}}
		resp, body := env.do(t, http.MethodGet, "/admin/v1/keys", "", nil, h)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first request: %d %s", resp.StatusCode, body)
		}
		if resp.Header.Get("RateLimit-Limit") != "1" || resp.Header.Get("RateLimit-Remaining") != "0" {
			t.Errorf("RateLimit headers on 200: limit %q remaining %q", resp.Header.Get("RateLimit-Limit"), resp.Header.Get("RateLimit-Remaining"))
		}
		resp, body = env.do(t, http.MethodGet, "/admin/v1/keys", "", nil, h)
		assertProblem(t, resp, body, http.StatusTooManyRequests)
		assertRateLimited(t, resp.Header)

		_, err := env.clientWithKey(limited).ListKeys(ctx, ListKeysParams{})
		assertCode(t, err, auth.ERATELIMITED, http.StatusTooManyRequests)
		var pe *ProblemError
		if errors.As(err, &pe) && pe.RetryAfter < time.Second {
			t.Errorf("ProblemError.RetryAfter = %v, want at least 1s", pe.RetryAfter)
		}
	})

	t.Run("a refused admin call stores nothing", func(t *testing.T) {
		before := env.allKeyIDs(t)
		_, err := env.clientWithKey(noAdmin).CreateKey(ctx, CreateKeyRequest{Owner: "x"})
		assertCode(t, err, auth.EFORBIDDEN, http.StatusForbidden)
		if after := env.allKeyIDs(t); len(after) != len(before) {
			t.Errorf("keys before %d, after %d", len(before), len(after))
		}
	})

	t.Run("a 1 MB credential header is refused with a 4xx", func(t *testing.T) {
		for _, size := range []int{1 << 20, 300 << 10} {
			h := http.Header{"X-Api-Key": {strings.Repeat("a", size)}}
			resp, body := env.do(t, http.MethodGet, "/admin/v1/keys", "", nil, h)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("%d-byte header: status %d, body %.200s", size, resp.StatusCode, body)
			}
		}
	})

	env.assertNoSecretLogged(t)
}

func TestVerifyEndpoint(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()

	validKey, valid := env.createKey(t, apikey.CreateParams{Owner: "orders", Scopes: []string{"orders:read", "orders:write"}, ExpiresAt: testStart.Add(48 * time.Hour)})
	expiredKey, expired := env.createKey(t, apikey.CreateParams{Owner: "orders", ExpiresAt: testStart.Add(time.Hour)})
	revokedKey, revoked := env.createKey(t, apikey.CreateParams{Owner: "orders"})
	if _, err := env.keys.Revoke(ctx, revokedKey.ID, auth.ActorSystem); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	limitedKey, limited := env.createKey(t, apikey.CreateParams{Owner: "orders", RateLimit: auth.RateLimit{Rate: 0.5, Burst: 2}})
	unknown, err := apikey.Generate(testPrefix)
	if err != nil {
		t.Fatal(err)
	}
	otherPrefix, err := apikey.Generate("sk_live_")
	if err != nil {
		t.Fatal(err)
	}
	env.clock.Add(2 * time.Hour)

	tests := []struct {
		name   string
		req    VerifyRequest
		status int
		code   apikey.Code
		keyID  string // "" when the key members must be absent
	}{
		{"a valid key", VerifyRequest{Key: valid}, 200, apikey.CodeValid, validKey.ID},
		{"a valid key holding the scopes", VerifyRequest{Key: valid, Scopes: []string{"orders:read"}}, 200, apikey.CodeValid, validKey.ID},
		{"a valid key missing a scope", VerifyRequest{Key: valid, Scopes: []string{"orders:read", "admin"}}, 200, apikey.CodeInsufficientScope, validKey.ID},
		{"an expired key", VerifyRequest{Key: expired}, 200, apikey.CodeExpired, expiredKey.ID},
		{"a revoked key", VerifyRequest{Key: revoked}, 200, apikey.CodeRevoked, revokedKey.ID},
		{"an unknown well-formed key", VerifyRequest{Key: unknown}, 200, apikey.CodeInvalid, ""},
		{"a key of another environment", VerifyRequest{Key: otherPrefix}, 200, apikey.CodeInvalid, ""},
		{"a truncated key", VerifyRequest{Key: valid[:len(valid)-3]}, 200, apikey.CodeInvalid, ""},
		{"a key with one character changed", VerifyRequest{Key: flipLast(valid)}, 200, apikey.CodeInvalid, ""},
		{"a key with a trailing space", VerifyRequest{Key: valid + " "}, 200, apikey.CodeInvalid, ""},
		{"garbage", VerifyRequest{Key: "hello"}, 200, apikey.CodeInvalid, ""},
		{"a SQL-looking key", VerifyRequest{Key: "' OR '1'='1"}, 200, apikey.CodeInvalid, ""},
		{"odd Unicode", VerifyRequest{Key: "sk_test_\u202e\u0000🔑"}, 200, apikey.CodeInvalid, ""},
		{"a 60 KB key", VerifyRequest{Key: strings.Repeat("k", 60<<10)}, 200, apikey.CodeInvalid, ""},
		{"a limited key within its burst", VerifyRequest{Key: limited}, 200, apikey.CodeValid, limitedKey.ID},
		{"a limited key at its burst", VerifyRequest{Key: limited}, 200, apikey.CodeValid, limitedKey.ID},
		{"a limited key over its burst", VerifyRequest{Key: limited}, 429, apikey.CodeRateLimited, limitedKey.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			resp, data := env.do(t, http.MethodPost, "/v1/keys/verify", "application/json", strings.NewReader(string(body)), nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, data)
			}
			var got map[string]any
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("body %s: %v", data, err)
			}
			if got["code"] != string(tt.code) || got["valid"] != (tt.code == apikey.CodeValid) {
				t.Errorf("code, valid = %v, %v; want %s", got["code"], got["valid"], tt.code)
			}
			if tt.keyID == "" {
				for _, m := range []string{"key_id", "owner", "scopes", "expires_at", "ratelimit"} {
					if _, ok := got[m]; ok {
						t.Errorf("member %q present for an unknown key: %s", m, data)
					}
				}
			} else if got["key_id"] != tt.keyID || got["owner"] != "orders" {
				t.Errorf("key_id, owner = %v, %v; want %s, orders", got["key_id"], got["owner"], tt.keyID)
			}
			if tt.status == http.StatusTooManyRequests {
				assertRateLimited(t, resp.Header)
			}
		})
	}

	t.Run("rate limit figures on a 200", func(t *testing.T) {
		env.clock.Add(time.Minute) // refill
		res, err := env.client.VerifyKey(ctx, VerifyRequest{Key: limited})
		if err != nil {
			t.Fatal(err)
		}
		want := RateLimitSummary{Limit: 2, Remaining: 1, Reset: 2} // one token back in 2s at 0.5/s
		if res.RateLimit == nil || *res.RateLimit != want {
			t.Errorf("ratelimit = %+v, want %+v", res.RateLimit, want)
		}
		resp, _ := env.do(t, http.MethodPost, "/v1/keys/verify", "application/json", strings.NewReader(`{"key":"`+limited+`"}`), nil)
		if h := resp.Header; h.Get("RateLimit-Limit") != "2" || h.Get("RateLimit-Remaining") != "0" || h.Get("RateLimit-Reset") == "" || h.Get("Retry-After") != "" {
			t.Errorf("headers: %v", h)
		}
	})

	t.Run("the client returns RATE_LIMITED as an answer, not an error", func(t *testing.T) {
		res, err := env.client.VerifyKey(ctx, VerifyRequest{Key: limited})
		if err != nil {
			t.Fatalf("VerifyKey: %v", err)
		}
		if res.Valid || res.Code != string(apikey.CodeRateLimited) {
			t.Errorf("VerifyKey = %+v", res)
		}
	})

	t.Run("expires_at is reported", func(t *testing.T) {
		res, err := env.client.VerifyKey(ctx, VerifyRequest{Key: valid})
		if err != nil {
			t.Fatal(err)
		}
		if !res.ExpiresAt.Equal(testStart.Add(48*time.Hour)) || len(res.Scopes) != 2 {
			t.Errorf("VerifyKey = %+v", res)
		}
	})

	t.Run("a missing key is a 400, not an answer", func(t *testing.T) {
		_, err := env.client.VerifyKey(ctx, VerifyRequest{})
		assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
	})

	env.assertNoSecretLogged(t)
}

// flipLast changes the last character of a key, breaking its checksum.
func flipLast(key string) string {
	last := key[len(key)-1]
	if last == 'a' {
		last = 'b'
	} else {
		last = 'a'
	}
	return key[:len(key)-1] + string(last)
}

// assertRateLimited checks the headers of a 429.
func assertRateLimited(t *testing.T, h http.Header) {
	t.Helper()
	if h.Get("Retry-After") == "" || h.Get("Retry-After") == "0" {
		t.Errorf("Retry-After = %q, want at least 1", h.Get("Retry-After"))
	}
	for _, name := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if h.Get(name) == "" {
			t.Errorf("%s missing on a 429", name)
		}
	}
	if h.Get("RateLimit-Remaining") != "0" {
		t.Errorf("RateLimit-Remaining = %q on a 429", h.Get("RateLimit-Remaining"))
	}
}

// assertProblem checks that a response is an RFC 9457 problem with status.
func assertProblem(t *testing.T, resp *http.Response, body []byte, status int) Problem {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	if p.Status != status || p.Title == "" || !strings.HasPrefix(p.Type, problemTypePrefix) {
		t.Errorf("problem = %+v", p)
	}
	return p
}
