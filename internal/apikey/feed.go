package apikey

import (
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
)

// ChangeFeed is the node's change feed (changes.Feed), which reports the
// keys that any node rotates or revokes.
type ChangeFeed interface {
	Subscribe(h auth.ChangeHandler, kinds ...auth.ChangeKind)
}

// A node's cache is only as fresh as what it hears of other nodes' changes.
// With a change feed (Config.Changes) the service answers from a cached
// entry only while its changes.Trust does: within auth.FeedMaxAge of the
// feed's last FeedSynced, never after a FeedLost until the next FeedSynced.
// Past that, every verification reads the store (a cached entry is a miss),
// so a key revoked on another node is refused here within auth.FeedMaxAge
// whatever happened to the feed, and a node that can reach neither feed
// nor store answers with the store's error (503) instead of a possibly
// stale VALID.
//
// The one exception is the store outage grace (changes.StoreOutage): when
// the feed was lost because the database is unreachable, cached keys keep
// answering until the grace after the last sync; unknown keys still read
// the store, and fail with its error.
//
// Without a feed the cache is always trusted: every change goes through
// this service, which drops the key from its cache itself.

// watchesChanges reports whether the service's cache depends on a change
// feed.
func (s *Service) watchesChanges() bool { return s.trust.Following() }

// cacheTrusted reports whether a cached entry may answer now.
func (s *Service) cacheTrusted() bool { return s.trust.Trusted() }

// keyFeed is the auth.ChangeHandler through which the change feed reports
// to the service. Its methods are called one at a time (the contract), so
// lost needs no lock.
type keyFeed struct {
	s    *Service
	lost bool // whether the last report was FeedLost, for logging transitions only
}

var _ auth.ChangeHandler = (*keyFeed)(nil)

// Changed drops the key from the cache; an empty ID (any key may have
// changed) empties it.
func (f *keyFeed) Changed(c auth.Change) {
	if c.ID != "" {
		f.s.Invalidate(c.ID)
		return
	}
	// Forget everything rather than trust records that may have changed,
	// or store reads in progress that may have read them.
	f.s.cache.purge()
	f.s.flights.invalidate()
}

// FeedSynced trusts the cache until auth.FeedMaxAge after at.
func (f *keyFeed) FeedSynced(at time.Time) {
	f.s.trust.Synced(at)
	if f.lost {
		f.lost = false
		f.s.log.Info("apikey: key change feed back and caught up; cached keys are used again")
	}
}

// FeedLost stops trusting the cache until the next FeedSynced; a
// *changes.StoreOutage keeps it trusted up to its grace instead (see
// changes.Trust.Lost).
func (f *keyFeed) FeedLost(err error) {
	f.s.trust.Lost(err)
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

// followChanges makes the service's trust, and subscribes to the feed if the
// cache depends on one.
func (s *Service) followChanges(feed ChangeFeed) {
	following := feed != nil && s.cache != nil
	s.trust = changes.NewTrust(following)
	if following {
		feed.Subscribe(&keyFeed{s: s}, auth.ChangeAPIKey)
	}
}
