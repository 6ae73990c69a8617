package usage

import (
	"sync"
	"testing"
	"time"
)

func TestCounterSumsAcrossShardsAndMinutes(t *testing.T) {
	c := NewCounter()
	t0 := time.Date(2026, 12, 7, 10, 0, 59, 0, time.UTC)
	valid := Event{KeyID: "key_1", Owner: "billing", Outcome: "VALID"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.Count(valid, t0)
				c.Count(valid, t0.Add(time.Second)) // the next minute
			}
		}()
	}
	wg.Wait()
	got := c.Take()
	if n := got[Cell{valid, t0.Unix() / 60}]; n != 8000 {
		t.Errorf("first minute: %d, want 8000", n)
	}
	if n := got[Cell{valid, t0.Unix()/60 + 1}]; n != 8000 {
		t.Errorf("second minute: %d, want 8000", n)
	}
	if len(got) != 2 {
		t.Errorf("cells: %v", got)
	}
	if again := c.Take(); len(again) != 0 {
		t.Errorf("a second Take returned %v; counts are taken once", again)
	}
	c.Restore(got)
	if back := c.Take(); back[Cell{valid, t0.Unix() / 60}] != 8000 || len(back) != 2 {
		t.Errorf("after Restore: %v", back)
	}
}

func TestNilCounterCountsNothing(t *testing.T) {
	var c *Counter
	c.Count(Event{Outcome: "VALID"}, time.Now()) // must not panic
}

func TestCountAllocatesNothingOnceSeen(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := NewCounter()
	e := Event{KeyID: "key_1", Route: "orders", Owner: "billing", Outcome: "VALID"}
	now := time.Now()
	// Every shard must have seen the cell, and have been through one Take,
	// for its spare map to hold the bucket.
	for range 10000 {
		c.Count(e, now)
	}
	c.Take()
	for range 10000 {
		c.Count(e, now)
	}
	if n := testing.AllocsPerRun(1000, func() { c.Count(e, now) }); n != 0 {
		t.Errorf("Count allocates %.1f times per call", n)
	}
}

func BenchmarkCount(b *testing.B) {
	c := NewCounter()
	e := Event{KeyID: "key_01JF0000000000000000000000", Route: "orders", Owner: "billing", Outcome: "VALID"}
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Count(e, now)
		}
	})
}
