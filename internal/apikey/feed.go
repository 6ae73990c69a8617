package apikey

import (
	"log/slog"
	"math"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// A node's cache is only as fresh as what it hears of other nodes' changes.
// With a store that reports them (auth.KeyChangeWatcher), the service
// answers from a cached entry only while the watcher vouches for its feed:
// until auth.KeyFeedMaxAge after the at of the last FeedSynced, and never
// after a FeedLost until the next FeedSynced. Past that, every verification
// reads the store (a cached entry is a miss), so a key revoked on another
// node is refused here within auth.KeyFeedMaxAge whatever happened to the
// feed, and a node that can reach neither feed nor store answers with the
// store's error (503) instead of a possibly stale VALID. Once the watcher
// has reconnected and reported what changed meanwhile (which drops those
// keys from the cache), its FeedSynced makes the cache trusted again:
// entries that survived the replay are current.
//
// That window is measured on the monotonic clock, never on the wall clock
// (the service's Now, which checks expiry): a wall clock stepped back (NTP,
// an administrator) or a test clock must not stretch it. trustUntil is its
// end in nanoseconds since monoBase, a time.Now reading taken when the
// service was made, and the at of FeedSynced is placed on it by at.Sub,
// which uses both monotonic readings (see auth.KeyChangeHandler). An at
// without one (rounded, converted or decoded) is compared by wall clock
// instead; it is capped at the moment FeedSynced is called, so such an at
// can shorten the window but never carry it past KeyFeedMaxAge from then.
//
// Without such a store trustUntil is trustAlways: every change goes through
// this service, which drops the key from its cache itself.
//
// The hot path pays one atomic load for this and, with a feed, one read of
// the monotonic clock.

// Values of trustUntil that no clock reading reaches.
const (
	trustNever  = math.MinInt64 // before the first FeedSynced, after FeedLost
	trustAlways = math.MaxInt64 // no feed to depend on
)

// watchesChanges reports whether the service's cache depends on a change
// feed, which Run follows.
func (s *Service) watchesChanges() bool {
	_, ok := s.store.(auth.KeyChangeWatcher)
	return ok && s.cache != nil
}

// cacheTrusted reports whether a cached entry may answer now.
func (s *Service) cacheTrusted() bool {
	until := s.trustUntil.Load()
	return until == trustAlways || int64(s.since(s.monoBase)) < until
}

// initTrust sets the state before Run's watcher first reports.
func (s *Service) initTrust() {
	if s.watchesChanges() {
		s.trustUntil.Store(trustNever) // until the watcher first vouches for its feed
	} else {
		s.trustUntil.Store(trustAlways)
	}
}

// keyFeed is the auth.KeyChangeHandler through which Run's watcher reports
// to the service. Its methods are called one at a time (the contract), so
// lost needs no lock.
type keyFeed struct {
	s    *Service
	lost bool // whether the last report was FeedLost, for logging transitions only
}

var _ auth.KeyChangeHandler = (*keyFeed)(nil)

// KeyChanged drops the key from the cache.
func (f *keyFeed) KeyChanged(id string) { f.s.Invalidate(id) }

// FeedSynced trusts the cache until auth.KeyFeedMaxAge after at, on the
// monotonic clock; an at later than now counts as now.
func (f *keyFeed) FeedSynced(at time.Time) {
	s := f.s
	sent := min(at.Sub(s.monoBase), s.since(s.monoBase))
	s.trustUntil.Store(int64(sent + auth.KeyFeedMaxAge))
	if f.lost {
		f.lost = false
		s.log.Info("apikey: key change feed back and caught up; cached keys are used again")
	}
}

// FeedLost stops trusting the cache until the next FeedSynced.
func (f *keyFeed) FeedLost(err error) {
	f.s.trustUntil.Store(trustNever)
	// A store read that began before the loss may have read a key just
	// before its revocation: no verification from now on may share it.
	// (What it caches is harmless: the replay drops changed keys before
	// the cache is trusted again.)
	f.s.flights.invalidate()
	if !f.lost {
		f.lost = true
		f.s.log.Warn("apikey: key change feed lost; every key is checked against the store until it is back",
			slog.Any("err", err))
	}
}

// feedUp is the value of the change-feed gauge: 1 while the cache is
// trusted, 0 while every verification reads the store.
func (s *Service) feedUp() float64 {
	if s.cacheTrusted() {
		return 1
	}
	return 0
}
