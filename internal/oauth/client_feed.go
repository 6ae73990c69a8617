package oauth

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

// followClientChanges has the client cache follow feed, when there is one:
// a client another node changed is dropped as soon as the feed reports it,
// and cached clients answer only while the feed vouches for itself (see
// changes.Trust), so another node's change applies here within
// auth.FeedMaxAge, whatever happens to the feed.
func (s *Server) followClientChanges(feed ChangeFeed) {
	if feed == nil {
		return
	}
	s.tokens.clients.trust = changes.NewTrust(true)
	feed.Subscribe(clientFeed{&s.tokens.clients}, auth.ChangeClient)
}

// clientFeed is the auth.ChangeHandler of the client cache.
type clientFeed struct{ cc *clientCache }

// Changed drops the client, or every client for an empty ID.
func (f clientFeed) Changed(c auth.Change) {
	if c.ID == "" {
		f.cc.forgetAll()
		return
	}
	f.cc.invalidate(c.ID)
}

// FeedSynced trusts the cache until auth.FeedMaxAge after at.
func (f clientFeed) FeedSynced(at time.Time) { f.cc.trust.Synced(at) }

// FeedLost stops trusting the cache until the feed is back, and empties
// it: reads in flight may have read a client just before a change.
func (f clientFeed) FeedLost(error) {
	f.cc.trust.Lost()
	f.cc.forgetAll()
}
