package apikey

import (
	"sync"
	"testing"
	"time"
)

func TestNegativeCacheHasPutExpire(t *testing.T) {
	t.Parallel()
	c := newNegativeCache(10*time.Second, 100)
	sum, _ := cacheKey(1)
	if c.has(&sum, cacheT0) {
		t.Fatal("empty negative cache has an entry")
	}
	c.put(&sum, c.epoch.Load(), cacheT0)
	if !c.has(&sum, cacheT0.Add(10*time.Second-time.Nanosecond)) {
		t.Fatal("entry not found within its TTL")
	}
	if c.has(&sum, cacheT0.Add(10*time.Second)) {
		t.Fatal("entry found after its TTL")
	}
	other, _ := cacheKey(2)
	if c.has(&other, cacheT0) {
		t.Fatal("an entry stood for another hash")
	}
}

func TestNegativeCacheIsBounded(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 7, 64, 1000} {
		c := newNegativeCache(time.Hour, size)
		for i := range 5 * size {
			sum, _ := cacheKey(i)
			c.put(&sum, c.epoch.Load(), cacheT0)
		}
		if n := c.len(); n > size || n < size/2 {
			t.Errorf("size %d: %d entries after %d puts", size, n, 5*size)
		}
	}
}

func TestNegativeCacheForget(t *testing.T) {
	t.Parallel()
	c := newNegativeCache(time.Hour, 100)
	sum1, _ := cacheKey(1)
	sum2, _ := cacheKey(2)
	c.put(&sum1, c.epoch.Load(), cacheT0)
	c.put(&sum2, c.epoch.Load(), cacheT0)
	c.forget(&sum1)
	if c.has(&sum1, cacheT0) {
		t.Fatal("forgotten entry still found")
	}
	if !c.has(&sum2, cacheT0) {
		t.Fatal("forgetting one hash dropped another")
	}
}

func TestNegativeCachePutAfterForgetIsNotCached(t *testing.T) {
	t.Parallel()
	// A lookup read the store before the key was created, and records
	// "unknown" after Create forgot the hash: it must not stick.
	c := newNegativeCache(time.Hour, 100)
	sum, _ := cacheKey(1)
	epoch := c.epoch.Load() // before the store read
	c.forget(&sum)          // Create
	c.put(&sum, epoch, cacheT0)
	if c.has(&sum, cacheT0) {
		t.Fatal("an answer read before a forget was cached after it")
	}
	c.put(&sum, c.epoch.Load(), cacheT0)
	if !c.has(&sum, cacheT0) {
		t.Fatal("a fresh answer was not cached")
	}
}

func TestNegativeCacheConcurrentForgetNeverLeavesEntry(t *testing.T) {
	t.Parallel()
	c := newNegativeCache(time.Hour, 1000)
	for round := range 2000 {
		sum, _ := cacheKey(round % 50)
		epoch := c.epoch.Load()
		var wg sync.WaitGroup
		wg.Go(func() { c.put(&sum, epoch, cacheT0) })
		wg.Go(func() { c.forget(&sum) })
		wg.Wait()
		if c.has(&sum, cacheT0) {
			t.Fatalf("round %d: a put that raced a forget left its entry", round)
		}
	}
}

func TestNegativeCacheSweep(t *testing.T) {
	t.Parallel()
	c := newNegativeCache(time.Minute, 100)
	for i := range 10 {
		sum, _ := cacheKey(i)
		c.put(&sum, c.epoch.Load(), cacheT0.Add(time.Duration(i)*time.Second))
	}
	c.sweep(cacheT0.Add(time.Minute + 4*time.Second)) // the first five have expired
	if n := c.len(); n != 5 {
		t.Fatalf("%d entries after the sweep, want 5", n)
	}
}
