package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCooldown is how long an upstream that failed is skipped when
// NewHealth is given no cooldown.
const DefaultCooldown = 10 * time.Second

// Health is the passive health state of upstream URLs, shared by every
// route (and kept across route reloads): an upstream whose connection
// fails or times out is skipped for a cooldown. Nothing probes upstreams:
// the next request after the cooldown is the probe, and its success clears
// the mark.
type Health struct {
	cooldown time.Duration
	now      func() time.Time

	// failing counts the entries of failedAt, so that the common case
	// (every upstream healthy) costs one atomic load and no lock.
	failing  atomic.Int64
	mu       sync.RWMutex
	failedAt map[string]time.Time
}

// NewHealth returns a Health that skips a failed upstream for cooldown
// (DefaultCooldown if it is not positive), reading time from now
// (time.Now if nil).
func NewHealth(cooldown time.Duration, now func() time.Time) *Health {
	if cooldown <= 0 {
		cooldown = DefaultCooldown
	}
	if now == nil {
		now = time.Now
	}
	return &Health{cooldown: cooldown, now: now, failedAt: make(map[string]time.Time)}
}

// Healthy reports whether upstream has not failed within the cooldown.
func (h *Health) Healthy(upstream string) bool {
	if h.failing.Load() == 0 {
		return true
	}
	h.mu.RLock()
	t, ok := h.failedAt[upstream]
	h.mu.RUnlock()
	return !ok || !h.now().Before(t.Add(h.cooldown))
}

// lastFailure returns when upstream last failed (the zero time if it has
// not, or its mark was cleared).
func (h *Health) lastFailure(upstream string) time.Time {
	if h.failing.Load() == 0 {
		return time.Time{}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.failedAt[upstream]
}

// markFailed starts upstream's cooldown now.
func (h *Health) markFailed(upstream string) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	// Drop marks long expired, so that upstreams removed from the routes
	// do not accumulate; an expired mark is kept a while because it still
	// orders the fail-open choice when every upstream is down.
	for u, t := range h.failedAt {
		if now.Sub(t) > 10*h.cooldown {
			delete(h.failedAt, u)
		}
	}
	h.failedAt[upstream] = now
	h.failing.Store(int64(len(h.failedAt)))
}

// markOK clears upstream's mark after it answered.
func (h *Health) markOK(upstream string) {
	if h.failing.Load() == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.failedAt, upstream)
	h.failing.Store(int64(len(h.failedAt)))
}
