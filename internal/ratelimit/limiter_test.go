package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

func TestLocalIsBuckets(t *testing.T) {
	t.Parallel()
	var lim ratelimit.Limiter = ratelimit.Local{Buckets: new(ratelimit.Buckets)}
	var want ratelimit.Buckets
	l := auth.RateLimit{Rate: 2, Burst: 2}
	now := t0
	for i := range 6 {
		got, err := lim.Allow(context.Background(), "k", l, now)
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if w := want.Allow("k", l, now); got != w {
			t.Fatalf("call %d: Local %+v, Buckets %+v", i+1, got, w)
		}
		now = now.Add(200 * time.Millisecond)
	}
}

func TestLocalNeverFailsEvenWithADoneContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := ratelimit.Local{Buckets: new(ratelimit.Buckets)}.Allow(ctx, "k", auth.RateLimit{Rate: 1, Burst: 1}, t0)
	if err != nil || !d.Allowed {
		t.Fatalf("got %+v, %v; want allowed, nil", d, err)
	}
}
