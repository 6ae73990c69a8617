package background_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/background"
)

func TestStopCancelsEveryTaskAndWaitsForAll(t *testing.T) {
	var stopped atomic.Int32
	task := background.Func(func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond) // a last flush
		stopped.Add(1)
		return nil
	})
	g := background.Start(t.Context(), slog.New(slog.DiscardHandler),
		background.Task{Name: "one", Runner: task}, background.Task{Name: "two", Runner: task})
	g.Stop()
	if n := stopped.Load(); n != 2 {
		t.Fatalf("Stop returned with %d of 2 tasks finished", n)
	}
	select {
	case err := <-g.Failed():
		t.Fatalf("tasks that stopped on cancellation reported %v", err)
	default:
	}
}

func TestTheFirstTaskThatStopsWithAnErrorIsReportedByName(t *testing.T) {
	broken := errors.New("store closed")
	g := background.Start(t.Context(), slog.New(slog.DiscardHandler),
		background.Task{Name: "change feed", Runner: background.Func(func(context.Context) error { return broken })},
		background.Task{Name: "flush", Runner: background.Func(func(ctx context.Context) error { <-ctx.Done(); return nil })})
	defer g.Stop()
	select {
	case err := <-g.Failed():
		if !errors.Is(err, broken) || err.Error() != "change feed stopped: store closed" {
			t.Fatalf("Failed delivered %q", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the failed task was never reported")
	}
}

func TestANilGroupReportsNoFailure(t *testing.T) {
	var g *background.Group
	if g.Failed() != nil {
		t.Fatal("a group never started delivers failures")
	}
}

// Cancelling the context Start was given does not stop the tasks: only
// Stop does, so that the context a node was started with cannot end its
// background work behind Close's back.
func TestTasksOutliveTheStartContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	taskCtx := make(chan context.Context, 1)
	g := background.Start(ctx, slog.New(slog.DiscardHandler), background.Task{Name: "t", Runner: background.Func(func(ctx context.Context) error {
		taskCtx <- ctx
		<-ctx.Done()
		return nil
	})})
	tctx := <-taskCtx
	cancel()
	if tctx.Err() != nil {
		t.Fatal("cancelling the start context cancelled the task")
	}
	g.Stop()
	if tctx.Err() == nil {
		t.Fatal("Stop did not cancel the task")
	}
}
