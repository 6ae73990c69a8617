package ratelimit

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Limiter takes one token from the bucket of key, which refills at l.Rate
// per second up to l.Burst, at time now; an unlimited l always allows
// (Limit 0). Keys are opaque to callers: any byte string is a valid key.
//
// Every implementation reports the same Decision for the same sequence of
// calls, so the RateLimit-* headers do not depend on the backend.
type Limiter interface {
	Allow(ctx context.Context, key string, l auth.RateLimit, now time.Time) (Decision, error)
}

// Local adapts Buckets to Limiter, for a single node. Its Allow never fails.
type Local struct{ Buckets *Buckets }

// Allow implements Limiter.
func (lo Local) Allow(_ context.Context, key string, l auth.RateLimit, now time.Time) (Decision, error) {
	return lo.Buckets.Allow(key, l, now), nil
}

var (
	_ Limiter = Local{}
	_ Limiter = (*Redis)(nil)
)
