package verify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// Close waits for every fetch it started, the unknown-kid refetches
// included, and no fetch starts after it: a program that closes its
// Verifier is left with no goroutine of it and sends no more requests to
// the issuer.
func TestCloseWaitsForRefetchesAndStartsNoMore(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k1, k2 := newECKey(t, "k1"), newECKey(t, "k2")
	is := newIssuer(t, k1)
	v := newVerifier(t, is, clk, nil)
	is.mu.Lock()
	is.hang = make(chan struct{}) // never closed: only Close's cancel ends the fetch
	is.mu.Unlock()
	clk.Advance(time.Minute)
	// The caller waits for the refetch until the test has seen it start,
	// then gives up (a fixed short deadline lost the race on a loaded
	// machine: the caller gave up before starting it).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	token := mint(t, k2, claimsAt(is, clk))
	go func() {
		_, err := v.Verify(ctx, token)
		errc <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	v.fetchMu.Lock()
	c := v.inflight
	v.fetchMu.Unlock()
	for c == nil {
		if time.Now().After(deadline) {
			t.Fatal("no refetch in flight")
		}
		time.Sleep(time.Millisecond)
		v.fetchMu.Lock()
		c = v.inflight
		v.fetchMu.Unlock()
	}
	cancel()
	if err := <-errc; ReasonOf(err) != ReasonUnknownKID {
		t.Fatalf("while the refetch hangs: %v", err)
	}
	v.Close()
	select {
	case <-c.done:
	default:
		t.Fatal("Close returned while a refetch it started was still running")
	}
	before := v.fetches.Load()
	clk.Advance(time.Minute)
	if _, err := v.Verify(context.Background(), mint(t, k2, claimsAt(is, clk))); ReasonOf(err) != ReasonUnknownKID {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := v.Verify(context.Background(), mint(t, k1, claimsAt(is, clk))); err != nil {
		t.Fatalf("a known kid after Close: %v", err)
	}
	v.fetchMu.Lock()
	c = v.inflight
	v.fetchMu.Unlock()
	if c != nil || v.fetches.Load() != before {
		t.Fatal("an unknown kid started a fetch after Close")
	}
}

// A Verify that read the key set just before a fetch installed a new one
// (a refresh, or another caller's refetch) and finds its kid missing must
// look in the new set rather than fail with unknown_kid because the
// refetch throttle forbids another fetch.
func TestUnknownKIDLooksInASetInstalledMeanwhile(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k1, k2 := newECKey(t, "k1"), newECKey(t, "k2")
	is := newIssuer(t, k1)
	v := newVerifier(t, is, clk, nil)
	waitIdle(t, v)
	stale := v.keySet()
	is.setKeys(k1, k2)
	if err := fetchNow(v); err != nil { // lastFetch is now: no refetch allowed
		t.Fatal(err)
	}
	hits := is.jwksHits.Load()
	c, _, err := v.verifyToken(context.Background(), mint(t, k2, claimsAt(is, clk)), stale)
	if err != nil {
		t.Fatalf("a kid of the set installed meanwhile: %v", err)
	}
	if c.claims.KeyID != "k2" || is.jwksHits.Load() != hits {
		t.Fatalf("kid %q, %d more fetches", c.claims.KeyID, is.jwksHits.Load()-hits)
	}
}

// While no key set has ever loaded, every request is answered 503: a
// failed fetch is then retried at least every MinRefetchInterval, not
// after a backoff growing to RefreshInterval (5 minutes by default) — a
// service that starts before its issuer must not stay unavailable for
// minutes after the issuer comes up.
func TestNoKeysYetRetriesAtLeastEveryMinRefetchInterval(t *testing.T) {
	t.Parallel()
	is := newIssuer(t, newECKey(t, "k1"))
	var failures atomic.Int64
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// 25 failures: with a backoff doubling from 1ms uncapped, the 25th
		// retry would come after about 9 hours.
		if failures.Add(1) <= 25 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, is.srv.URL+"/jwks", http.StatusFound)
	}))
	defer keys.Close()
	v, err := newTuned(Config{AnyAudience: true, Issuer: is.srv.URL, JWKSURI: keys.URL, RefreshInterval: 24 * time.Hour, MinRefetchInterval: 10 * time.Millisecond},
		tuning{retryBase: time.Millisecond, fetchTimeout: defaultFetchTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("no key set after %d failed fetches: %v", failures.Load(), err)
	}
}

// A fetch is bounded even when the HTTP client is not: with a client of
// the caller's own without a Timeout, an issuer that accepts a connection
// and never answers used to hold the one fetch in flight forever, so the
// key set never loaded (or never refreshed) and no unknown-kid refetch
// could start.
func TestAFetchThatNeverAnswersIsAbandoned(t *testing.T) {
	t.Parallel()
	is := newIssuer(t, newECKey(t, "k1"))
	var calls atomic.Int64
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-r.Context().Done() // never answers; ends when the client gives up
			return
		}
		http.Redirect(w, r, is.srv.URL+"/jwks", http.StatusFound)
	}))
	defer keys.Close()
	v, err := newTuned(Config{AnyAudience: true, Issuer: is.srv.URL, JWKSURI: keys.URL, HTTPClient: &http.Client{}, MinRefetchInterval: 10 * time.Millisecond},
		tuning{retryBase: time.Millisecond, fetchTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("after %d fetches: %v", calls.Load(), err)
	}
}
