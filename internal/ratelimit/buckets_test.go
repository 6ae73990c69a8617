package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestBurstThenRefused(t *testing.T) {
	t.Parallel()
	var b ratelimit.Buckets
	l := auth.RateLimit{Rate: 1, Burst: 3}
	for i := range 3 {
		d := b.Allow("key_a", l, t0)
		if !d.Allowed {
			t.Fatalf("request %d of the burst refused", i+1)
		}
		if d.Limit != 3 || d.Remaining != 2-i || d.RetryAfter != 0 {
			t.Fatalf("request %d: got %+v, want Limit 3, Remaining %d, RetryAfter 0", i+1, d, 2-i)
		}
	}
	d := b.Allow("key_a", l, t0)
	if d.Allowed {
		t.Fatal("request past the burst allowed")
	}
	if d.Remaining != 0 || d.RetryAfter != time.Second || d.Reset != 3*time.Second {
		t.Fatalf("refused: got %+v, want Remaining 0, RetryAfter 1s, Reset 3s", d)
	}
}

func TestRefillAtRate(t *testing.T) {
	t.Parallel()
	var b ratelimit.Buckets
	l := auth.RateLimit{Rate: 10, Burst: 10} // one token every 100ms
	for range 10 {
		b.Allow("key_a", l, t0)
	}
	if b.Allow("key_a", l, t0.Add(99*time.Millisecond)).Allowed {
		t.Fatal("allowed before a token was refilled")
	}
	d := b.Allow("key_a", l, t0.Add(100*time.Millisecond))
	if !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after 100ms: got %+v, want allowed with 0 remaining", d)
	}
	// A long pause refills the bucket only up to its size.
	d = b.Allow("key_a", l, t0.Add(time.Hour))
	if !d.Allowed || d.Remaining != 9 {
		t.Fatalf("after an hour: got %+v, want allowed with 9 remaining", d)
	}
}

func TestRetryAfterIsEnough(t *testing.T) {
	t.Parallel()
	// Rates whose token interval is not a whole number of nanoseconds are
	// where rounding down would make a well-behaved client fail again.
	for _, rate := range []float64{1, 3, 7, 0.3, 1.0 / 3, 1000, 123456.789} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			var b ratelimit.Buckets
			l := auth.RateLimit{Rate: rate, Burst: 1}
			now := t0
			for i := range 20 {
				b.Allow("key_a", l, now)
				d := b.Allow("key_a", l, now)
				if d.Allowed || d.RetryAfter <= 0 {
					t.Fatalf("round %d: got %+v, want refused with a RetryAfter", i, d)
				}
				now = now.Add(d.RetryAfter)
				if !b.Allow("key_a", l, now).Allowed {
					t.Fatalf("round %d: refused after waiting RetryAfter %v", i, d.RetryAfter)
				}
				now = now.Add(time.Duration(i) * 17 * time.Microsecond)
			}
		})
	}
}

func TestResetIsTimeUntilFull(t *testing.T) {
	t.Parallel()
	var b ratelimit.Buckets
	l := auth.RateLimit{Rate: 2, Burst: 4}
	d := b.Allow("key_a", l, t0)
	if d.Reset != 500*time.Millisecond {
		t.Fatalf("one token used: Reset %v, want 500ms", d.Reset)
	}
	b.Allow("key_a", l, t0)
	b.Allow("key_a", l, t0)
	d = b.Allow("key_a", l, t0)
	if d.Reset != 2*time.Second || d.Remaining != 0 {
		t.Fatalf("bucket empty: got %+v, want Reset 2s and 0 remaining", d)
	}
	d = b.Allow("key_a", l, t0.Add(2*time.Second))
	if !d.Allowed || d.Remaining != 3 || d.Reset != 500*time.Millisecond {
		t.Fatalf("after the reset: got %+v, want allowed, 3 remaining, Reset 500ms", d)
	}
}

