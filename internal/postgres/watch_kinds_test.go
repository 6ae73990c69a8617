package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/jackc/pgx/v5"
)

// allChanges is a ChangeHandler that passes on every change.
type allChanges chan auth.Change

func (c allChanges) Changed(ch auth.Change) { c <- ch }
func (allChanges) FeedSynced(time.Time)     {}
func (allChanges) FeedLost(error)           {}

// awaitChange waits for want, skipping other changes (other tests share
// the database's channel).
func awaitChange(t *testing.T, changes allChanges, want auth.Change) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-changes:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("the watcher never reported %+v", want)
		}
	}
}

// drain discards the changes reported so far.
func drain(changes allChanges) {
	for {
		select {
		case <-changes:
		default:
			return
		}
	}
}

// TestRevocationsAreNotifiedOnTheLegacyChannelToo: a node of the version
// before the change feed listens for revocations on a channel of its own,
// and must keep hearing them during a rolling upgrade.
func TestRevocationsAreNotifiedOnTheLegacyChannelToo(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, _ := testenv.PostgresSchema(t)
	writer := openDSN(t, dsn)
	old, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close(context.WithoutCancel(ctx))
	if _, err := old.Exec(ctx, "LISTEN "+pgx.Identifier{legacyRevocationChannel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := writer.RevokeToken(ctx, auth.RevokedToken{JTI: randomID(t, "jti"), RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := old.WaitForNotification(waitCtx); err != nil {
		t.Fatalf("an old node listening on %s heard no revocation: %v", legacyRevocationChannel, err)
	}
}

// TestWatchChangesReportsEveryKind: a node hears each kind of change that
// another node commits, and when its connection opens (the first time and
// after a cut) it is told that anything of every kind but API keys (which
// are replayed by ID) may have changed meanwhile.
func TestWatchChangesReportsEveryKind(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, schema := testenv.PostgresSchema(t)
	appName := "gh_kinds_" + schema[len(schema)-8:]
	writer := openDSN(t, dsn)
	node := openDSN(t, testenv.WithParams(t, dsn, map[string]string{"application_name": appName}))
	node.heartbeat = 100 * time.Millisecond // exercise the idle check too

	changes := make(allChanges, 1000)
	watchCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- node.WatchChanges(watchCtx, changes) }()
	opened := func() {
		t.Helper()
		for _, k := range auth.ChangeKinds {
			if k != auth.ChangeAPIKey {
				awaitChange(t, changes, auth.Change{Kind: k})
			}
		}
	}
	opened()

	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := writer.RevokeToken(ctx, auth.RevokedToken{JTI: randomID(t, "jti"), RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changes, auth.Change{Kind: auth.ChangeRevocation})
	// (That a rolled-back transaction notifies nothing cannot be checked
	// here: the channel is per database, and other tests change records
	// in their own schemas at the same time.)

	route := &auth.Route{Name: randomID(t, "route"), PathPrefix: "/" + randomID(t, "p"), Upstreams: []string{"http://127.0.0.1:1"},
		Policy: auth.PolicyAPIKey, CreatedAt: now, UpdatedAt: now}
	if err := writer.CreateRoute(ctx, route); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changes, auth.Change{Kind: auth.ChangeRoute, ID: route.Name})
	if err := writer.DeleteRoute(ctx, route.Name); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changes, auth.Change{Kind: auth.ChangeRoute, ID: route.Name})

	kid := randomID(t, "kid")
	key := &auth.SigningKey{ID: kid, Algorithm: "ES256", PublicJWK: []byte(`{"kty":"EC","crv":"P-256","kid":"` + kid + `"}`),
		PrivateKey: []byte{0, 1, 2}, CreatedAt: now, ActivatesAt: now}
	if err := writer.CreateSigningKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changes, auth.Change{Kind: auth.ChangeSigningKey, ID: kid})
	if err := writer.RetireSigningKey(ctx, kid, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changes, auth.Change{Kind: auth.ChangeSigningKey, ID: kid})

	// A node of the version before the change feed notifies key changes
	// on a channel of their own, with the bare ID.
	legacy := randomID(t, "key")
	if _, err := writer.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, legacyKeyChannel, legacy); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changes, auth.Change{Kind: auth.ChangeAPIKey, ID: legacy})
	// And revocations on theirs, without payload.
	drain(changes)
	if _, err := writer.pool.Exec(ctx, `SELECT pg_notify($1, '')`, legacyRevocationChannel); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changes, auth.Change{Kind: auth.ChangeRevocation})

	var cut int
	if err := writer.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, appName+watcherAppSuffix).Scan(&cut); err != nil || cut == 0 {
		t.Fatalf("terminate the watcher's connection: %d cut, %v", cut, err)
	}
	opened()

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchChanges = %v, want context.Canceled", err)
	}
}
