package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// countingStore counts the store reads that verification makes.
type countingStore struct {
	auth.APIKeyStore
	reads atomic.Int64
}

func (c *countingStore) GetAPIKeyByHash(ctx context.Context, hash []byte) (*auth.APIKey, error) {
	c.reads.Add(1)
	return c.APIKeyStore.GetAPIKeyByHash(ctx, hash)
}

// TestVerifyFloodFromOneSourceIsCutOff is the attack: one address sends
// fresh, well-formed random keys, each of which the caches cannot answer.
// Past the burst it gets 429 with Retry-After, and its requests no longer
// reach the store; other addresses are not affected.
func TestVerifyFloodFromOneSourceIsCutOff(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	store := &countingStore{APIKeyStore: env.db}
	keys, err := apikey.NewService(apikey.Config{Store: store, Audit: env.db, Secret: []byte(strings.Repeat("s", apikey.MinSecretLength)),
		Prefix: testPrefix, Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Keys: keys, Audit: env.db, Now: env.clock.Now, VerifyLimit: auth.RateLimit{Rate: 1, Burst: 5},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	verify := func(remote, forwardedFor string) *httptest.ResponseRecorder {
		key, err := apikey.Generate(testPrefix)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodPost, "/v1/keys/verify", strings.NewReader(`{"key":"`+key+`"}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = remote
		if forwardedFor != "" {
			r.Header.Set("X-Forwarded-For", forwardedFor)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	for i := range 5 {
		if w := verify("203.0.113.7:4000", ""); w.Code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, w.Code, w.Body)
		}
	}
	readsBefore := store.reads.Load()
	for range 50 {
		w := verify("203.0.113.7:4001", "")
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" ||
			!strings.Contains(w.Body.String(), "urn:gatehouse:problem:rate_limited") {
			t.Fatalf("flood past the burst: %d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	if n := store.reads.Load() - readsBefore; n != 0 {
		t.Errorf("refused requests read the store %d times", n)
	}

	// Another address has its own bucket; an untrusted peer cannot claim
	// to be someone else, but a trusted proxy's forwarded client counts.
	if w := verify("203.0.113.8:4000", ""); w.Code != http.StatusOK {
		t.Errorf("another address: %d", w.Code)
	}
	if w := verify("203.0.113.7:4002", "198.51.100.1"); w.Code != http.StatusTooManyRequests {
		t.Errorf("X-Forwarded-For from an untrusted peer was believed: %d", w.Code)
	}
	for range 5 {
		if w := verify("10.1.2.3:4000", "203.0.113.9"); w.Code != http.StatusOK {
			t.Fatalf("a client behind a trusted proxy: %d", w.Code)
		}
	}
	if w := verify("10.1.2.3:4000", "203.0.113.9"); w.Code != http.StatusTooManyRequests {
		t.Errorf("the forwarded client's own bucket was not used: %d", w.Code)
	}
	if w := verify("10.1.2.3:4000", "203.0.113.10"); w.Code != http.StatusOK {
		t.Errorf("another client behind the same proxy was refused: %d", w.Code)
	}

	// One IPv6 host holds a /64: fresh addresses in it share the bucket.
	for i := range 5 {
		if w := verify("[2001:db8:1:2::"+string(rune('a'+i))+"]:4000", ""); w.Code != http.StatusOK {
			t.Fatalf("IPv6 request %d: %d", i, w.Code)
		}
	}
	if w := verify("[2001:db8:1:2:ffff::1]:4000", ""); w.Code != http.StatusTooManyRequests {
		t.Errorf("a new address in the same /64 got a new bucket: %d", w.Code)
	}

	// The bucket refills.
	env.clock.Add(3e9)
	if w := verify("203.0.113.7:4003", ""); w.Code != http.StatusOK {
		t.Errorf("after refilling: %d", w.Code)
	}
}

// The secret-scanning endpoint is public too: its unsigned reports count
// against the same per-source limit.
func TestSecretScanningSharesTheSourceLimit(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	srv, err := NewServer(Config{Keys: env.keys, Audit: env.db, Now: env.clock.Now, VerifyLimit: auth.RateLimit{Rate: 1, Burst: 1}})
	if err != nil {
		t.Fatal(err)
	}
	post := func() int {
		r := httptest.NewRequest(http.MethodPost, "/v1/secret-scanning", strings.NewReader(`[]`))
		r.RemoteAddr = "203.0.113.7:4000"
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		return w.Code
	}
	if code := post(); code != http.StatusNotFound { // scanning is off on this server
		t.Fatalf("first report: %d", code)
	}
	if code := post(); code != http.StatusTooManyRequests {
		t.Errorf("second report past the burst: %d", code)
	}
}