func TestKeysHaveSeparateBuckets(t *testing.T) {
	t.Parallel()
	var b ratelimit.Buckets
	l := auth.RateLimit{Rate: 1, Burst: 1}
	if !b.Allow("key_a", l, t0).Allowed || b.Allow("key_a", l, t0).Allowed {
		t.Fatal("key_a: want one request allowed, then refused")
	}
	if !b.Allow("key_b", l, t0).Allowed {
		t.Fatal("key_b refused because key_a used its bucket")
	}
}

func TestChangedLimitReplacesBucket(t *testing.T) {
	t.Parallel()
	var b ratelimit.Buckets
	b.Allow("key_a", auth.RateLimit{Rate: 1, Burst: 1}, t0)
	if b.Allow("key_a", auth.RateLimit{Rate: 1, Burst: 1}, t0).Allowed {
		t.Fatal("second request under the old limit allowed")
	}
	d := b.Allow("key_a", auth.RateLimit{Rate: 5, Burst: 5}, t0)
	if !d.Allowed || d.Limit != 5 || d.Remaining != 4 {
		t.Fatalf("after raising the limit: got %+v, want allowed, Limit 5, 4 remaining", d)
	}
}

func TestUnlimitedAlwaysAllows(t *testing.T) {
	t.Parallel()
	var b ratelimit.Buckets
	for _, l := range []auth.RateLimit{{}, {Rate: 0, Burst: 10}, {Rate: 10, Burst: 0}} {
		for range 100 {
			if d := b.Allow("key_a", l, t0); !d.Allowed || d.Limit != 0 {
				t.Fatalf("limit %+v: got %+v, want allowed with Limit 0", l, d)
			}
		}
	}
	if n := b.Len(); n != 0 {
		t.Fatalf("unlimited keys hold %d buckets, want 0", n)
	}
}

func TestSweepDropsOnlyFullBuckets(t *testing.T) {
	t.Parallel()
	var b ratelimit.Buckets
	l := auth.RateLimit{Rate: 1, Burst: 10}
	for i := range 100 {
		b.Allow(fmt.Sprintf("key_%d", i), l, t0)
	}
	b.Allow("key_busy", l, t0.Add(9*time.Second))
	if n := b.Sweep(t0.Add(time.Second)); n != 100 {
		t.Fatalf("swept %d buckets one second after their last use, want 100 (full again)", n)
	}
	if n := b.Len(); n != 1 {
		t.Fatalf("%d buckets left, want 1 (key_busy, not yet full)", n)
	}
	// Dropping a full bucket changes nothing a client can see.
	d := b.Allow("key_0", l, t0.Add(2*time.Second))
	if !d.Allowed || d.Remaining != 9 {
		t.Fatalf("swept key: got %+v, want allowed with 9 remaining", d)
	}
}

func TestShardsSweepThemselves(t *testing.T) {
	t.Parallel()
	var b ratelimit.Buckets
	l := auth.RateLimit{Rate: 100, Burst: 1}
	for i := range 10000 {
		b.Allow(fmt.Sprintf("key_%d", i), l, t0)
	}
	// Much later, fresh traffic makes each shard drop its idle buckets
	// without anyone calling Sweep.
	later := t0.Add(time.Hour)
	for i := range 1000 {
		b.Allow(fmt.Sprintf("other_%d", i), l, later)
	}
	if n := b.Len(); n > 1000+10000/10 {
		t.Fatalf("%d buckets held, want the idle ones mostly dropped", n)
	}
}

func TestConcurrentUseCountsEveryToken(t *testing.T) {
	t.Parallel()
	var b ratelimit.Buckets
	l := auth.RateLimit{Rate: 0.001, Burst: 1000}
	var wg sync.WaitGroup
	allowed := make([]int, 8)
	for g := range allowed {
		wg.Go(func() {
			for range 500 {
				if b.Allow("key_a", l, t0).Allowed {
					allowed[g]++
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range allowed {
		total += n
	}
	if total != 1000 {
		t.Fatalf("%d of 4000 concurrent requests allowed, want exactly the burst of 1000", total)
	}
}

func BenchmarkAllow(b *testing.B) {
	var bk ratelimit.Buckets
	l := auth.RateLimit{Rate: 1e9, Burst: 1e6}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("key_%016d", i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			bk.Allow(ids[i&1023], l, t0)
			i++
		}
	})
}
