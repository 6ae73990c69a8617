package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// keyEndpoint imitates Gatehouse's POST /v1/keys/verify: it answers each
// key with the code the test gave it.
type keyEndpoint struct {
	srv   *httptest.Server
	mu    sync.Mutex
	codes map[string]string // key -> code
	calls int
	last  map[string]any // the last request body
}

func newKeyEndpoint(t *testing.T) *keyEndpoint {
	t.Helper()
	e := &keyEndpoint{codes: map[string]string{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/keys/verify" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request line", http.StatusNotFound)
			return
		}
		var req struct {
			Key    string   `json:"key"`
			Scopes []string `json:"scopes"`
		}
		var raw map[string]any
		body := new(bytes.Buffer)
		_, _ = body.ReadFrom(r.Body)
		_ = json.Unmarshal(body.Bytes(), &raw)
		if err := json.Unmarshal(body.Bytes(), &req); err != nil || req.Key == "" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":400}`))
			return
		}
		e.mu.Lock()
		e.calls++
		e.last = raw
		code, ok := e.codes[req.Key]
		e.mu.Unlock()
		if !ok {
			code = "INVALID"
		}
		scopes := []string{"read", "write"}
		if code == "VALID" && !hasAll(scopes, req.Scopes) {
			code = "INSUFFICIENT_SCOPE"
		}
		ans := map[string]any{"valid": code == "VALID", "code": code}
		if code == "VALID_METERED" {
			code = "VALID"
			ans = map[string]any{"valid": true, "code": code, "credits": map[string]any{"remaining": 5}}
		}
		if code != "INVALID" {
			ans["key_id"] = "key-1"
			ans["environment"] = "test"
			ans["owner"] = "team-a"
			ans["scopes"] = scopes
			ans["expires_at"] = "2026-11-27T13:00:00Z"
		}
		switch code {
		case "RATE_LIMITED":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case "BROKEN":
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *keyEndpoint) set(key, code string) {
	e.mu.Lock()
	e.codes[key] = code
	e.mu.Unlock()
}

func (e *keyEndpoint) callCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

