package client

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
)

// ChangeFeed is the node's change feed (changes.Feed), which reports the
// clients that any node updates (a rotated secret) or deletes.
type ChangeFeed interface {
	Subscribe(h auth.ChangeHandler, kinds ...auth.ChangeKind)
}

// follow has the cache follow feed: a client another node changed is
// forgotten as soon as the feed reports it, and cached clients answer only
// while the feed vouches for itself (see changes.Trust), so another node's
// change applies here within auth.FeedMaxAge, whatever happens to the feed.
func (r *Registry) follow(feed ChangeFeed) {
	r.cache.trust = changes.NewTrust(true)
	feed.Subscribe(feedHandler{r}, auth.ChangeClient)
}

// feedHandler is the auth.ChangeHandler of the registry's cache.
type feedHandler struct{ r *Registry }

// Changed forgets the client, or every client for an empty ID.
func (f feedHandler) Changed(c auth.Change) {
	if c.ID == "" {
		f.r.ForgetAll()
		return
	}
	f.r.Forget(c.ID)
}

// FeedSynced trusts the cache until auth.FeedMaxAge after at.
func (f feedHandler) FeedSynced(at time.Time) { f.r.cache.trust.Synced(at) }

// FeedLost stops trusting the cache until the feed is back, and empties
// it: reads in flight may have read a client just before a change. While a
// store outage grace keeps the cache trusted (see changes.StoreOutage) the
// cached clients answer as of the feed's last sync instead: the store they
// would be reread from is unreachable, and the feed's catch-up drops every
// client before the next FeedSynced.
func (f feedHandler) FeedLost(err error) {
	f.r.cache.trust.Lost(err)
	if !f.r.cache.trust.Trusted() {
		f.r.ForgetAll()
	}
}
