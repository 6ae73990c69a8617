package verify

import (
	"context"
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := v.Verify(ctx, mint(t, k2, claimsAt(is, clk))); ReasonOf(err) != ReasonUnknownKID {
		t.Fatalf("while the refetch hangs: %v", err)
	}
	v.fetchMu.Lock()
	c := v.inflight
	v.fetchMu.Unlock()
	if c == nil {
		t.Fatal("no refetch in flight")
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
