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
