package verify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestKeysUnavailableBeforeFirstFetch(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	is.hang = make(chan struct{})
	v, err := New(Config{AnyAudience: true, Issuer: is.srv.URL, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tok := mint(t, k, claimsAt(is, clk))
	// The issuer hangs until told otherwise: a Verify that waited for the
	// first fetch would never return.
	if _, err := v.Verify(context.Background(), tok); ReasonOf(err) != ReasonKeysUnavailable {
		t.Fatalf("before the first fetch: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := v.Ready(ctx); err == nil {
		t.Fatal("Ready returned before any key set loaded")
	}
	is.mu.Lock()
	close(is.hang)
	is.hang = nil
	is.mu.Unlock()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := v.Ready(ctx2); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

func TestCloseStopsAHangingFetch(t *testing.T) {
	t.Parallel()
	is := newIssuer(t, newECKey(t, "k1"))
	is.hang = make(chan struct{}) // never closed
	v, err := New(Config{AnyAudience: true, Issuer: is.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { v.Close(); v.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}

// fetchNow runs a fetch (or joins the one in flight) and returns its error.
func fetchNow(v *Verifier) error {
	c := v.startFetch()
	<-c.done
	return c.err
}

// waitIdle waits until no fetch is in flight: Ready can return while the
// fetch that installed the first key set is still finishing, and a
// fetchNow then would join that fetch instead of starting its own.
func waitIdle(t *testing.T, v *Verifier) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v.fetchMu.Lock()
		busy := v.inflight != nil
		v.fetchMu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a fetch never finished")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFetchFailures(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "k1")
	tests := []struct {
		name    string
		edit    func(is *testIssuer)
		wantErr string
	}{
		{"discovery names another issuer", func(is *testIssuer) { is.metaIssuer = "https://evil.example" }, "issuer"},
		{"jwks_uri over http off loopback", func(is *testIssuer) { is.jwksURI = "http://keys.example/jwks" }, "only https"},
		{"oversized JWKS", func(is *testIssuer) {
			is.jwksBody = []byte(`{"keys":[],"pad":"` + strings.Repeat("a", maxDocumentSize) + `"}`)
		}, "exceeds"},
		{"JWKS that does not parse", func(is *testIssuer) { is.jwksBody = []byte(`{"keys":[{"kty":"EC"}]}`) }, "JWK Set"},
		{"JWKS not JSON", func(is *testIssuer) { is.jwksBody = []byte(`<html>`) }, "JWK Set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			is := newIssuer(t, k)
			tt.edit(is)
			v, err := New(Config{AnyAudience: true, Issuer: is.srv.URL, RefreshInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			err = fetchNow(v)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("fetch error = %v, want one about %q", err, tt.wantErr)
			}
			if _, err := v.Verify(context.Background(), "a.b.c"); ReasonOf(err) != ReasonKeysUnavailable {
				t.Fatalf("Verify = %v, want keys_unavailable", err)
			}
		})
	}
}

func TestFailedRefreshKeepsKeysAndRetriesSooner(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, nil)
	waitIdle(t, v)
	is.mu.Lock()
	is.jwksBody = []byte(`not json`)
	is.mu.Unlock()
	if err := fetchNow(v); err == nil {
		t.Fatal("the broken refresh succeeded")
	}
	if _, err := v.Verify(context.Background(), mint(t, k, claimsAt(is, clk))); err != nil {
		t.Fatalf("after a failed refresh: %v", err)
	}

	// A first fetch that fails is retried long before RefreshInterval.
	var mu sync.Mutex
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.jwk()}})
	}))
	defer srv.Close()
	v2, err := New(Config{AnyAudience: true, Issuer: "https://issuer.example", JWKSURI: srv.URL, RefreshInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := v2.Ready(ctx); err != nil {
		t.Fatalf("no retry after a failed first fetch: %v", err)
	}
}

func TestLocalJWKS(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k1, k2 := newECKey(t, "k1"), newECKey(t, "k2")
	var mu sync.Mutex
	doc, version := []byte(`{"keys":[]}`), "v0"
	set := func(d []byte, ver string) {
		mu.Lock()
		doc, version = d, ver
		mu.Unlock()
	}
	jwks := func(keys ...signingKey) []byte {
		var s jose.JSONWebKeySet
		for _, k := range keys {
			s.Keys = append(s.Keys, k.jwk())
		}
		return []byte(mustJSON(t, s))
	}
	const iss = "https://gatehouse.example"
	v, err := New(Config{AnyAudience: true, Issuer: iss, Now: clk.Now, JWKS: func() ([]byte, string) {
		mu.Lock()
		defer mu.Unlock()
		return doc, version
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	claims := map[string]any{"iss": iss, "exp": clk.Now().Unix() + 60, "jti": "j"}
	tok1, tok2 := mint(t, k1, claims), mint(t, k2, claims)

	if _, err := v.Verify(context.Background(), tok1); ReasonOf(err) != ReasonKeysUnavailable {
		t.Fatalf("with an empty set: %v", err)
	}
	set(jwks(k1, k2), "v1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{tok1, tok2} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	set([]byte(`garbage`), "v2")
	if _, err := v.Verify(context.Background(), tok1); err != nil {
		t.Fatalf("a broken document dropped the previous set: %v", err)
	}
	set(jwks(k2), "v3") // k1 removed
	if _, err := v.Verify(context.Background(), tok1); ReasonOf(err) != ReasonUnknownKID {
		t.Fatalf("cached token of a removed key: %v", err)
	}
	if _, err := v.Verify(context.Background(), tok2); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKIDWaitIsBoundedByContext(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k1, k2 := newECKey(t, "k1"), newECKey(t, "k2")
	is := newIssuer(t, k1)
	v := newVerifier(t, is, clk, nil)
	is.mu.Lock()
	is.hang = make(chan struct{})
	is.mu.Unlock()
	defer func() {
		is.mu.Lock()
		close(is.hang)
		is.mu.Unlock()
	}()
	clk.Advance(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := v.Verify(ctx, mint(t, k2, claimsAt(is, clk))); ReasonOf(err) != ReasonUnknownKID {
		t.Fatalf("while the refetch hangs: %v", err)
	}
	// Known kids do not wait for the refetch.
	if _, err := v.Verify(context.Background(), mint(t, k1, claimsAt(is, clk))); err != nil {
		t.Fatal(err)
	}
}

func TestBackgroundRefresh(t *testing.T) {
	t.Parallel()
	clk := newClock() // never advanced: only the background refresh can fetch
	k1, k2 := newECKey(t, "k1"), newECKey(t, "k2")
	is := newIssuer(t, k1)
	v := newVerifier(t, is, clk, func(c *Config) { c.RefreshInterval = 20 * time.Millisecond })
	is.setKeys(k2)
	tok := mint(t, k2, claimsAt(is, clk))
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := v.Verify(context.Background(), tok)
		if err == nil {
			break
		}
		if ReasonOf(err) != ReasonUnknownKID || time.Now().After(deadline) {
			t.Fatalf("the rotated key was not picked up: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := v.Verify(context.Background(), mint(t, k1, claimsAt(is, clk))); ReasonOf(err) != ReasonUnknownKID {
		t.Fatalf("the removed key still verifies: %v", err)
	}
}
