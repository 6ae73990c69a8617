package apikey

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// flights collapses concurrent store lookups of one hash into one: the
// first caller (the leader) reads the store, and the callers that arrive
// while it does wait for its answer instead of asking again. An answer is
// shared, never kept: a store error reaches every waiter, and the next
// caller asks the store afresh.
//
// A lookup that started before a change must not answer a verification
// that started after the change was made (Revoke promises the very next
// Verify refuses the key). So every flight records gen when it starts, and
// anything that changes a key (Invalidate, Create, a purge) bumps gen: a
// caller joins only a flight of the current generation, and otherwise starts
// a new one. Caching is not decided here: the leader's lookup still checks
// the caches' epochs before putting what it read.
type flights struct {
	gen atomic.Uint64

	mu sync.Mutex
	m  map[[sha256.Size]byte]*flight

	// joined, when set (by tests), is called by each caller that joins a
	// flight, once it is bound to that flight's answer.
	joined func()
}

// flight is one store lookup in progress. Its result fields are written by
// the leader before done is closed, and read by waiters after.
type flight struct {
	gen  uint64
	done chan struct{}

	key   *auth.APIKey
	entry *entry
	err   error
	// abandoned: the lookup failed because the leader's context ended, not
	// because of the store; a waiter whose own context is live asks again.
	abandoned bool
}

// errLookupPanicked is what waiters get when the leader's lookup panicked
// (the panic itself goes on in the leader).
var errLookupPanicked = errors.New("apikey: the store lookup panicked")

func newFlights() *flights {
	return &flights{m: make(map[[sha256.Size]byte]*flight)}
}

// invalidate keeps every lookup in progress from answering callers that
// arrive from now on.
func (g *flights) invalidate() { g.gen.Add(1) }

// do returns the answer of lookup for sum, running it unless a lookup of sum
// of the current generation is in progress, in which case it waits for that
// one (or for ctx, whose error it then returns).
func (g *flights) do(ctx context.Context, sum *[sha256.Size]byte, lookup func(context.Context) (*auth.APIKey, *entry, error)) (*auth.APIKey, *entry, error) {
	for {
		g.mu.Lock()
		if f := g.m[*sum]; f != nil && f.gen == g.gen.Load() {
			g.mu.Unlock()
			if g.joined != nil {
				g.joined()
			}
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			if f.abandoned && ctx.Err() == nil {
				continue // the leader gave up, not the store: ask again
			}
			return f.key, f.entry, f.err
		}
		f := &flight{gen: g.gen.Load(), done: make(chan struct{})}
		g.m[*sum] = f // replaces a flight of an older generation, if any
		g.mu.Unlock()
		return g.lead(ctx, sum, f, lookup)
	}
}

func (g *flights) lead(ctx context.Context, sum *[sha256.Size]byte, f *flight, lookup func(context.Context) (*auth.APIKey, *entry, error)) (*auth.APIKey, *entry, error) {
	f.err = errLookupPanicked // until lookup returns
	defer func() {
		g.mu.Lock()
		if g.m[*sum] == f {
			delete(g.m, *sum)
		}
		g.mu.Unlock()
		close(f.done)
	}()
	f.key, f.entry, f.err = lookup(ctx)
	f.abandoned = f.err != nil && ctx.Err() != nil
	return f.key, f.entry, f.err
}
