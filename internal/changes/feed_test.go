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
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
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

// fakeTimers stands for time.After: each call hands the test the duration
// asked for and the channel to fire.
type fakeTimers chan fakeTimer

type fakeTimer struct {
	d    time.Duration
	fire chan time.Time
}

func (f fakeTimers) after(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f <- fakeTimer{d, c}
	return c
}

// next returns the timer Run waits on next: Run has done what it does
// before waiting (wake its receiver or not).
func (f fakeTimers) next(t *testing.T, want time.Duration) fakeTimer {
	t.Helper()
	select {
	case tm := <-f:
		if tm.d != want {
			t.Fatalf("Run waits %v, want %v", tm.d, want)
		}
		return tm
	case <-time.After(5 * time.Second):
		t.Fatal("Run never waited")
		return fakeTimer{}
	}
}

func wokeUp(k *changes.Kick) bool {
	select {
	case <-k.C:
		return true
	default:
		return false
	}
}

// TestAKickWakesItsReceiverEveryFeedMaxAgeWhileTheFeedDoesNotVouch: a
// change may go unreported while the feed is lost (or silently dead), so
// the consumer rereads on its own then, as often as the key and client
// caches would read the store: the bound of auth.FeedMaxAge holds.
func TestAKickWakesItsReceiverEveryFeedMaxAgeWhileTheFeedDoesNotVouch(t *testing.T) {
	mono := testenv.NewClock(time.Unix(1_700_000_000, 0))
	timers := make(fakeTimers)
	k := changes.NewKick()
	k.SetClock(mono.Now, timers.after)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()

	// Before the feed first syncs, it vouches for nothing.
	timers.next(t, auth.FeedMaxAge)
	if !wokeUp(k) {
		t.Fatal("no wake-up before the feed first synced")
	}

	// A healthy feed syncs every half FeedMaxAge: no wake-up.
	k.FeedSynced(mono.Now())
	timers.next(t, auth.FeedMaxAge)
	mono.Add(auth.FeedMaxAge / 2)
	k.FeedSynced(mono.Now())
	tm := timers.next(t, auth.FeedMaxAge)
	if wokeUp(k) {
		t.Fatal("woke up while the feed vouched")
	}

	// Lost: a wake-up when the last sync stops vouching, and every
	// FeedMaxAge after, until the next sync.
	k.FeedLost(errors.New("connection reset"))
	mono.Add(auth.FeedMaxAge)
	tm.fire <- mono.Now()
	tm = timers.next(t, auth.FeedMaxAge)
	if !wokeUp(k) {
		t.Fatal("no wake-up once the lost feed stopped vouching")
	}
	mono.Add(auth.FeedMaxAge)
	tm.fire <- mono.Now()
	timers.next(t, auth.FeedMaxAge)
	if !wokeUp(k) {
		t.Fatal("no wake-up FeedMaxAge after the last one while the feed was lost")
	}
	k.FeedSynced(mono.Now())
	tm = timers.next(t, auth.FeedMaxAge)
	mono.Add(auth.FeedMaxAge - time.Millisecond)
	tm.fire <- mono.Now() // a timer of before the sync: Run waits the rest
	tm = timers.next(t, time.Millisecond)
	if wokeUp(k) {
		t.Fatal("woke up while the synced feed vouched again")
	}

	// A feed that goes silent without a FeedLost stops vouching too.
	mono.Add(time.Millisecond)
	tm.fire <- mono.Now()
	timers.next(t, auth.FeedMaxAge)
	if !wokeUp(k) {
		t.Fatal("no wake-up once a silent feed stopped vouching")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil once cancelled", err)
	}
}
