package oauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// handlerFeed is a change feed that hands the test the handler it gets.
type handlerFeed struct{ h auth.ChangeHandler }

func (f *handlerFeed) Subscribe(h auth.ChangeHandler, kinds ...auth.ChangeKind) {
	if len(kinds) != 1 || kinds[0] != auth.ChangeClient {
		panic("the client cache subscribed to other kinds than clients")
	}
	f.h = h
}

// With a change feed (several nodes), a cached client answers only while
// the feed vouches for itself, and a client another node changed is
// dropped when the feed reports it.
func TestTheClientCacheFollowsTheChangeFeed(t *testing.T) {
	feed := &handlerFeed{}
	ts := newTestServer(t, func(c *Config) { c.Changes = feed })
	ctx := context.Background()
	c, _, err := ts.CreateClient(ctx, "adm_1", ClientInput{Name: "svc", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	cached := func() bool {
		t.Helper()
		if _, err := ts.lookupClient(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		_, ok := ts.tokens.clients.get(c.ID, ts.now())
		return ok
	}
	if cached() {
		t.Fatal("a client answered from the cache before the feed first synced")
	}
	feed.h.FeedSynced(time.Now())
	if !cached() {
		t.Fatal("a client was not cached with the feed synced")
	}
	feed.h.Changed(auth.Change{Kind: auth.ChangeClient, ID: c.ID})
	if _, ok := ts.tokens.clients.get(c.ID, ts.now()); ok {
		t.Fatal("a client changed on another node stayed in the cache")
	}
	if !cached() {
		t.Fatal("the client was not cached again")
	}
	feed.h.Changed(auth.Change{Kind: auth.ChangeClient}) // anything may have changed
	if _, ok := ts.tokens.clients.get(c.ID, ts.now()); ok {
		t.Fatal("a change of any client left a client in the cache")
	}
	feed.h.FeedLost(errors.New("connection reset"))
	if cached() {
		t.Fatal("a client answered from the cache with the feed lost")
	}
}
