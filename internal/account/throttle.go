package account

import (
	"sync"
	"time"
)

// throttle counts failures per key as a leaky bucket: each failure adds
// one, the level drains at limit per window, and an attempt is refused
// while one more failure would exceed limit. So a burst of limit failures
// is allowed, after which attempts are spaced window/limit apart (3
// minutes with 5 per 15 minutes) until the bucket drains: a backoff that
// needs no per-key timers, and whose state is two numbers.
//
// Memory is bounded: at most max keys are tracked. When full, drained
// entries are swept; if none is drained, an arbitrary one is dropped (Go's
// map order is random). Dropping favours the attacker only for one
// entry out of max, which takes max keys' worth of failures to force.
type throttle struct {
	limit float64
	rate  float64 // drain per second
	max   int

	mu      sync.Mutex
	entries map[string]*level
}

type level struct {
	n  float64
	at time.Time
}

func newThrottle(limit int, window time.Duration, max int) *throttle {
	return &throttle{
		limit:   float64(limit),
		rate:    float64(limit) / window.Seconds(),
		max:     max,
		entries: make(map[string]*level),
	}
}

// current drains e to now and returns its level.
func (t *throttle) current(e *level, now time.Time) float64 {
	if el := now.Sub(e.at).Seconds(); el > 0 {
		e.n -= el * t.rate
		if e.n < 0 {
			e.n = 0
		}
		e.at = now
	}
	return e.n
}

// take counts one attempt for key if it fits; otherwise it returns how
// long until one fits.
func (t *throttle) take(key string, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		if len(t.entries) >= t.max {
			t.sweep(now)
		}
		e = &level{at: now}
		t.entries[key] = e
	}
	n := t.current(e, now)
	if n+1 > t.limit {
		wait := time.Duration((n + 1 - t.limit) / t.rate * float64(time.Second))
		return max(wait.Round(time.Second), time.Second), false
	}
	e.n = n + 1
	return 0, true
}

// full reports whether the next attempt for key would be refused.
func (t *throttle) full(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	return e != nil && t.current(e, now)+1 > t.limit
}

// refund gives back an attempt counted by take.
func (t *throttle) refund(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[key]; e != nil {
		if t.current(e, now) <= 1 {
			delete(t.entries, key)
		} else {
			e.n--
		}
	}
}

// reset forgets key's failures.
func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// sweep drops drained entries, and one more if none was; t.mu is held.
func (t *throttle) sweep(now time.Time) {
	for k, e := range t.entries {
		if t.current(e, now) == 0 {
			delete(t.entries, k)
		}
	}
	if len(t.entries) >= t.max {
		for k := range t.entries {
			delete(t.entries, k)
			break
		}
	}
}

// size returns the number of tracked keys.
func (t *throttle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
