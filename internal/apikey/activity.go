package apikey

import (
	"sync"
	"sync/atomic"
	"time"
)

// activity collects, in memory, what the request path must not write to the
// store itself: last-used times and failure counts. The background loop
// takes them in batches (see Service.Flush).
type activity struct {
	touched [usageShards]touchShard
	failed  [usageShards]failShard
	// invalid counts INVALID results, which belong to no known key. It is
	// one atomic rather than a map entry because floods of garbage keys
	// all land here.
	invalid atomic.Int64
}

const usageShards = 16

type touchShard struct {
	mu sync.Mutex
	m  map[string]time.Time
}

type failKey struct {
	id   string
	code Code
}

type failShard struct {
	mu sync.RWMutex
	m  map[failKey]*atomic.Int64
}

func newActivity() *activity {
	u := &activity{}
	for i := range u.touched {
		u.touched[i].m = make(map[string]time.Time)
		u.failed[i].m = make(map[failKey]*atomic.Int64)
	}
	return u
}

func usageShard(id string) int {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % usageShards)
}

// touch records that key id was used at t.
func (u *activity) touch(id string, t time.Time) {
	sh := &u.touched[usageShard(id)]
	sh.mu.Lock()
	if old, ok := sh.m[id]; !ok || t.After(old) {
		sh.m[id] = t
	}
	sh.mu.Unlock()
}

// fail counts one failed verification of key id ("" when unknown).
func (u *activity) fail(id string, code Code) {
	if id == "" {
		u.invalid.Add(1)
		return
	}
	fk := failKey{id, code}
	sh := &u.failed[usageShard(id)]
	sh.mu.RLock()
	n := sh.m[fk]
	if n != nil {
		// Added under the read lock, so takeFailed (which swaps the map
		// under the write lock) never misses an increment.
		n.Add(1)
	}
	sh.mu.RUnlock()
	if n != nil {
		return
	}
	sh.mu.Lock()
	if n = sh.m[fk]; n == nil {
		n = new(atomic.Int64)
		sh.m[fk] = n
	}
	n.Add(1)
	sh.mu.Unlock()
}

// takeTouched removes and returns the recorded last-used times.
func (u *activity) takeTouched() map[string]time.Time {
	out := make(map[string]time.Time)
	for i := range u.touched {
		sh := &u.touched[i]
		sh.mu.Lock()
		m := sh.m
		if len(m) == 0 {
			sh.mu.Unlock()
			continue // keep the empty map, which others may be writing to
		}
		sh.m = make(map[string]time.Time)
		sh.mu.Unlock()
		for id, t := range m {
			out[id] = t
		}
	}
	return out
}

// takeFailed removes and returns the failure counts.
func (u *activity) takeFailed() map[failKey]int64 {
	out := make(map[failKey]int64)
	if n := u.invalid.Swap(0); n > 0 {
		out[failKey{"", CodeInvalid}] = n
	}
	for i := range u.failed {
		sh := &u.failed[i]
		sh.mu.Lock()
		m := sh.m
		if len(m) == 0 {
			sh.mu.Unlock()
			continue // keep the empty map, which others may be writing to
		}
		sh.m = make(map[failKey]*atomic.Int64)
		sh.mu.Unlock()
		for k, n := range m {
			out[k] = n.Load()
		}
	}
	return out
}

// restoreTouched puts back times that could not be written, so the next
// flush tries again.
func (u *activity) restoreTouched(m map[string]time.Time) {
	for id, t := range m {
		u.touch(id, t)
	}
}

// restoreFailed puts back counts that could not be written.
func (u *activity) restoreFailed(m map[failKey]int64) {
	for k, n := range m {
		if k.id == "" {
			u.invalid.Add(n)
			continue
		}
		sh := &u.failed[usageShard(k.id)]
		sh.mu.Lock()
		c := sh.m[k]
		if c == nil {
			c = new(atomic.Int64)
			sh.m[k] = c
		}
		c.Add(n)
		sh.mu.Unlock()
	}
}
