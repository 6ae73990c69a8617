package changes_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
)

// recorder is a handler that records what it is told, as text.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.seen = append(r.seen, s)
	r.mu.Unlock()
}
func (r *recorder) Changed(c auth.Change) { r.add(string(c.Kind) + ":" + c.ID) }
func (r *recorder) FeedSynced(time.Time)  { r.add("synced") }
func (r *recorder) FeedLost(error)        { r.add("lost") }
func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// script is a watcher that plays one report list per call, then returns
// the error of that call (or waits for ctx on the last).
type script struct {
	calls [][]func(auth.ChangeHandler)
	n     int
	done  chan struct{} // closed when the last call has played its reports
}

func (s *script) WatchChanges(ctx context.Context, h auth.ChangeHandler) error {
	reports := s.calls[s.n]
	s.n++
	for _, r := range reports {
		r(h)
	}
	if s.n < len(s.calls) {
		return errors.New("connection reset")
	}
	close(s.done)
	<-ctx.Done()
	return ctx.Err()
}

func changed(kind auth.ChangeKind, id string) func(auth.ChangeHandler) {
	return func(h auth.ChangeHandler) { h.Changed(auth.Change{Kind: kind, ID: id}) }
}
func synced(h auth.ChangeHandler) { h.FeedSynced(time.Now()) }

func TestAFeedPassesEachChangeToTheHandlersOfItsKindAndItsStateToAll(t *testing.T) {
	w := &script{done: make(chan struct{}), calls: [][]func(auth.ChangeHandler){{
		changed(auth.ChangeAPIKey, "key_1"), changed(auth.ChangeRoute, "orders"), changed("newer_kind", "x"), synced,
	}}}
	feed := changes.New(w, nil)
	keys, routes := &recorder{}, &recorder{}
	feed.Subscribe(keys, auth.ChangeAPIKey)
	feed.Subscribe(routes, auth.ChangeRoute, auth.ChangeSigningKey)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	<-w.done
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil once cancelled", err)
	}
	if want := []string{"api_key:key_1", "synced", "lost"}; !slices.Equal(keys.got(), want) {
		t.Errorf("the key handler was told %q, want %q", keys.got(), want)
	}
	if want := []string{"route:orders", "synced", "lost"}; !slices.Equal(routes.got(), want) {
		t.Errorf("the route handler was told %q, want %q", routes.got(), want)
	}
}

func TestARestartedWatchTellsEveryHandlerThatAnythingOfItsKindsMayHaveChanged(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the restart backoff (1 s)")
	}
	w := &script{done: make(chan struct{}), calls: [][]func(auth.ChangeHandler){
		{synced}, // then the connection fails
		{changed(auth.ChangeAPIKey, "key_2"), synced}, // the new watch
	}}
	feed := changes.New(w, nil)
	keys := &recorder{}
	feed.Subscribe(keys, auth.ChangeAPIKey)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	<-w.done
	cancel()
	<-done
	want := []string{"synced", "lost", "api_key:", "api_key:key_2", "synced", "lost"}
	if !slices.Equal(keys.got(), want) {
		t.Errorf("the handler was told %q, want %q", keys.got(), want)
	}
}

func TestAKickWakesItsReceiverOnceForAnyNumberOfChanges(t *testing.T) {
	k := changes.NewKick()
	for range 3 {
		k.Changed(auth.Change{Kind: auth.ChangeRoute, ID: "r"})
	}
	<-k.C
	select {
	case <-k.C:
		t.Fatal("three changes before the receiver woke made more than one wake-up")
	default:
	}
}
