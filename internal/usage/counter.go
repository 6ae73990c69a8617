// Package usage counts verifications by subject, route and outcome on the
// request path, and writes the counts to the store in the background,
// rolled up by minute, hour and day.
package usage

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"time"
)

// Event is what one verification is counted under. Empty members are
// dimensions that do not apply (a key has no user, the verify endpoint no
// route).
type Event struct {
	KeyID    string // the API key presented, when it is known
	ClientID string // the OAuth client of a token
	UserID   string // the user a token was issued to
	Route    string // the gateway route; "" outside the gateway
	Owner    string // the owner of the key (or client)
	Outcome  string // a verification code (VALID, EXPIRED, ...) or an OAuth error
}

// Cell is one counter: an event in one minute.
type Cell struct {
	Event
	Minute int64 // Unix time / 60 of the minute the events happened in
}

// Start returns the first instant of the cell's minute.
func (c Cell) Start() time.Time { return time.Unix(c.Minute*60, 0).UTC() }

// Counter counts events in memory. Count takes the lock of one of many
// shards, picked at random, so cores rarely meet on one lock and no lock is
// shared by all of them; a shard's map keeps its buckets across flushes, so
// counting an event already seen since the process started allocates
// nothing. The zero Counter is not usable; a nil *Counter counts nothing.
type Counter struct {
	shards []shard
	mask   uint32
}

type shard struct {
	mu sync.Mutex
	m  map[Cell]int64
	// spare is the map the next take swaps in: last take's map, cleared,
	// so its buckets are reused.
	spare map[Cell]int64
	_     [64]byte // keep neighbouring shards' locks off one cache line
}

// NewCounter returns a Counter with enough shards for this machine.
func NewCounter() *Counter {
	n := 1
	for n < 4*runtime.GOMAXPROCS(0) {
		n <<= 1
	}
	c := &Counter{shards: make([]shard, n), mask: uint32(n - 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[Cell]int64)
	}
	return c
}

// Count adds one event that happened at t.
func (c *Counter) Count(e Event, t time.Time) {
	c.Add(e, t, 1)
}

// Add adds n events that happened at t.
func (c *Counter) Add(e Event, t time.Time, n int64) {
	if c == nil || n <= 0 {
		return
	}
	k := Cell{Event: e, Minute: t.Unix() / 60}
	sh := &c.shards[rand.Uint32()&c.mask]
	sh.mu.Lock()
	sh.m[k] += n
	sh.mu.Unlock()
}

// Take removes and returns every count added since the last Take, merged
// across shards. What the caller cannot write it gives back with Restore.
func (c *Counter) Take() map[Cell]int64 {
	out := make(map[Cell]int64)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		m := sh.m
		if len(m) == 0 {
			sh.mu.Unlock()
			continue
		}
		if sh.spare == nil {
			sh.spare = make(map[Cell]int64, len(m))
		}
		sh.m, sh.spare = sh.spare, nil
		sh.mu.Unlock()
		for k, n := range m {
			out[k] += n
		}
		clear(m)
		sh.mu.Lock()
		if sh.spare == nil {
			sh.spare = m
		}
		sh.mu.Unlock()
	}
	return out
}

// Restore gives back counts that Take returned and could not be written,
// so that the next Take returns them again.
func (c *Counter) Restore(m map[Cell]int64) {
	if len(m) == 0 {
		return
	}
	sh := &c.shards[0]
	sh.mu.Lock()
	for k, n := range m {
		sh.m[k] += n
	}
	sh.mu.Unlock()
}
