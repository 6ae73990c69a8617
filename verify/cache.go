package verify

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// cacheShards splits a cache so that concurrent hits on a busy gateway do
// not all contend on one lock's cache line.
const cacheShards = 16

// cache maps the SHA-256 of a credential to what its verification found,
// until an expiry. It never holds the credential itself, so a memory dump
// of the cache yields no usable token or key.
type cache[V any] struct {
	shards   [cacheShards]cacheShard[V]
	perShard int
}

type cacheShard[V any] struct {
	mu sync.RWMutex
	m  map[[32]byte]cacheEntry[V]
}

type cacheEntry[V any] struct {
	val   V
	until time.Time
}

// newCache returns a cache of about size entries, or nil (caching off) for
// size < 0.
func newCache[V any](size int) *cache[V] {
	if size < 0 {
		return nil
	}
	c := &cache[V]{perShard: max(size/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]cacheEntry[V])
	}
	return c
}

// hashOf is the cache key of a credential. The string's bytes are hashed in
// place: converting to []byte would copy (and allocate for anything over 32
// bytes) on every hit, and SHA-256 neither keeps nor modifies its input.
func hashOf(s string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// get returns the entry for k if it is still before its expiry at now.
func (c *cache[V]) get(k [32]byte, now time.Time) (V, bool) {
	sh := &c.shards[k[0]%cacheShards]
	sh.mu.RLock()
	e, ok := sh.m[k]
	sh.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.val, true
}

// put stores v until the given time. A full shard first drops its expired
// entries and, if still full, arbitrary ones (Go's map order is random)
// down to 7/8 of its size, so that a stream of new credentials costs one
// sweep per size/8 insertions rather than one per insertion.
func (c *cache[V]) put(k [32]byte, v V, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	sh := &c.shards[k[0]%cacheShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[k]; !ok && len(sh.m) >= c.perShard {
		for key, e := range sh.m {
			if !now.Before(e.until) {
				delete(sh.m, key)
			}
		}
		target := c.perShard - max(c.perShard/8, 1)
		for key := range sh.m {
			if len(sh.m) <= target {
				break
			}
			delete(sh.m, key)
		}
	}
	sh.m[k] = cacheEntry[V]{val: v, until: until}
}

// remove drops k.
func (c *cache[V]) remove(k [32]byte) {
	sh := &c.shards[k[0]%cacheShards]
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
}

// len counts the entries, expired ones included (for tests).
func (c *cache[V]) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
