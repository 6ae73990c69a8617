// Package background runs a node's background work (key usage flushes,
// signing-key rotation, the revocation list, the change feed, the route
// watchers) under one contract, started and stopped in one place.
package background

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// Runner is one component's background work.
//
// Run works until ctx is done and then returns nil: a cancelled context is
// the one normal way to stop, and is not an error. Before returning it
// finishes what must not be lost (a last flush, with a context of its
// own), and it leaves no goroutine behind. Failures it can retry are
// logged and retried; a non-nil error means that it stopped for another
// reason and will not go on, which the node treats as fatal.
type Runner interface {
	Run(ctx context.Context) error
}

// Func makes a function a Runner.
type Func func(ctx context.Context) error

// Run calls f.
func (f Func) Run(ctx context.Context) error { return f(ctx) }

// Task is a Runner with a name for the log.
type Task struct {
	Name string
	Runner
}

// Group runs tasks until Stop.
type Group struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed chan error
}

// Start runs every task in a goroutine of its own, under a context
// derived from ctx without its cancellation (Stop cancels it). A task that
// returns an error is logged; the first such error is also delivered on
// Failed.
func Start(ctx context.Context, log *slog.Logger, tasks ...Task) *Group {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &Group{cancel: cancel, failed: make(chan error, 1)}
	for _, t := range tasks {
		g.wg.Go(func() {
			err := t.Run(ctx)
			if err == nil {
				return
			}
			err = fmt.Errorf("%s stopped: %w", t.Name, err)
			log.Error("background work stopped", "task", t.Name, "err", err)
			select {
			case g.failed <- err:
			default: // the first error is the one reported
			}
		})
	}
	return g
}

// Failed delivers the first error a task returned. A nil Group (nothing
// started) delivers nothing.
func (g *Group) Failed() <-chan error {
	if g == nil {
		return nil
	}
	return g.failed
}

// Stop cancels every task and waits until all have returned.
func (g *Group) Stop() {
	g.cancel()
	g.wg.Wait()
}
