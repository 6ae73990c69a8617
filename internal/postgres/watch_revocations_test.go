package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestWatchRevocations: a node hears every committed revocation of another
// node at once, and is told to reread the list when its connection opens
// again after a cut.
func TestWatchRevocations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, schema := testenv.PostgresSchema(t)
	appName := "gh_revoke_" + schema[len(schema)-8:]
	writer := openDSN(t, dsn)
	node := openDSN(t, testenv.WithParams(t, dsn, map[string]string{"application_name": appName}))
	node.heartbeat = 100 * time.Millisecond // exercise the idle check too

	calls := make(chan struct{}, 100)
	watchCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- node.WatchRevocations(watchCtx, func() { calls <- struct{}{} }) }()
	await := func(what string) {
		t.Helper()
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("no call for %s", what)
		}
	}
	await("the connection opening")

	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := writer.RevokeToken(ctx, auth.RevokedToken{JTI: randomID(t, "jti"), RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	await("a revoked token")
	if _, err := writer.RevokeFamily(ctx, randomID(t, "fam"), now); err != nil {
		t.Fatal(err)
	}
	await("a revoked family")
	// (That a rolled-back transaction notifies nothing cannot be checked
	// here: the channel is per database, and other tests revoke in their
	// own schemas at the same time.)

	var cut int
	if err := writer.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, appName+watcherAppSuffix).Scan(&cut); err != nil || cut == 0 {
		t.Fatalf("terminate the watcher's connection: %d cut, %v", cut, err)
	}
	await("the connection opening again")

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchRevocations = %v, want context.Canceled", err)
	}
}
