package apikey

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// cache maps key hashes to the records read from the store, so a key seen
// once is verified without a round trip to the database.
//
// Reads take one shard's read lock, so verifications of different keys (and
// of the same key) proceed in parallel. Entries expire after ttl, so changes
// made by other nodes are picked up even when no notification arrives.
//
// Invalidation by ID needs an index from ID to hash, and must not lose to a
// verification that read the store just before a change and fills the cache
// just after it. Both problems are solved under the ID's index lock:
//
//   - put checks, under the index lock, that no invalidation happened since
//     the caller started its store read (the epoch), then inserts the entry
//     and its index record;
//   - invalidate bumps the epoch and removes the entry under the same lock.
//
// Whichever comes first, the stale record does not survive. Locks are always
// taken index first, then hash shard.
type cache struct {
	ttl      time.Duration
	perShard int

	epoch   atomic.Uint64
	entries []entryShard // len is a power of two
	index   [indexShards]indexShard
}

type entryShard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]*entry
	_  [32]byte // 64 bytes a shard: neighbouring shards' locks stay off one cache line
}

type indexShard struct {
	mu sync.Mutex
	m  map[string][sha256.Size]byte // key ID -> hash; may hold stale records, see sweep
}

const (
	maxEntryShards = 64
	indexShards    = 16
)

// entry is immutable but for lastUsed.
type entry struct {
	key     *auth.APIKey
	expires int64 // Unix nanoseconds of the service clock
	// lastUsed is the last use recorded for this key (Unix nanoseconds), so
	// the request path writes to the usage table at most once a second.
	lastUsed atomic.Int64
}

func newCache(ttl time.Duration, size int) *cache {
	// As many shards as possible up to 64, but no more than size, so the
	// per-shard bound adds up to at most size.
	n := 1
	for n*2 <= maxEntryShards && n*2 <= size {
		n *= 2
	}
	c := &cache{ttl: ttl, perShard: size / n, entries: make([]entryShard, n)}
	for i := range c.entries {
		c.entries[i].m = make(map[[sha256.Size]byte]*entry)
	}
	for i := range c.index {
		c.index[i].m = make(map[string][sha256.Size]byte)
	}
	return c
}

func (c *cache) shard(sum *[sha256.Size]byte) *entryShard {
	// The hash is uniformly distributed: any of its bytes picks a shard.
	return &c.entries[int(sum[0])&(len(c.entries)-1)]
}

func (c *cache) indexShard(id string) *indexShard {
	h := uint32(2166136261) // FNV-1a; IDs are server-made, so not chosen to collide
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &c.index[h%indexShards]
}

// get returns the live entry for sum, or nil.
func (c *cache) get(sum *[sha256.Size]byte, now time.Time) *entry {
	sh := c.shard(sum)
	sh.mu.RLock()
	e := sh.m[*sum]
	sh.mu.RUnlock()
	if e == nil || now.UnixNano() >= e.expires {
		return nil
	}
	return e
}

// put stores k under sum unless an invalidation happened after the caller
// read epoch (before its store read). It returns the entry, which is not
// cached when it lost that race: the caller may still use it for this
// request, as it would had the request come a moment earlier.
func (c *cache) put(sum *[sha256.Size]byte, k *auth.APIKey, epoch uint64, now time.Time) *entry {
	e := &entry{key: k, expires: now.Add(c.ttl).UnixNano()}
	ix := c.indexShard(k.ID)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if c.epoch.Load() != epoch {
		return e
	}
	sh := c.shard(sum)
	sh.mu.Lock()
	if _, ok := sh.m[*sum]; !ok {
		c.evict(sh)
	}
	sh.m[*sum] = e
	sh.mu.Unlock()
	ix.m[k.ID] = *sum
	return e
}

// evict makes room for one entry in a full shard by dropping entries chosen
// at random (Go randomises map iteration). Unlike LRU it needs no
// bookkeeping on the read path, and unlike a scan for expired entries (which
// sweep does) it costs O(1). Requires sh.mu; leaves stale index records,
// which sweep removes.
func (c *cache) evict(sh *entryShard) {
	for sum := range sh.m {
		if len(sh.m) < c.perShard {
			return
		}
		delete(sh.m, sum)
	}
}

// invalidate drops the key with that ID, and makes any put that started
// before now skip caching.
func (c *cache) invalidate(id string) {
	ix := c.indexShard(id)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c.epoch.Add(1)
	sum, ok := ix.m[id]
	if !ok {
		return
	}
	delete(ix.m, id)
	sh := c.shard(&sum)
	sh.mu.Lock()
	if e := sh.m[sum]; e != nil && e.key.ID == id {
		delete(sh.m, sum)
	}
	sh.mu.Unlock()
}

// purge drops every entry, for when change notifications may have been
// missed. It holds every index lock (in order; everyone else holds at most
// one), so no put is between its epoch check and its insert.
func (c *cache) purge() {
	for i := range c.index {
		c.index[i].mu.Lock()
	}
	c.epoch.Add(1)
	for i := range c.entries {
		sh := &c.entries[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
	for i := range c.index {
		clear(c.index[i].m)
		c.index[i].mu.Unlock()
	}
}

// sweep drops expired entries and the index records of entries that are
// gone (evicted or expired), so memory follows the number of live entries.
func (c *cache) sweep(now time.Time) {
	t := now.UnixNano()
	for i := range c.entries {
		sh := &c.entries[i]
		sh.mu.Lock()
		for sum, e := range sh.m {
			if t >= e.expires {
				delete(sh.m, sum)
			}
		}
		sh.mu.Unlock()
	}
	for i := range c.index {
		ix := &c.index[i]
		ix.mu.Lock()
		for id, sum := range ix.m {
			sh := c.shard(&sum)
			sh.mu.RLock()
			e := sh.m[sum]
			sh.mu.RUnlock()
			if e == nil || e.key.ID != id {
				delete(ix.m, id)
			}
		}
		ix.mu.Unlock()
	}
}

// len returns the number of entries, live or expired.
func (c *cache) len() int {
	n := 0
	for i := range c.entries {
		sh := &c.entries[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