func newKeyVerifier(t *testing.T, e *keyEndpoint, clk *testClock, edit func(*APIKeyConfig)) *APIKeyVerifier {
	t.Helper()
	cfg := APIKeyConfig{Endpoint: e.srv.URL, Now: clk.Now}
	if edit != nil {
		edit(&cfg)
	}
	a, err := NewAPIKeyVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAPIKeyCodes(t *testing.T) {
	t.Parallel()
	e := newKeyEndpoint(t)
	for key, code := range map[string]string{
		"gh_valid": "VALID", "gh_expired": "EXPIRED", "gh_revoked": "REVOKED",
		"gh_limited": "RATE_LIMITED", "gh_broken": "BROKEN", "gh_odd": "SOMETHING_NEW",
	} {
		e.set(key, code)
	}
	a := newKeyVerifier(t, e, newClock(), func(c *APIKeyConfig) { c.CacheTTL = -1 })
	tests := []struct {
		key    string
		scopes []string
		want   Reason
	}{
		{"gh_valid", []string{"read"}, ""},
		{"gh_valid", []string{"read", "admin"}, ReasonInsufficientScope},
		{"gh_unknown", nil, ReasonMalformed},
		{"gh_expired", nil, ReasonExpired},
		{"gh_revoked", nil, ReasonRevoked},
		{"gh_limited", nil, ReasonRateLimited},
		{"gh_broken", nil, ReasonKeysUnavailable},
		{"gh_odd", nil, ReasonKeysUnavailable},
		{"", nil, ReasonMissing},
		{string(make([]byte, MaxAPIKeySize+1)), nil, ReasonMalformed},
	}
	for _, tt := range tests {
		info, err := a.Verify(context.Background(), tt.key, tt.scopes)
		if got := ReasonOf(err); got != tt.want {
			t.Errorf("%.20q %v: reason %q, want %q (%v)", tt.key, tt.scopes, got, tt.want, err)
			continue
		}
		if tt.want == "" {
			want := KeyInfo{KeyID: "key-1", Owner: "team-a", Environment: "test", Scopes: []string{"read", "write"}, ExpiresAt: time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)}
			if info.KeyID != want.KeyID || info.Owner != want.Owner || info.Environment != want.Environment || !slices.Equal(info.Scopes, want.Scopes) || !info.ExpiresAt.Equal(want.ExpiresAt) {
				t.Errorf("info = %+v", info)
			}
		}
	}
	if e.callCount() != 8 {
		t.Errorf("%d calls, want 8: an empty or oversized key must not be sent", e.callCount())
	}
	// The rate limit's Retry-After reaches the response.
	_, err := a.Verify(context.Background(), "gh_limited", nil)
	rec := httptest.NewRecorder()
	WriteError(rec, "api", err, nil)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "7" {
		t.Errorf("429 answer: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestAPIKeyCache(t *testing.T) {
	t.Parallel()
	e := newKeyEndpoint(t)
	e.set("gh_valid", "VALID")
	clk := newClock()
	a := newKeyVerifier(t, e, clk, nil)
	ctx := context.Background()

	if _, err := a.Verify(ctx, "gh_valid", []string{"read"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.last["scopes"].([]any); len(got) != 1 || got[0] != "read" {
		t.Errorf("the request's scopes = %v", e.last["scopes"])
	}
	// A hit: no second call, and scopes are checked against the cached key.
	if _, err := a.Verify(ctx, "gh_valid", []string{"write"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, "gh_valid", []string{"admin"}); ReasonOf(err) != ReasonInsufficientScope {
		t.Fatalf("a scope the cached key lacks: %v", err)
	}
	if n := e.callCount(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
	// The cache is keyed by the key's SHA-256.
	if _, ok := a.cache.get(sha256.Sum256([]byte("gh_valid")), clk.Now()); !ok {
		t.Error("no entry under the key's SHA-256")
	}
	// Revoked at Gatehouse: still accepted within the TTL, refused after.
	e.set("gh_valid", "REVOKED")
	clk.Advance(9 * time.Second)
	if _, err := a.Verify(ctx, "gh_valid", nil); err != nil {
		t.Fatalf("within the TTL: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := a.Verify(ctx, "gh_valid", nil); ReasonOf(err) != ReasonRevoked {
		t.Fatalf("after the TTL: %v", err)
	}
	if n := e.callCount(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
	// Refusals are not cached.
	if _, err := a.Verify(ctx, "gh_valid", nil); ReasonOf(err) != ReasonRevoked {
		t.Fatal(err)
	}
	if n := e.callCount(); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
}

func TestAPIKeyCacheNeverOutlivesTheKey(t *testing.T) {
	t.Parallel()
	e := newKeyEndpoint(t)
	e.set("gh_valid", "VALID")
	clk := newClock() // 12:00; the key expires at 13:00
	clk.Advance(time.Hour - 5*time.Second)
	a := newKeyVerifier(t, e, clk, func(c *APIKeyConfig) { c.CacheTTL = time.Minute })
	if _, err := a.Verify(context.Background(), "gh_valid", nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	e.set("gh_valid", "EXPIRED")
	if _, err := a.Verify(context.Background(), "gh_valid", nil); ReasonOf(err) != ReasonExpired {
		t.Fatalf("past the key's expiry: %v", err)
	}
}

func TestAPIKeyEndpointDown(t *testing.T) {
	t.Parallel()
	e := newKeyEndpoint(t)
	e.srv.Close()
	a := newKeyVerifier(t, e, newClock(), nil)
	if _, err := a.Verify(context.Background(), "gh_valid", nil); ReasonOf(err) != ReasonKeysUnavailable {
		t.Fatalf("endpoint down: %v", err)
	}
	if _, err := NewAPIKeyVerifier(APIKeyConfig{Endpoint: "http://gatehouse.example"}); err == nil {
		t.Error("an http endpoint off loopback was accepted")
	}
	if _, err := NewAPIKeyVerifier(APIKeyConfig{}); err == nil {
		t.Error("no endpoint was accepted")
	}
}

func TestAPIKeyMiddleware(t *testing.T) {
	t.Parallel()
	e := newKeyEndpoint(t)
	e.set("gh_valid", "VALID")
	e.set("gh_limited", "RATE_LIMITED")
	a := newKeyVerifier(t, e, newClock(), nil)
	var seen *KeyInfo
	h := a.Middleware("read")(RequireScopes("write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = KeyFromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})))
	tests := []struct {
		name       string
		keys       []string
		status     int
		challenge  string
		retryAfter string
	}{
		{"valid key", []string{"gh_valid"}, http.StatusNoContent, "", ""},
		{"no key", nil, http.StatusUnauthorized, `APIKey realm="api"`, ""},
		{"unknown key", []string{"gh_nope"}, http.StatusUnauthorized, `APIKey realm="api"`, ""},
		{"two keys", []string{"gh_valid", "gh_valid"}, http.StatusUnauthorized, `APIKey realm="api"`, ""},
		{"rate limited", []string{"gh_limited"}, http.StatusTooManyRequests, "", "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, k := range tt.keys {
				r.Header.Add("X-API-Key", k)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if tt.status == http.StatusNoContent {
				if rec.Code != tt.status || seen == nil || seen.Owner != "team-a" {
					t.Fatalf("status %d, key %+v", rec.Code, seen)
				}
				return
			}
			checkRefusal(t, rec, tt.status, tt.challenge, tt.retryAfter)
		})
	}
	t.Run("scope required downstream", func(t *testing.T) {
		h := a.Middleware()(RequireScopes("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Error("the handler ran")
		})))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", "gh_valid")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		checkRefusal(t, rec, http.StatusForbidden, `APIKey realm="api"`, "")
	})
}

// TestAPIKeyCreditsAndNetworks: the codes of keys with credits and allowed
// networks, and a valid answer for a key with credits is never cached, so
// that each request spends its credit at Gatehouse.
func TestAPIKeyCreditsAndNetworks(t *testing.T) {
	t.Parallel()
	e := newKeyEndpoint(t)
	e.set("gh_spent", "USAGE_EXCEEDED")
	e.set("gh_far", "IP_NOT_ALLOWED")
	e.set("gh_metered", "VALID_METERED")
	a := newKeyVerifier(t, e, newClock(), nil)
	ctx := context.Background()
	for key, want := range map[string]Reason{"gh_spent": ReasonUsageExceeded, "gh_far": ReasonIPNotAllowed} {
		_, err := a.Verify(ctx, key, nil)
		if got := ReasonOf(err); got != want {
			t.Errorf("%s: reason %q, want %q", key, got, want)
		}
		rec := httptest.NewRecorder()
		WriteError(rec, "api", err, nil)
		if status := refusalFor(want).kind.Status; rec.Code != status || rec.Header().Get("Retry-After") != "" {
			t.Errorf("%s: answered %d, Retry-After %q; want %d without", key, rec.Code, rec.Header().Get("Retry-After"), status)
		}
	}
	for range 3 {
		if _, err := a.Verify(ctx, "gh_metered", nil); err != nil {
			t.Fatalf("metered key: %v", err)
		}
	}
	if n := e.callCount(); n != 5 {
		t.Fatalf("%d calls, want 5: answers for keys with credits must not be cached", n)
	}
}
