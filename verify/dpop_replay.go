package verify

import (
	"context"
	"sync"
	"time"
)

// MemoryReplayCache is a ReplayCache in this process's memory: right for a
// single node; several nodes need a shared one (Gatehouse's store or
// Redis), or a proof refused by one could be replayed at another. It
// never blocks on anything but a shard lock and allocates nothing per
// proof once its maps have grown.
type MemoryReplayCache struct {
	shards [cacheShards]replayShard
}

type replayShard struct {
	mu        sync.Mutex
	m         map[[32]byte]int64 // key -> expiry, Unix nanoseconds
	nextSweep int64
}

// replaySweepEvery is how often a shard drops its expired entries, at
// most.
const replaySweepEvery = 5 * time.Second

// NewMemoryReplayCache returns an empty cache.
func NewMemoryReplayCache() *MemoryReplayCache {
	c := &MemoryReplayCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]int64)
	}
	return c
}

// Use records key until expiresAt; false if it is recorded and has not
// expired at now. It never fails.
func (c *MemoryReplayCache) Use(_ context.Context, key [32]byte, expiresAt, now time.Time) (bool, error) {
	sh := &c.shards[key[0]%cacheShards]
	n := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if n >= sh.nextSweep {
		for k, exp := range sh.m {
			if exp <= n {
				delete(sh.m, k)
			}
		}
		sh.nextSweep = n + int64(replaySweepEvery)
	}
	if exp, ok := sh.m[key]; ok && exp > n {
		return false, nil
	}
	sh.m[key] = expiresAt.UnixNano()
	return true, nil
}

// Len returns the number of entries held, expired ones not yet swept
// included.
func (c *MemoryReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
