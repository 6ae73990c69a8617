package account

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// throttle counts failed sign-ins per key under a rule (a leaky bucket, or
// capped exponential back-off) and refuses an attempt the rule does not
// allow yet. Its state per key is a number and two times, so it needs no
// timers.
//
// Memory is bounded: at most max keys are tracked. When full, entries the
// rule has forgotten are swept; if none is, an arbitrary one is dropped
// (Go's map order is random). Dropping favours the attacker only for one
// entry out of max, which takes max keys' worth of failures to force.
type throttle struct {
	rule rule
	max  int

	mu      sync.Mutex
	entries map[string]*record
}

// record is the state of one key.
type record struct {
	n    float64   // bucket level, or failures since the last success
	at   time.Time // when n was last brought up to date, or the last failure
	prev time.Time // at before the last failure, for backoff's undo
}

// rule decides when a key's next attempt is allowed.
type rule interface {
	// wait brings e up to now and returns how long until one more
	// attempt fits; zero if it fits now.
	wait(e *record, now time.Time) time.Duration
	// forgotten reports whether e, brought up to now, holds nothing.
	forgotten(e *record, now time.Time) bool
	// undo takes back the last failure counted in e.
	undo(e *record, now time.Time)
}

func newThrottle(r rule, max int) *throttle {
	return &throttle{rule: r, max: max, entries: make(map[string]*record)}
}

// take counts one failure for key if an attempt fits now; otherwise it
// returns how long until one does (at least a second). An attempt is
// counted before its password is checked, so parallel guesses cannot all
// slip past the limit; refund or reset undoes it on success.
func (t *throttle) take(key string, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		if len(t.entries) >= t.max {
			t.sweep(now)
		}
		e = &record{at: now}
		t.entries[key] = e
	}
	if d := t.rule.wait(e, now); d > 0 {
		return max(d.Round(time.Second), time.Second), false
	}
	e.n++
	e.prev, e.at = e.at, now
	return 0, true
}

// full reports whether the next attempt for key would be refused.
func (t *throttle) full(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	return e != nil && t.rule.wait(e, now) > 0
}

// refund gives back an attempt counted by take.
func (t *throttle) refund(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		return
	}
	t.rule.undo(e, now)
	if e.n <= 0 {
		delete(t.entries, key)
	}
}

