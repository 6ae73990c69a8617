package apikey_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// With a store outage grace, a node cut off from its database keeps
// verifying the keys it has cached, as of the feed's last sync; keys it
// does not know still need the store, and never come out valid.

// unreachable has the watcher lose its connection to a network failure, and
// every store read of a key fail the same way.
func (w *watchingStore) unreachable() {
	cut := fmt.Errorf("read tcp: %w", io.ErrUnexpectedEOF)
	w.Fail("GetAPIKeyByHash", cut)
	w.report(func(h auth.ChangeHandler) { h.FeedLost(cut) })
}

func TestAStoreOutageGraceKeepsCachedKeysVerifyingAndUnknownKeysFailClosed(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnvWithGrace(t, time.Minute)
	_, key := e.create(t, apikey.CreateParams{})
	_, notCached := e.create(t, apikey.CreateParams{})
	ws.synced(e.mono.Now())
	e.wantCode(t, key, apikey.CodeValid) // cached

	ws.unreachable()
	e.mono.Add(30 * time.Second) // well past FeedMaxAge, within the grace
	if n := e.readsFor(t, key, 3, apikey.CodeValid); n != 0 {
		t.Fatalf("3 verifications of a cached key during the grace read the store %d times, want 0", n)
	}
	for _, k := range []string{notCached, "sk_live_" + "unknownunknownunknownunknownunkn"} {
		if r, err := e.svc.Verify(context.Background(), k, nil); err == nil && r.Code == apikey.CodeValid {
			t.Fatalf("a key not cached before the outage verified as valid during it")
		}
	}

	// The grace runs out a minute after the last sync: fail closed.
	e.mono.Add(30*time.Second + auth.FeedMaxAge)
	if r, err := e.svc.Verify(context.Background(), key, nil); err == nil {
		t.Fatalf("after the grace, a cached key verified as %s without the store, want the store's error", r.Code)
	}
}

func TestWithoutAGraceAnUnreachableStoreFailsCachedKeysClosed(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnvWithGrace(t, 0)
	_, key := e.create(t, apikey.CreateParams{})
	ws.synced(e.mono.Now())
	e.wantCode(t, key, apikey.CodeValid)
	ws.unreachable()
	if r, err := e.svc.Verify(context.Background(), key, nil); err == nil {
		t.Fatalf("with store_outage_grace 0, a cached key verified as %s without the store", r.Code)
	}
}

func TestAFeedThatLagsWhileTheStoreAnswersGetsNoGrace(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnvWithGrace(t, time.Minute)
	_, key := e.create(t, apikey.CreateParams{})
	ws.synced(e.mono.Now())
	e.wantCode(t, key, apikey.CodeValid)
	ws.lost() // "connection reset" as text: not a network error the feed can tell
	e.mono.Add(auth.FeedMaxAge)
	if n := e.readsFor(t, key, 2, apikey.CodeValid); n != 2 {
		t.Fatalf("2 verifications with the feed lost for another reason read the store %d times, want 2", n)
	}
}

func TestAKeyRevokedElsewhereDuringTheOutageIsRefusedOnceTheFeedCatchesUp(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnvWithGrace(t, time.Minute)
	k, key := e.create(t, apikey.CreateParams{})
	ws.synced(e.mono.Now())
	e.wantCode(t, key, apikey.CodeValid)

	ws.unreachable()
	e.revokeElsewhere(t, k.ID) // a node that can still write revokes it
	e.wantCode(t, key, apikey.CodeValid)
	e.mono.Add(5 * time.Second)

	// The database is back: the watcher reconnects, replays what changed
	// since its last sync, then syncs.
	ws.Fail("GetAPIKeyByHash", nil)
	ws.changed(k.ID)
	ws.synced(e.mono.Now())
	e.wantCode(t, key, apikey.CodeRevoked)
}
