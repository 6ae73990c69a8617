package verify

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// TestTokenCacheMemoryLevelsOffAtItsSize: a stream of distinct tokens, each
// verified once (a gateway whose callers fetch a new token every few
// requests), grows the heap while the verified-token cache fills, and not
// once it is full: past CacheSize, entries are replaced rather than added.
// This is the growth the soak's "new token per request" run showed for the
// first minutes (docs/scaling.md, Soak). Not parallel: it reads the
// process's heap, which parallel tests would move.
func TestTokenCacheMemoryLevelsOffAtItsSize(t *testing.T) {
	if testing.Short() {
		t.Skip("verifies thousands of tokens")
	}
	const size = 2000
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, func(c *Config) { c.CacheSize = size })
	next := 0
	verifyNew := func(n int) {
		t.Helper()
		for range n {
			claims := claimsAt(is, clk)
			claims["jti"] = fmt.Sprintf("jti-%d", next)
			next++
			if _, err := v.Verify(context.Background(), mint(t, k, claims)); err != nil {
				t.Fatal(err)
			}
		}
	}
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	base := heap()
	verifyNew(size) // the cache fills
	full := heap()
	verifyNew(size) // N → 2N tokens
	twice := heap()
	verifyNew(2 * size) // 2N → 4N tokens
	four := heap()
	filling := full - base
	t.Logf("heap in use: %d B before, %d B at N=%d tokens (cache full), %d B at 2N, %d B at 4N; cache holds %d entries",
		base, full, size, twice, four, v.cache.len())
	if filling <= 0 {
		t.Fatalf("filling the cache did not grow the heap (%d B): the measure sees nothing", filling)
	}
	if n := v.cache.len(); n > size {
		t.Fatalf("the cache holds %d entries, want at most %d", n, size)
	}
	// Twice as many tokens again past a full cache may move the heap by
	// the noise of one GC cycle (a fraction of what filling it cost), not
	// by another cache's worth.
	if growth := four - full; growth > filling/4 {
		t.Errorf("the heap grew by %d B from N to 4N tokens, against %d B for filling the cache: something keeps per-token state beyond the cache", growth, filling)
	}
}