// reset forgets key's failures.
func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// sweep drops forgotten entries, and one more if none was; t.mu is held.
func (t *throttle) sweep(now time.Time) {
	for k, e := range t.entries {
		if t.rule.forgotten(e, now) {
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

// rescale moves a bucket throttle to rule, keeping each key's level as
// the same fraction of the limit (drained up to now under the old rule):
// a key that had used its share is still at its share.
func (t *throttle) rescale(rule bucket, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.rule.(bucket); ok && old.limit > 0 {
		for _, e := range t.entries {
			old.drain(e, now)
			e.n *= rule.limit / old.limit
		}
	}
	t.rule = rule
}

// size returns the number of tracked keys.
func (t *throttle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// bucket is a leaky bucket: each failure adds one, the level drains at
// limit per window, and an attempt is refused while one more failure would
// exceed limit. So a burst of limit failures is allowed, after which
// attempts are spaced window/limit apart until the bucket drains.
type bucket struct {
	limit float64
	rate  float64 // drain per second
}

func newBucket(limit int, window time.Duration) bucket {
	return bucket{limit: float64(limit), rate: float64(limit) / window.Seconds()}
}

func (b bucket) drain(e *record, now time.Time) {
	if el := now.Sub(e.at).Seconds(); el > 0 {
		e.n = max(e.n-el*b.rate, 0)
		e.at = now
	}
}

func (b bucket) wait(e *record, now time.Time) time.Duration {
	b.drain(e, now)
	if e.n+1 <= b.limit {
		return 0
	}
	return time.Duration((e.n + 1 - b.limit) / b.rate * float64(time.Second))
}

func (b bucket) forgotten(e *record, now time.Time) bool {
	b.drain(e, now)
	return e.n == 0
}

func (b bucket) undo(e *record, now time.Time) {
	b.drain(e, now)
	e.n = max(e.n-1, 0)
}

// backoff is capped exponential back-off: the first free failures cost
// nothing; after that, each failure must wait base, then 2×base, 4×base,
// ... up to ceiling after the previous one. The failures are forgotten
// after memory without any.
type backoff struct {
	free    int
	base    time.Duration
	ceiling time.Duration
	memory  time.Duration
}

// delay is the wait after the failures-th failure.
func (b backoff) delay(failures int) time.Duration {
	over := failures - b.free
	if over < 0 {
		return 0
	}
	d := b.base
	for ; over > 0 && d < b.ceiling; over-- {
		d *= 2
	}
	return min(d, b.ceiling)
}

func (b backoff) wait(e *record, now time.Time) time.Duration {
	if b.forgotten(e, now) {
		e.n = 0
	}
	return e.at.Add(b.delay(int(e.n))).Sub(now)
}

func (b backoff) forgotten(e *record, now time.Time) bool {
	return now.Sub(e.at) >= b.memory
}

func (b backoff) undo(e *record, _ time.Time) {
	e.n--
	e.at = e.prev
}

// failureLimit is a limit on failed sign-ins, on this node (throttle) or
// shared by the nodes (sharedBucket). take, full and refund are those of
// throttle.
type failureLimit interface {
	take(ctx context.Context, key string, now time.Time) (time.Duration, bool)
	full(ctx context.Context, key string, now time.Time) bool
	refund(ctx context.Context, key string, now time.Time)
}

// local adapts a throttle to failureLimit.
type local struct{ *throttle }

func (l local) take(_ context.Context, key string, now time.Time) (time.Duration, bool) {
	return l.throttle.take(key, now)
}
func (l local) full(_ context.Context, key string, now time.Time) bool {
	return l.throttle.full(key, now)
}
func (l local) refund(_ context.Context, key string, now time.Time) { l.throttle.refund(key, now) }

// SharedLimiter keeps buckets that every node shares: ratelimit.Redis
// (a scope of the node's). Take, Peek and Refund return an error wrapping
// ratelimit.ErrUnavailable while the shared store fails.
type SharedLimiter interface {
	Take(ctx context.Context, key string, l auth.RateLimit, now time.Time) (ratelimit.Decision, error)
	Peek(ctx context.Context, key string, l auth.RateLimit, now time.Time) (ratelimit.Decision, error)
	Refund(ctx context.Context, key string, l auth.RateLimit, now time.Time) error
	Nodes() int
}

var _ SharedLimiter = (*ratelimit.Redis)(nil)

// sharedBucket is the bucket rule kept in a SharedLimiter, so that it holds
// across nodes: limit failures at once, draining at limit per window, is a
// GCRA bucket of burst limit and rate limit/window, with the same waits.
// While the shared store fails, each node applies its share of the rule
// (ratelimit.Share: limit ÷ nodes, rounded up) in a throttle of its own,
// whose entries are rescaled to the new share when the number of nodes
// changes: dropping them would give an attacker a fresh budget each time a
// node joins or leaves during the outage.
type sharedBucket struct {
	shared SharedLimiter
	prefix string // keeps this limit's keys apart from the others'
	limit  auth.RateLimit
	max    int // keys the fallback throttle tracks

	mu         sync.Mutex
	fallback   *throttle
	fallbackOf int // the node count fallback was made for
}

func newSharedBucket(shared SharedLimiter, prefix string, limit int, window time.Duration, max int) *sharedBucket {
	return &sharedBucket{shared: shared, prefix: prefix, max: max,
		limit: auth.RateLimit{Rate: float64(limit) / window.Seconds(), Burst: limit}}
}

func (b *sharedBucket) take(ctx context.Context, key string, now time.Time) (time.Duration, bool) {
	d, err := b.shared.Take(ctx, b.prefix+key, b.limit, now)
	if err != nil {
		return b.local(now).take(key, now)
	}
	if !d.Allowed {
		return max(d.RetryAfter.Round(time.Second), time.Second), false
	}
	return 0, true
}

func (b *sharedBucket) full(ctx context.Context, key string, now time.Time) bool {
	d, err := b.shared.Peek(ctx, b.prefix+key, b.limit, now)
	if err != nil {
		return b.local(now).full(key, now)
	}
	return !d.Allowed
}

func (b *sharedBucket) refund(ctx context.Context, key string, now time.Time) {
	if err := b.shared.Refund(ctx, b.prefix+key, b.limit, now); err != nil {
		b.local(now).refund(key, now)
	}
}

// local returns the throttle that applies this node's share of the rule
// at now.
func (b *sharedBucket) local(now time.Time) *throttle {
	n := b.shared.Nodes()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fallback != nil && b.fallbackOf == n {
		return b.fallback
	}
	share := ratelimit.Share(b.limit, n)
	rule := bucket{limit: float64(share.Burst), rate: share.Rate}
	if b.fallback == nil {
		b.fallback = newThrottle(rule, b.max)
	} else {
		b.fallback.rescale(rule, now)
	}
	b.fallbackOf = n
	return b.fallback
}
