package ratelimit

import (
	"math"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// leases holds, per key, the tokens this node leased from a Redis bucket
// and what Redis last said about that bucket. Like Buckets it is sharded,
// and each shard drops what it no longer needs once a minute, so memory is
// bounded by the keys used within a minute. Spending a lease takes a lock
// and no allocation.
type leases struct {
	shards [numShards]leaseShard
}

type leaseShard struct {
	mu        sync.Mutex
	m         map[string]*lease
	lastSweep time.Time
	// Padding keeps neighbouring shards' locks off one cache line.
	_ [64]byte
}

// lease is one key's state on this node. Times are the callers' (Unix ns).
type lease struct {
	limit  auth.RateLimit
	tokens int   // leased and not spent yet
	size   int   // tokens taken by the last grant
	used   int   // spent since the last grant, its own request included
	until  int64 // tokens are not spent from this time on
	fullAt int64 // when the Redis bucket is full, as of the last answer
	// deniedUntil is when a token can next be in the bucket after Redis
	// refused: before it, the node refuses on its own.
	deniedUntil int64
}

// spend decides key's request from what this node holds, if it can: a
// leased token, or a refusal Redis made that still stands. Otherwise it
// returns how many tokens to ask Redis for: the lease doubles while the
// node spends its leases in time, and shrinks to what was spent when one
// expires unspent.
func (ls *leases) spend(key string, l auth.RateLimit, now time.Time, maxLease int) (Decision, int, bool) {
	sh := &ls.shards[shardOf(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	le := sh.m[key]
	if le == nil || le.limit != l {
		return Decision{}, 1, false
	}
	t := now.UnixNano()
	switch {
	case le.tokens > 0 && t < le.until:
		le.tokens--
		le.used++
		return le.decision(true, t), 0, true
	case t < le.deniedUntil:
		return le.decision(false, t), 0, true
	}
	want := max(le.size, 1)
	switch {
	case le.tokens > 0: // expired unspent: ask for what was spent
		want = max(le.used, 1)
		le.tokens = 0
	case t < le.until && le.size > 0: // spent in time: ask for more
		want = 2 * le.size
	}
	return Decision{}, min(want, maxLease), false
}

// seen returns the tokens key's shared bucket holds at now, from Redis's
// last answer to this node; false when this node has no answer for key
// under l. The tokens this node still holds in a lease are left out: it
// keeps spending them while Redis is gone, so counting them in the bucket
// as well would let them pass twice.
func (ls *leases) seen(key string, l auth.RateLimit, now time.Time) (float64, bool) {
	sh := &ls.shards[shardOf(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	le := sh.m[key]
	if le == nil || le.limit != l {
		return 0, false
	}
	tokens := float64(l.Burst) - float64(max(le.fullAt-now.UnixNano(), 0))*l.Rate/1e9
	return min(max(tokens, 0), float64(l.Burst)), true
}

// update records Redis's answer for key: n tokens taken (one for the
// request, the others leased until now+ttl), or none (refused until d's
// RetryAfter), with the bucket full ahead ns from now. It adds the tokens
// the node holds to d (see heldDecision).
func (ls *leases) update(key string, l auth.RateLimit, now time.Time, n int, ahead float64, d *Decision, ttl time.Duration) {
	sh := &ls.shards[shardOf(key)]
	t := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[string]*lease)
		sh.lastSweep = now
	}
	if now.Sub(sh.lastSweep) >= sweepEvery {
		sh.sweep(t)
		sh.lastSweep = now
	}
	le := sh.m[key]
	if le == nil || le.limit != l {
		le = &lease{limit: l}
		sh.m[key] = le
	}
	le.fullAt = t + int64(ceilNanos(ahead))
	if t >= le.until {
		le.tokens = 0
	}
	if n == 0 {
		le.deniedUntil = t + int64(d.RetryAfter)
	} else {
		// Tokens another request leased meanwhile stay: they were taken
		// from the bucket as well.
		le.deniedUntil = 0
		le.tokens += n - 1
		le.size, le.used = n, 1
		le.until = t + int64(ttl)
	}
	if n > 0 && le.tokens > 0 {
		*d = heldDecision(l, ahead, le.tokens)
	}
}

// decision is what the node answers from its own state at t.
func (le *lease) decision(allowed bool, t int64) Decision {
	if !allowed {
		d := heldDecision(le.limit, float64(max(le.fullAt-t, 0)), 0)
		d.Allowed, d.Remaining = false, 0
		d.RetryAfter = time.Duration(le.deniedUntil - t)
		return d
	}
	return heldDecision(le.limit, float64(max(le.fullAt-t, 0)), le.tokens)
}

// heldDecision is an admission's Decision when the bucket in Redis is full
// ahead ns from now and this node holds tokens leased from it: those count
// as the bucket's, in Remaining and Reset alike, so the headers are those
// of one bucket whatever the node holds.
func heldDecision(l auth.RateLimit, ahead float64, held int) Decision {
	period := 1e9 / l.Rate
	ahead = max(ahead-float64(held)*period, 0)
	d := Decision{Allowed: true, Limit: l.Burst, Reset: ceilNanos(ahead)}
	if tokens := float64(l.Burst) - ahead/period; tokens > 0 {
		d.Remaining = int(math.Floor(tokens))
	}
	return d
}

// sweep drops the leases that hold nothing any more at t; sh.mu is held.
func (sh *leaseShard) sweep(t int64) {
	for k, le := range sh.m {
		if t >= le.until && t >= le.deniedUntil {
			delete(sh.m, k)
		}
	}
}
