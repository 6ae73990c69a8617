package client

import (
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
)

// cacheTTL bounds how long an entry is used. This node's own changes forget
// its entry at once; with a change feed (several nodes), another node's
// change (a rotated secret, a deleted client) is forgotten when the feed
// reports it, and the cache answers only while the feed vouches for it
// (feed.go).
const cacheTTL = 10 * time.Second

// cacheSize bounds the cache; when full it is emptied, which costs at most
// one store read per client.
const cacheSize = 4096

// cache is a small map of recently used clients.
type cache struct {
	mu      sync.RWMutex
	entries map[string]cacheEntry
	gen     uint64         // counts invalidations, so reads older than one are not cached
	trust   *changes.Trust // with a change feed: whether entries may answer now; nil: always
}

type cacheEntry struct {
	c       *auth.Client
	expires time.Time
}

func (cc *cache) get(id string, now time.Time) (*auth.Client, bool) {
	if cc.trust != nil && !cc.trust.Trusted() {
		return nil, false
	}
	cc.mu.RLock()
	e, ok := cc.entries[id]
	cc.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.c, true
}

// generation returns the number of invalidations so far; pass it to
// putIfCurrent with a client read from the store after this call.
func (cc *cache) generation() uint64 {
	cc.mu.RLock()
	defer cc.mu.RUnlock()
	return cc.gen
}

// putIfCurrent caches c unless an invalidation happened since gen was
// taken: c may then be the client as it was before an update, a secret
// rotation or a deletion, which must stop working at once.
func (cc *cache) putIfCurrent(c *auth.Client, now time.Time, gen uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.gen != gen {
		return
	}
	if cc.entries == nil || len(cc.entries) >= cacheSize {
		cc.entries = make(map[string]cacheEntry)
	}
	cc.entries[c.ID] = cacheEntry{c: c, expires: now.Add(cacheTTL)}
}

// forget drops the entry of one client, and keeps any read in flight from
// putting back what it read before.
func (cc *cache) forget(id string) {
	cc.mu.Lock()
	delete(cc.entries, id)
	cc.gen++
	cc.mu.Unlock()
}

// forgetAll empties the cache, for when changes may have been missed.
func (cc *cache) forgetAll() {
	cc.mu.Lock()
	cc.entries = nil
	cc.gen++
	cc.mu.Unlock()
}
