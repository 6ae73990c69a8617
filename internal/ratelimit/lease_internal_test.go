package ratelimit

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The level a fallback bucket starts from leaves out the tokens this node
// still holds in a lease: the node spends those from the lease while Redis
// is gone, so counting them in the seed too would let them pass twice.
func TestLeaseSeenLeavesHeldTokensOut(t *testing.T) {
	var ls leases
	l := auth.RateLimit{Rate: 1, Burst: 100}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Redis granted 8 tokens (one for the request, 7 leased): the shared
	// bucket is full 8 s from now, so it holds 92.
	var d Decision
	ls.update("k", l, now, 8, 8e9, &d, time.Hour)
	tokens, ok := ls.seen("k", l, now)
	if !ok || tokens != 92 {
		t.Fatalf("seen = %v, %v; want 92 (the bucket's level, without the 7 tokens held), true", tokens, ok)
	}
	if _, _, spent := ls.spend("k", l, now, 64); !spent {
		t.Fatal("the lease was not spent")
	}
}
