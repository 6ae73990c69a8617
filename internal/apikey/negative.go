package apikey

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// negativeCache remembers, for a short while, the hashes of well-formed keys
// the store does not know, so that a client presenting the same unknown key
// again and again costs one store lookup per TTL instead of one per request.
//
// Why it is safe: a key is generated here, from 190 bits of crypto/rand, and
// its plaintext leaves the server only in the answer to Create or Rotate,
// after its record is committed. Nobody can present a key before it exists
// (short of guessing 190 bits), so a hash found unknown is not about to
// become known. An entry can only make Verify refuse, never accept: at worst
// a key is refused for the TTL, which is why the TTL is short. Two cases
// still deserve care, and get it:
//
//   - Create and Rotate on this node drop the new key's hash (forget), and
//     a lookup that read the store before that cannot put the hash back:
//     put checks, under the hash's shard lock, that no forget happened since
//     the caller read epoch (before its store read), as cache.put does.
//   - A key created on another node is only here if it was presented here
//     before it existed; but a store that answers from a lagging replica can
//     report a brand new key unknown, and this node then refuses it for up
//     to the TTL instead of until the next request.
//
// Invalidate and the change notifications are keyed by ID and concern
// records that exist, which are never in this cache: they need not touch it.
//
// Memory is bounded: a full shard drops an entry chosen at random (as
// cache.evict does) to make room. A flood of unique random keys only churns
// the cache (each of them costs a store lookup, as it did without it, and
// may evict a repeated key's entry); it cannot grow it beyond size entries.
type negativeCache struct {
	ttl      time.Duration
	perShard int

	epoch  atomic.Uint64   // bumped by forget
	shards []negativeShard // len is a power of two
}

type negativeShard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]int64 // hash -> expiry (Unix nanoseconds of the service clock)
	_  [32]byte                    // see entryShard
}

func newNegativeCache(ttl time.Duration, size int) *negativeCache {
	n := 1
	for n*2 <= maxEntryShards && n*2 <= size {
		n *= 2
	}
	c := &negativeCache{ttl: ttl, perShard: size / n, shards: make([]negativeShard, n)}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]int64)
	}
	return c
}

func (c *negativeCache) shard(sum *[sha256.Size]byte) *negativeShard {
	return &c.shards[int(sum[0])&(len(c.shards)-1)]
}

// has reports whether sum was found unknown less than ttl before now.
func (c *negativeCache) has(sum *[sha256.Size]byte, now time.Time) bool {
	sh := c.shard(sum)
	sh.mu.RLock()
	expires, ok := sh.m[*sum]
	sh.mu.RUnlock()
	return ok && now.UnixNano() < expires
}

// put remembers that the store does not know sum, unless a forget happened
// after the caller read epoch (before its store read).
func (c *negativeCache) put(sum *[sha256.Size]byte, epoch uint64, now time.Time) {
	expires := now.Add(c.ttl).UnixNano()
	sh := c.shard(sum)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c.epoch.Load() != epoch {
		return
	}
	if _, ok := sh.m[*sum]; !ok {
		for s := range sh.m { // random eviction; see cache.evict
			if len(sh.m) < c.perShard {
				break
			}
			delete(sh.m, s)
		}
	}
	sh.m[*sum] = expires
}

// forget drops sum, and makes any put that started before now skip it.
func (c *negativeCache) forget(sum *[sha256.Size]byte) {
	sh := c.shard(sum)
	sh.mu.Lock()
	c.epoch.Add(1)
	delete(sh.m, *sum)
	sh.mu.Unlock()
}

// sweep drops expired entries.
func (c *negativeCache) sweep(now time.Time) {
	t := now.UnixNano()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for sum, expires := range sh.m {
			if t >= expires {
				delete(sh.m, sum)
			}
		}
		sh.mu.Unlock()
	}
}

// len returns the number of entries, live or expired.
func (c *negativeCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
