package client_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// handlerFeed is a change feed that hands the test the handler it gets.
type handlerFeed struct{ h auth.ChangeHandler }

func (f *handlerFeed) Subscribe(h auth.ChangeHandler, kinds ...auth.ChangeKind) {
	if len(kinds) != 1 || kinds[0] != auth.ChangeClient {
		panic("the client cache subscribed to other kinds than clients")
	}
	f.h = h
}

// countingStore counts the clients read from the store.
type countingStore struct {
	auth.ClientStore
	reads atomic.Int64
}

func (s *countingStore) GetClient(ctx context.Context, id string) (*auth.Client, error) {
	s.reads.Add(1)
	return s.ClientStore.GetClient(ctx, id)
}

// With a change feed (several nodes), a cached client answers only while
// the feed vouches for itself, and a client another node changed is
// dropped when the feed reports it.
func TestTheClientCacheFollowsTheChangeFeed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	feed := &handlerFeed{}
	store := &countingStore{ClientStore: e.db}
	r, err := client.New(client.Config{Store: store, Hasher: e.hasher, Now: e.clock.Now, Changes: feed})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := e.mustCreate(t, client.Input{Name: "svc", Scopes: []string{"read"}})
	// cached reports whether a Lookup after one that filled the cache was
	// answered from it.
	cached := func() bool {
		t.Helper()
		if _, err := r.Lookup(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		before := store.reads.Load()
		if _, err := r.Lookup(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		return store.reads.Load() == before
	}
	// fromCache reports whether the next Lookup is answered from the cache.
	fromCache := func() bool {
		t.Helper()
		before := store.reads.Load()
		if _, err := r.Lookup(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		return store.reads.Load() == before
	}
	if cached() {
		t.Fatal("a client answered from the cache before the feed first synced")
	}
	feed.h.FeedSynced(time.Now())
	if !cached() {
		t.Fatal("a client was not cached with the feed synced")
	}
	feed.h.Changed(auth.Change{Kind: auth.ChangeClient, ID: c.ID})
	if fromCache() {
		t.Fatal("a client changed on another node stayed in the cache")
	}
	if !fromCache() {
		t.Fatal("the client was not cached again")
	}
	feed.h.Changed(auth.Change{Kind: auth.ChangeClient}) // anything may have changed
	if fromCache() {
		t.Fatal("a change of any client left a client in the cache")
	}
	feed.h.FeedLost(errors.New("connection reset"))
	if cached() {
		t.Fatal("a client answered from the cache with the feed lost")
	}
}

// During a store outage grace (the database unreachable from this node) the
// cached clients answer as of the feed's last sync, and the feed's
// catch-up drops them all before the cache is trusted normally again.
func TestCachedClientsAnswerDuringAStoreOutageGrace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	feed := &handlerFeed{}
	store := &countingStore{ClientStore: e.db}
	r, err := client.New(client.Config{Store: store, Hasher: e.hasher, Now: e.clock.Now, Changes: feed})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := e.mustCreate(t, client.Input{Name: "svc", Scopes: []string{"read"}})
	feed.h.FeedSynced(time.Now())
	if _, err := r.Lookup(ctx, c.ID); err != nil { // cached
		t.Fatal(err)
	}
	feed.h.FeedLost(&changes.StoreOutage{Err: io.ErrUnexpectedEOF, Grace: time.Hour})
	before := store.reads.Load()
	if _, err := r.Lookup(ctx, c.ID); err != nil || store.reads.Load() != before {
		t.Fatalf("during the grace, a cached client was read from the store (err %v)", err)
	}
	// The database is back: the catch-up reports that any client may have
	// changed, then the feed syncs.
	feed.h.Changed(auth.Change{Kind: auth.ChangeClient})
	feed.h.FeedSynced(time.Now())
	if _, err := r.Lookup(ctx, c.ID); err != nil || store.reads.Load() != before+1 {
		t.Fatalf("after the outage, the client was not reread from the store (err %v)", err)
	}
}
