package apikey_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// With a store that reports other nodes' key changes, the cache answers
// only while that feed is known complete: otherwise a key revoked on
// another node could be accepted here from the cache.

// readsFor returns how many store lookups by hash verifying key n times costs.
func (e *env) readsFor(t *testing.T, key string, n int, want apikey.Code) int {
	t.Helper()
	before := e.store.Calls("GetAPIKeyByHash")
	for range n {
		e.wantCode(t, key, want)
	}
	return e.store.Calls("GetAPIKeyByHash") - before
}

// revokeElsewhere revokes the key in the store, as another node would: this
// node hears of it only through its feed.
func (e *env) revokeElsewhere(t *testing.T, id string) {
	t.Helper()
	if _, err := e.db.RevokeAPIKey(context.Background(), id, e.clock.Now(), auth.AuditEvent{Type: auth.EventKeyRevoked, Actor: "key_admin", KeyID: id, Count: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestEveryVerificationReadsTheStoreUntilTheChangeFeedFirstSyncs(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	if n := e.readsFor(t, key, 3, apikey.CodeValid); n != 3 {
		t.Fatalf("3 verifications before the feed synced read the store %d times, want 3", n)
	}
	ws.synced(e.mono.Now())
	if n := e.readsFor(t, key, 3, apikey.CodeValid); n != 0 {
		t.Fatalf("3 verifications of a cached key with the feed synced read the store %d times, want 0", n)
	}
}

func TestALostChangeFeedMakesCachedKeysReadTheStoreUntilItIsSyncedAgain(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnv(t)
	revoked, revokedKey := e.create(t, apikey.CreateParams{})
	_, key := e.create(t, apikey.CreateParams{})
	ws.synced(e.mono.Now())
	e.readsFor(t, revokedKey, 1, apikey.CodeValid) // cached
	e.readsFor(t, key, 1, apikey.CodeValid)        // cached

	// Revoked elsewhere, and the notification lost with the connection.
	e.revokeElsewhere(t, revoked.ID)
	ws.lost()
	if n := e.readsFor(t, revokedKey, 1, apikey.CodeRevoked); n != 1 {
		t.Fatalf("the revoked key's verification read the store %d times, want 1", n)
	}
	if n := e.readsFor(t, key, 3, apikey.CodeValid); n != 3 {
		t.Fatalf("3 verifications with the feed lost read the store %d times, want 3", n)
	}

	// Reconnected: the watcher replays what changed, then says it is
	// caught up; the cache answers again.
	ws.changed(revoked.ID)
	ws.synced(e.mono.Now())
	if n := e.readsFor(t, key, 3, apikey.CodeValid); n != 0 {
		t.Fatalf("3 verifications with the feed synced again read the store %d times, want 0", n)
	}
	e.wantCode(t, revokedKey, apikey.CodeRevoked)
}

func TestACachedKeyIsNotTrustedLongerThanFeedMaxAgeAfterTheLastSync(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	ws.synced(e.mono.Now())
	e.readsFor(t, key, 1, apikey.CodeValid)

	// A connection that died without a word sends no FeedLost; its
	// silence is enough.
	e.mono.Add(auth.FeedMaxAge - time.Nanosecond)
	if n := e.readsFor(t, key, 1, apikey.CodeValid); n != 0 {
		t.Fatalf("a verification just within FeedMaxAge read the store %d times, want 0", n)
	}
	e.mono.Add(time.Nanosecond)
	if n := e.readsFor(t, key, 2, apikey.CodeValid); n != 2 {
		t.Fatalf("2 verifications FeedMaxAge after the last sync read the store %d times, want 2", n)
	}
	ws.synced(e.mono.Now())
	if n := e.readsFor(t, key, 2, apikey.CodeValid); n != 0 {
		t.Fatalf("2 verifications after a new sync read the store %d times, want 0", n)
	}
}

func TestAWallClockSteppedBackDoesNotStretchTheFeedsTrust(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	ws.synced(e.mono.Now())
	e.readsFor(t, key, 1, apikey.CodeValid)

	// NTP steps the wall clock back an hour while a second passes without
	// a word from the feed: the second is what counts.
	e.clock.Add(-time.Hour)
	e.mono.Add(auth.FeedMaxAge)
	if n := e.readsFor(t, key, 2, apikey.CodeValid); n != 2 {
		t.Fatalf("2 verifications FeedMaxAge after the last sync, the wall clock stepped back, read the store %d times, want 2", n)
	}
}

func TestAFeedSyncedAtAFutureTimeVouchesOnlyFromTheCall(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	// An at later than the call (a wall clock stepped forward, read
	// without a monotonic reading) counts as the time of the call.
	ws.synced(e.mono.Now().Add(time.Hour))
	e.readsFor(t, key, 1, apikey.CodeValid)
	if n := e.readsFor(t, key, 1, apikey.CodeValid); n != 0 {
		t.Fatalf("a verification of a cached key just after the sync read the store %d times, want 0", n)
	}
	e.clock.Add(auth.FeedMaxAge)
	e.mono.Add(auth.FeedMaxAge)
	if n := e.readsFor(t, key, 2, apikey.CodeValid); n != 2 {
		t.Fatalf("2 verifications FeedMaxAge after a sync dated an hour ahead read the store %d times, want 2", n)
	}
}

func TestWithTheChangeFeedLostAnUnreachableStoreFailsVerificationClosed(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	ws.synced(e.mono.Now())
	e.wantCode(t, key, apikey.CodeValid) // cached

	unavailable := auth.Errorf(auth.EUNAVAILABLE, "The database is unavailable; try again later.")
	e.store.Fail("GetAPIKeyByHash", unavailable)
	e.wantCode(t, key, apikey.CodeValid) // the feed vouches for the cache
	ws.lost()
	r, err := e.svc.Verify(context.Background(), key, nil)
	if auth.ErrorCode(err) != auth.EUNAVAILABLE || r.Valid() {
		t.Fatalf("Verify without feed or store = %s, %v; want an %s error", r.Code, err, auth.EUNAVAILABLE)
	}
}

func TestTheChangeFeedGaugeSaysWhetherTheCacheIsTrusted(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e, ws := newWatchedEnv(t, func(c *apikey.Config) { c.Registerer = reg })
	up := func() float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range families {
			if mf.GetName() == "gatehouse_apikey_change_feed_up" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no gatehouse_apikey_change_feed_up")
		return 0
	}
	if v := up(); v != 0 {
		t.Fatalf("before the first sync: %v, want 0", v)
	}
	ws.synced(e.mono.Now())
	if v := up(); v != 1 {
		t.Fatalf("synced: %v, want 1", v)
	}
	e.mono.Add(auth.FeedMaxAge)
	if v := up(); v != 0 {
		t.Fatalf("FeedMaxAge after the last sync: %v, want 0", v)
	}
	ws.synced(e.mono.Now())
	ws.lost()
	if v := up(); v != 0 {
		t.Fatalf("lost: %v, want 0", v)
	}
}

func TestAStoreWithoutChangeFeedHasNoFeedGauge(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	newEnv(t, func(c *apikey.Config) { c.Registerer = reg })
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == "gatehouse_apikey_change_feed_up" {
			t.Fatal("gatehouse_apikey_change_feed_up is exported for a store without a change feed")
		}
	}
}
