package changes

import (
	"errors"
	"math"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// A cache is only as fresh as what it hears of other nodes' changes. A
// cache that follows a feed answers from an entry only while the watcher
// vouches for its feed: until auth.FeedMaxAge after the at of the last
// FeedSynced, and never after a FeedLost until the next FeedSynced. Past
// that, every lookup reads the store (a cached entry is a miss), so a
// record changed on another node is honoured here within auth.FeedMaxAge
// whatever happened to the feed, and a node that can reach neither feed
// nor store answers with the store's error instead of a possibly stale
// answer. Once the watcher has reconnected and reported what changed
// meanwhile (which drops those records from the cache), its FeedSynced
// makes the cache trusted again: entries that survived the replay are
// current.
//
// That window is measured on the monotonic clock, never on the wall clock
// (an injected Now, which checks expiry): a wall clock stepped back (NTP,
// an administrator) or a test clock must not stretch it. until is its end
// in nanoseconds since base, a time.Now reading taken when the Trust was
// made, and the at of FeedSynced is placed on it by at.Sub, which uses
// both monotonic readings (see auth.ChangeHandler). An at without one
// (rounded, converted or decoded) is compared by wall clock instead; it is
// capped at the moment Synced is called, so such an at can shorten the
// window but never carry it past FeedMaxAge from then.
//
// The hot path pays one atomic load for this and, with a feed, one read of
// the monotonic clock.

// Values of until that no clock reading reaches.
const (
	trustNever  = math.MinInt64 // before the first Synced, after Lost
	trustAlways = math.MaxInt64 // no feed to depend on
)

// Trust says whether a cache that follows a change feed may answer from
// memory now. Its methods are safe for concurrent use.
type Trust struct {
	until atomic.Int64
	// synced is the at of the last Synced on the same scale as until
	// (trustNever before the first), from which a StoreOutage's grace is
	// measured; graced says that until was set by one.
	synced atomic.Int64
	graced atomic.Bool
	base   time.Time                     // time.Now when the Trust was made
	since  func(time.Time) time.Duration // time.Since; tests replace it
}

// NewTrust returns the Trust of a cache: one that depends on a feed
// (following) is trusted from the feed's first Synced on; one that does
// not (a single node, whose changes all go through it) always.
func NewTrust(following bool) *Trust {
	t := &Trust{base: time.Now(), since: time.Since}
	t.synced.Store(trustNever)
	if following {
		t.until.Store(trustNever)
	} else {
		t.until.Store(trustAlways)
	}
	return t
}

// Following reports whether the cache depends on a feed.
func (t *Trust) Following() bool { return t.until.Load() != trustAlways }

// Trusted reports whether a cached entry may answer now.
func (t *Trust) Trusted() bool {
	until := t.until.Load()
	return until == trustAlways || int64(t.since(t.base)) < until
}

// remaining returns how long the cache stays trusted from now: zero or less
// if it is not trusted now.
func (t *Trust) remaining() time.Duration {
	switch until := t.until.Load(); until {
	case trustAlways:
		return math.MaxInt64
	case trustNever:
		return 0
	default:
		return time.Duration(until) - t.since(t.base)
	}
}

// Synced trusts the cache until auth.FeedMaxAge after at (see
// auth.ChangeHandler.FeedSynced), on the monotonic clock; an at later than
// now counts as now. A Trust that follows no feed stays trusted.
func (t *Trust) Synced(at time.Time) {
	if !t.Following() {
		return
	}
	sent := min(at.Sub(t.base), t.since(t.base))
	t.synced.Store(int64(sent))
	t.graced.Store(false)
	t.until.Store(int64(sent + auth.FeedMaxAge))
}

// Lost stops trusting the cache until the next Synced, unless err is a
// *StoreOutage with a positive grace: then the cache stays trusted until
// FeedMaxAge plus the grace after the last Synced (see StoreOutage). A
// loss for another reason ends a grace, and a cache that was distrusted
// for another reason is not trusted again by an outage. Repeated outages
// (each failed reconnection) do not stretch the grace: it is measured from
// the last Synced. A Trust that follows no feed stays trusted.
func (t *Trust) Lost(err error) {
	if !t.Following() {
		return
	}
	var o *StoreOutage
	synced := t.synced.Load()
	if errors.As(err, &o) && o.Grace > 0 && synced != trustNever && t.until.Load() != trustNever {
		t.graced.Store(true)
		t.until.Store(synced + int64(auth.FeedMaxAge+o.Grace))
		return
	}
	t.graced.Store(false)
	t.until.Store(trustNever)
}

// Graced reports whether the cache is trusted now only by a store outage
// grace: the feed was lost to an unreachable database and the grace has
// not run out.
func (t *Trust) Graced() bool { return t.graced.Load() && t.Trusted() }

// SetMonotonic makes now the clock on which the Trust measures how long
// the last Synced vouches (by default the monotonic clock, through
// time.Now and time.Since). Tests set it before the first Synced.
func (t *Trust) SetMonotonic(now func() time.Time) {
	t.base = now()
	t.since = func(x time.Time) time.Duration { return now().Sub(x) }
}
