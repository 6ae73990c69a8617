package apikey

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var cacheT0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func cacheKey(i int) ([sha256.Size]byte, *auth.APIKey) {
	id := fmt.Sprintf("key_%016d", i)
	return sha256.Sum256([]byte(id)), &auth.APIKey{ID: id}
}

func TestCacheGetPutExpire(t *testing.T) {
	t.Parallel()
	c := newCache(time.Minute, 100)
	sum, k := cacheKey(1)
	if c.get(&sum, cacheT0) != nil {
		t.Fatal("empty cache returned an entry")
	}
	c.put(&sum, k, c.epoch.Load(), cacheT0)
	if e := c.get(&sum, cacheT0.Add(59*time.Second)); e == nil || e.key != k {
		t.Fatal("entry not returned within its TTL")
	}
	if c.get(&sum, cacheT0.Add(time.Minute)) != nil {
		t.Fatal("entry returned after its TTL")
	}
}

func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 7, 64, 1000} {
		c := newCache(time.Hour, size)
		for i := range 5 * size {
			sum, k := cacheKey(i)
			c.put(&sum, k, c.epoch.Load(), cacheT0)
		}
		if n := c.len(); n > size || n < size/2 {
			t.Errorf("size %d: %d entries after %d puts", size, n, 5*size)
		}
	}
}

func TestCacheInvalidate(t *testing.T) {
	t.Parallel()
	c := newCache(time.Hour, 100)
	sum1, k1 := cacheKey(1)
	sum2, k2 := cacheKey(2)
	c.put(&sum1, k1, c.epoch.Load(), cacheT0)
	c.put(&sum2, k2, c.epoch.Load(), cacheT0)
	c.invalidate(k1.ID)
	if c.get(&sum1, cacheT0) != nil {
		t.Fatal("invalidated entry still returned")
	}
	if c.get(&sum2, cacheT0) == nil {
		t.Fatal("invalidating one key dropped another")
	}
	c.invalidate("key_unknown") // no entry: nothing happens
}

func TestCachePutAfterInvalidateIsNotCached(t *testing.T) {
	t.Parallel()
	// A verification read the store before a revocation and fills the
	// cache after it: its stale record must not be cached.
	c := newCache(time.Hour, 100)
	sum, k := cacheKey(1)
	epoch := c.epoch.Load() // before the store read
	c.invalidate(k.ID)      // the revocation
	if e := c.put(&sum, k, epoch, cacheT0); e == nil || e.key != k {
		t.Fatal("put did not return the entry for the current request")
	}
	if c.get(&sum, cacheT0) != nil {
		t.Fatal("a record read before an invalidation was cached after it")
	}
	// The next verification caches normally.
	c.put(&sum, k, c.epoch.Load(), cacheT0)
	if c.get(&sum, cacheT0) == nil {
		t.Fatal("a fresh record was not cached")
	}
}

func TestCachePurge(t *testing.T) {
	t.Parallel()
	c := newCache(time.Hour, 100)
	sum, k := cacheKey(1)
	epoch := c.epoch.Load()
	c.put(&sum, k, epoch, cacheT0)
	c.purge()
	if c.len() != 0 {
		t.Fatal("purge left entries")
	}
	c.put(&sum, k, epoch, cacheT0)
	if c.len() != 0 {
		t.Fatal("a record read before the purge was cached after it")
	}
}

func TestCacheSweepDropsExpiredEntriesAndStaleIndex(t *testing.T) {
	t.Parallel()
	c := newCache(time.Minute, 1) // one shard of one entry: every put evicts
	for i := range 10 {
		sum, k := cacheKey(i)
		c.put(&sum, k, c.epoch.Load(), cacheT0)
	}
	indexLen := func() int {
		n := 0
		for i := range c.index {
			n += len(c.index[i].m)
		}
		return n
	}
	c.sweep(cacheT0)
	if c.len() != 1 || indexLen() != 1 {
		t.Fatalf("after sweep: %d entries, %d index records; want 1 and 1", c.len(), indexLen())
	}
	c.sweep(cacheT0.Add(time.Minute))
	if c.len() != 0 || indexLen() != 0 {
		t.Fatalf("after the TTL: %d entries, %d index records; want none", c.len(), indexLen())
	}
}

func TestCacheConcurrentInvalidateNeverLeavesStaleEntry(t *testing.T) {
	t.Parallel()
	// Many rounds of the race between a fill and an invalidation: after
	// both, the entry filled with the pre-invalidation epoch must be gone.
	c := newCache(time.Hour, 1000)
	for round := range 2000 {
		sum, k := cacheKey(round % 50)
		epoch := c.epoch.Load()
		var wg sync.WaitGroup
		wg.Go(func() { c.put(&sum, k, epoch, cacheT0) })
		wg.Go(func() { c.invalidate(k.ID) })
		wg.Wait()
		if c.get(&sum, cacheT0) != nil {
			t.Fatalf("round %d: a fill that raced an invalidation left its entry", round)
		}
	}
}
