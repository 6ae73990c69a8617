// Package ratelimit limits how often a credential may be used.
//
// Buckets keeps one token bucket per credential ID in process memory, built
// on golang.org/x/time/rate. Redis shares buckets between nodes (GCRA in a
// Lua script), leasing tokens in batches so that a busy key far from its
// limit costs no round trip (a key a node sees less than about once per
// lease lifetime, 100 ms to 1 s by the key's rate, gets single-token
// leases: a round trip per request), and falls back to each node's share of a limit while
// Redis fails (docs/rate-limits.md). Every method takes the time from its
// caller, so the services that use it inject their clock and tests never
// sleep.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Decision is the outcome of one Allow call, with what the RateLimit-*
// response headers need.
type Decision struct {
	Allowed bool
	// Limit is the bucket size (Burst); 0 when the credential has no limit.
	Limit int
	// Remaining is the number of whole tokens left after this request.
	Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// RetryAfter is how long until one request can pass; 0 when Allowed.
	RetryAfter time.Duration
}

const (
	// numShards spreads the buckets over independent locks, so requests
	// for different credentials rarely wait for each other. A power of two.
	numShards = 64

	// sweepEvery is how often (in the callers' time) a shard drops its
	// idle buckets on its own, so memory stays bounded without a janitor.
	sweepEvery = time.Minute
)

// Buckets holds one token bucket per credential ID. The zero value is ready
// to use; a Buckets must not be copied after first use. It is safe for
// concurrent use.
//
// A bucket that has refilled completely behaves exactly like a new one, so
// such buckets are dropped (on Sweep, and by each shard once a minute):
// memory is bounded by the credentials used within one refill period.
type Buckets struct {
	shards [numShards]shard
}

type shard struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
	// Padding keeps neighbouring shards' locks off one cache line, so cores
	// working on different keys do not bounce it between them.
	_ [64]byte
}

type bucket struct {
	limit auth.RateLimit
	lim   *rate.Limiter
}

// Allow takes one token from the bucket of id, which refills at l.Rate per
// second up to l.Burst, at time now. A limit that differs from the one the
// bucket was made with replaces the bucket by a full one. An unlimited l
// (see auth.RateLimit.Unlimited) always allows and reports Limit 0.
func (b *Buckets) Allow(id string, l auth.RateLimit, now time.Time) Decision {
	return b.allow(id, l, now, -1)
}

// allow is Allow, with the tokens a bucket it makes starts with: seed, if
// it is from 0 to l.Burst; a full bucket otherwise. (Redis's fallback
// seeds the bucket from the shared one as last seen, so that losing Redis
// does not hand every node a fresh burst.)
func (b *Buckets) allow(id string, l auth.RateLimit, now time.Time, seed float64) Decision {
	if l.Unlimited() {
		return Decision{Allowed: true}
	}
	sh := &b.shards[shardOf(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()

	if sh.buckets == nil {
		sh.buckets = make(map[string]*bucket)
		sh.lastSweep = now
	}
	if now.Sub(sh.lastSweep) >= sweepEvery {
		sh.sweep(now)
	}
	bk := sh.buckets[id]
	if bk == nil || bk.limit != l {
		bk = &bucket{limit: l, lim: rate.NewLimiter(rate.Limit(l.Rate), l.Burst)}
		if seed >= 0 && seed < float64(l.Burst) {
			// Empty at the instant from which the rate refills seed.
			bk.lim.ReserveN(now.Add(-durationFor(seed, l.Rate)), l.Burst)
		}
		sh.buckets[id] = bk
	}

	d := Decision{Limit: l.Burst}
	d.Allowed = bk.lim.AllowN(now, 1)
	tokens := bk.lim.TokensAt(now)
	if tokens > 0 {
		d.Remaining = int(math.Floor(tokens))
	}
	d.Reset = durationFor(float64(l.Burst)-tokens, l.Rate)
	if !d.Allowed {
		d.RetryAfter = retryAfter(bk.lim, tokens, l.Rate, now)
	}
	return d
}

// Sweep drops every bucket that is full at now (and so is indistinguishable
// from a new one) and returns how many it dropped.
func (b *Buckets) Sweep(now time.Time) int {
	n := 0
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		n += sh.sweep(now)
		sh.mu.Unlock()
	}
	return n
}

// Len returns the number of buckets held.
func (b *Buckets) Len() int {
	n := 0
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		n += len(sh.buckets)
		sh.mu.Unlock()
	}
	return n
}

// sweep requires sh.mu.
func (sh *shard) sweep(now time.Time) int {
	sh.lastSweep = now
	n := 0
	for id, bk := range sh.buckets {
		if bk.lim.TokensAt(now) >= float64(bk.limit.Burst) {
			delete(sh.buckets, id)
			n++
		}
	}
	return n
}

// retryAfter is the time until the bucket holds one token. It is rounded up,
// and checked against the limiter itself, so that a client that waits
// exactly this long is never refused again by floating-point rounding.
func retryAfter(lim *rate.Limiter, tokens, perSecond float64, now time.Time) time.Duration {
	d := durationFor(1-tokens, perSecond)
	for step := time.Nanosecond; lim.TokensAt(now.Add(d)) < 1 && step <= time.Millisecond; step *= 10 {
		d += step
	}
	return d
}

// durationFor is how long it takes to gain tokens at perSecond, rounded up
// to the nanosecond; 0 when there is nothing to gain.
func durationFor(tokens, perSecond float64) time.Duration {
	if tokens <= 0 || perSecond <= 0 {
		return 0
	}
	ns := math.Ceil(tokens / perSecond * float64(time.Second))
	if ns >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ns)
}

// shardOf hashes id with FNV-1a. IDs are generated by the server, not chosen
// by clients, so a keyed hash (against flooding one shard) is not needed.
func shardOf(id string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return h & (numShards - 1)
}
