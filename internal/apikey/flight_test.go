package apikey

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestFlightsDoNotJoinALookupOfAnOlderGeneration(t *testing.T) {
	t.Parallel()
	g := newFlights()
	sum, k1 := cacheKey(1)
	_, k2 := cacheKey(2)
	started, release := make(chan struct{}), make(chan struct{})
	// A wrong join releases the first lookup, so the test fails rather
	// than hangs.
	g.joined = func() { close(release) }
	first := make(chan *auth.APIKey, 1)
	go func() {
		k, _, _ := g.do(context.Background(), &sum, func(context.Context) (*auth.APIKey, *entry, error) {
			close(started)
			<-release
			return k1, nil, nil
		})
		first <- k
	}()
	<-started
	g.invalidate()
	k, _, err := g.do(context.Background(), &sum, func(context.Context) (*auth.APIKey, *entry, error) {
		return k2, nil, nil
	})
	if err != nil || k != k2 {
		t.Fatalf("after invalidate, do returned %v, %v: the answer of a lookup that started before", k, err)
	}
	close(release)
	if k := <-first; k != k1 {
		t.Fatalf("the first lookup's caller got %v", k)
	}
	// Both lookups are over: nothing is kept.
	g.mu.Lock()
	n := len(g.m)
	g.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d flights left after every lookup returned", n)
	}
}

func TestFlightsWaitersOfAPanickingLookupGetAnError(t *testing.T) {
	t.Parallel()
	g := newFlights()
	sum, _ := cacheKey(1)
	started, joined := make(chan struct{}), make(chan struct{})
	g.joined = func() { close(joined) }
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		g.do(context.Background(), &sum, func(context.Context) (*auth.APIKey, *entry, error) {
			close(started)
			<-joined
			panic("store bug")
		})
	}()
	<-started
	_, _, err := g.do(context.Background(), &sum, func(context.Context) (*auth.APIKey, *entry, error) {
		t.Error("the waiter ran its own lookup")
		return nil, nil, nil
	})
	if !errors.Is(err, errLookupPanicked) {
		t.Fatalf("waiter got %v, want errLookupPanicked", err)
	}
	if p := <-panicked; p != "store bug" {
		t.Fatalf("the leader's panic became %v", p)
	}
}
