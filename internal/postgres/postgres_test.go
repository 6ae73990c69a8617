package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/jackc/pgx/v5"
)

func openDSN(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	// Registered after PostgresSchema's cleanup, so it runs before the schema
	// is dropped.
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
}

func TestRegistrationStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunRegistration(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
}

func TestOAuthStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunOAuth(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
	storetest.RunRoutes(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
}

func TestDeviceGrantStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunDeviceGrants(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
}

func TestPasswordResetStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunPasswordResets(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
}

func TestWebhookStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunWebhooks(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
}

func TestMFAStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunMFA(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
}

func testKey(id string) *auth.APIKey {
	h := make([]byte, 32)
	copy(h, "hash:"+id)
	return &auth.APIKey{
		ID:        id,
		Hash:      h,
		Prefix:    "sk_test_",
		Hint:      "wxyz",
		Owner:     "サービス 😀",
		Name:      "'; DROP TABLE api_keys; --",
		Scopes:    []string{"a", "b"},
		Metadata:  map[string]string{"k": "v"},
		RateLimit: auth.RateLimit{Rate: 2.5, Burst: 5},
		CreatedAt: time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC),
		ExpiresAt: time.Date(2031, 1, 2, 3, 4, 5, 1000, time.UTC),
	}
}

// insertOldKey writes k with the columns of version 1, as a node of that
// version would (today's CreateAPIKey writes columns added since).
func insertOldKey(ctx context.Context, db *DB, k *auth.APIKey) error {
	metadata, err := mapJSON(k.Metadata)
	if err != nil {
		return err
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO api_keys (id, hash, prefix, hint, owner, name, scopes, metadata,
		rate_limit_rate, rate_limit_burst, rotation_period_ns, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		k.ID, k.Hash, k.Prefix, k.Hint, k.Owner, k.Name, k.Scopes, metadata,
		k.RateLimit.Rate, k.RateLimit.Burst, int64(k.RotationPeriod), timeValue(k.CreatedAt), timeValue(k.ExpiresAt))
	return err
}

func TestMigrateFromVersion1KeepsKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, schema := testenv.PostgresSchema(t)
	old, err := open(ctx, dsn, 1)
	if err != nil {
		t.Fatalf("open at version 1: %v", err)
	}
	var exists bool
	if err := old.pool.QueryRow(ctx, `SELECT to_regclass('audit_events') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("audit_events at version 1: exists %v, err %v; want absent", exists, err)
	}
	k := testKey("key_1")
	// Version 1 has no audit log, so the key goes in without events.
	if err := insertOldKey(ctx, old, k); err != nil {
		t.Fatalf("CreateAPIKey at version 1: %v", err)
	}
	old.Close()

	db := openDSN(t, dsn)
	var version int64
	if err := db.pool.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil || version != latestMigration(t) {
		t.Fatalf("schema version = %d, %v; want %d", version, err, latestMigration(t))
	}
	// Everything landed in the test's schema, nowhere else.
	var where string
	if err := db.pool.QueryRow(ctx, `SELECT schemaname FROM pg_tables WHERE tablename = 'audit_events' AND schemaname = $1`, schema).Scan(&where); err != nil {
		t.Fatalf("audit_events is not in schema %s: %v", schema, err)
	}
	got, err := db.GetAPIKey(ctx, k.ID)
	if err != nil {
		t.Fatalf("GetAPIKey after migrating: %v", err)
	}
	if got.Name != k.Name || got.Owner != k.Owner || !got.CreatedAt.Equal(k.CreatedAt) || string(got.Hash) != string(k.Hash) {
		t.Fatalf("key after migrating = %+v, want %+v", got, k)
	}
	if _, err := db.RevokeAPIKey(ctx, k.ID, k.CreatedAt.Add(time.Hour),
		auth.AuditEvent{Time: k.CreatedAt, Type: auth.EventKeyRevoked, Actor: "key_admin", KeyID: k.ID, Count: 1}); err != nil {
		t.Fatalf("RevokeAPIKey after migrating: %v", err)
	}
}

func TestMigrateFromVersion2KeepsKeysAndEvents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, _ := testenv.PostgresSchema(t)
	old, err := open(ctx, dsn, 2)
	if err != nil {
		t.Fatalf("open at version 2: %v", err)
	}
	var exists bool
	if err := old.pool.QueryRow(ctx, `SELECT to_regclass('oauth_clients') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("oauth_clients at version 2: exists %v, err %v; want absent", exists, err)
	}
	k := testKey("key_1")
	// The key and an event with the columns of that version (the event's
	// target comes with version 13).
	ev := auth.AuditEvent{Time: k.CreatedAt, Type: auth.EventKeyVerificationFailed, Actor: "key_admin", KeyID: k.ID, Count: 1}
	if err := insertOldKey(ctx, old, k); err != nil {
		t.Fatalf("CreateAPIKey at version 2: %v", err)
	}
	if _, err := old.pool.Exec(ctx, `INSERT INTO audit_events (occurred_at, type, actor, key_id, count)
		VALUES ($1, $2, $3, $4, $5)`, timeValue(ev.Time), ev.Type, ev.Actor, ev.KeyID, ev.Count); err != nil {
		t.Fatalf("insert an event at version 2: %v", err)
	}
	old.Close()

	db := openDSN(t, dsn)
	var version int64
	if err := db.pool.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil || version != latestMigration(t) {
		t.Fatalf("schema version = %d, %v; want %d", version, err, latestMigration(t))
	}
	got, err := db.GetAPIKey(ctx, k.ID)
	if err != nil {
		t.Fatalf("GetAPIKey after migrating: %v", err)
	}
	if got.Name != k.Name || string(got.Hash) != string(k.Hash) {
		t.Fatalf("key after migrating = %+v, want %+v", got, k)
	}
	// The OAuth tables work, and audit IDs keep increasing past the old
	// events.
	c := &auth.Client{ID: "cli_1", Name: "app", AuthMethod: auth.AuthMethodNone, Public: true, CreatedAt: k.CreatedAt}
	if err := db.CreateClient(ctx, c, auth.AuditEvent{Time: k.CreatedAt, Type: auth.EventClientCreated, Actor: "key_admin", Count: 1}); err != nil {
		t.Fatalf("CreateClient after migrating: %v", err)
	}
	if _, err := db.GetClient(ctx, c.ID); err != nil {
		t.Fatalf("GetClient after migrating: %v", err)
	}
	events, _, err := db.ListAuditEvents(ctx, auth.AuditFilter{})
	if err != nil || len(events) != 2 || events[0].KeyID != k.ID || events[1].ID <= events[0].ID {
		t.Fatalf("events after migrating = %+v, %v; want the old one then the new one", events, err)
	}
}

// TestMigrateFromVersion4KeepsSessions: a session signed in before the
// user agent and address were recorded survives the migration that adds
// them, with both empty, and new sessions record them.
func TestMigrateFromVersion4KeepsSessions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, _ := testenv.PostgresSchema(t)
	old, err := open(ctx, dsn, 4)
	if err != nil {
		t.Fatalf("open at version 4: %v", err)
	}
	created := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	// CreateSession writes the new columns: insert as version 4 did.
	if _, err := old.pool.Exec(ctx, `INSERT INTO oauth_sessions (hash, user_id, auth_time, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, []byte("old session"), "usr_1", timeValue(created), timeValue(created), timeValue(created.Add(time.Hour))); err != nil {
		t.Fatalf("insert a session at version 4: %v", err)
	}
	old.Close()

	db := openDSN(t, dsn)
	got, err := db.GetSession(ctx, []byte("old session"), created)
	if err != nil {
		t.Fatalf("GetSession after migrating: %v", err)
	}
	if got.UserID != "usr_1" || !got.CreatedAt.Equal(created) || got.UserAgent != "" || got.Address != "" {
		t.Fatalf("session after migrating = %+v", got)
	}
	s := &auth.Session{Hash: []byte("new session"), UserID: "usr_1", ExpiresAt: created.Add(time.Hour), UserAgent: "curl/8.5.0", Address: "192.0.2.1"}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatalf("CreateSession after migrating: %v", err)
	}
	if got, err := db.GetSession(ctx, s.Hash, created); err != nil || got.UserAgent != s.UserAgent || got.Address != s.Address {
		t.Fatalf("new session after migrating = %+v, %v", got, err)
	}
}

func TestConcurrentOpensMigrateOnce(t *testing.T) {
	t.Parallel()
	dsn, _ := testenv.PostgresSchema(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			db, err := Open(t.Context(), dsn)
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("Open: %v", err)
		}
	}
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	const password = "s3cret-Pa55"
	for _, dsn := range []string{
		"postgres://gatehouse:" + password + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=2",
		"postgres://gatehouse:" + password + "@127.0.0.1:1/test?sslmode=bogus",
		"host=127.0.0.1 port=1 user=gatehouse password=" + password + " sslmode=disable connect_timeout=2",
		"host=127.0.0.1 port=nope password=" + password,
	} {
		_, err := Open(t.Context(), dsn)
		if err == nil {
			t.Fatalf("Open succeeded on a closed port")
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("Open error reveals the password: %v", err)
		}
	}
}

func TestOpenWithMissingSchemaFails(t *testing.T) {
	t.Parallel()
	testenv.PostgresSchema(t) // skips when PostgreSQL is unreachable
	dsn := testenv.WithParams(t, testenv.PostgresDSN(), map[string]string{"search_path": "gatehouse_test_does_not_exist"})
	if db, err := Open(t.Context(), dsn); err == nil {
		db.Close()
		t.Fatal("Open succeeded with a search_path naming no existing schema")
	}
}

// watcher runs WatchChanges on db and collects the IDs it reports.
type watcher struct {
	ids    chan string
	done   chan error
	cancel context.CancelFunc
}

func startWatcher(t *testing.T, db *DB) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	// Buffered: the watcher reports each key twice (on both channels, see
	// legacyKeyChannel), and other tests' keys too, while the test may be
	// looking elsewhere; a handler must not hold the watcher up.
	w := &watcher{ids: make(chan string, 10000), done: make(chan error, 1), cancel: cancel}
	go func() {
		w.done <- db.WatchChanges(ctx, keyChanges(func(id string) {
			select {
			case w.ids <- id:
			case <-ctx.Done():
			}
		}))
	}()
	t.Cleanup(cancel)
	return w
}

// await waits for id, failing if any ID in forbidden arrives first. IDs of
// other tests sharing the database are skipped.
func (w *watcher) await(t *testing.T, id string, forbidden ...string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case got := <-w.ids:
			if got == id {
				return
			}
			for _, f := range forbidden {
				if got == f {
					t.Fatalf("watcher reported %q, a change that was rolled back", got)
				}
			}
		case err := <-w.done:
			t.Fatalf("watcher stopped waiting for %q: %v", id, err)
		case <-timeout:
			t.Fatalf("watcher did not report %q", id)
		}
	}
}

// awaitListening sends probe notifications until the watcher reports one,
// which proves it is listening, so that later changes cannot be missed.
func (w *watcher) awaitListening(t *testing.T, db *DB, probe string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(15 * time.Second)
	for {
		if _, err := db.pool.Exec(t.Context(), `SELECT pg_notify($1, $2)`, notifyChannel, "api_key:"+probe); err != nil {
			t.Fatalf("notify: %v", err)
		}
	wait:
		for {
			select {
			case got := <-w.ids:
				if got == probe {
					return
				}
			case err := <-w.done:
				t.Fatalf("watcher stopped: %v", err)
			case <-timeout:
				t.Fatal("watcher never started listening")
			case <-tick.C:
				break wait // notify again: the last one may have come too early
			}
		}
	}
}

// stopped waits for WatchChanges to return and gives its error,
// draining IDs meanwhile so that fn never blocks it.
func (w *watcher) stopped(t *testing.T) error {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case <-w.ids:
		case err := <-w.done:
			return err
		case <-timeout:
			t.Fatal("WatchChanges did not return")
		}
	}
}

func randomID(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

func TestWatchChanges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, schema := testenv.PostgresSchema(t)
	// Each DB stands for one node; the application name lets the test find
	// the watcher's connection to cut it.
	appName := "gh_watch_" + schema[len(schema)-8:]
	watcherApp := appName + watcherAppSuffix
	writer := openDSN(t, dsn)
	node := openDSN(t, testenv.WithParams(t, dsn, map[string]string{"application_name": appName}))
	node.heartbeat = 100 * time.Millisecond // exercise the idle check
	var log testenv.SyncBuffer
	node.Logger = slog.New(slog.NewTextHandler(&log, nil))
	// What to do when the watcher reconnects, set by a subtest; each hook
	// runs once.
	var reconnecting atomic.Pointer[func()]
	node.beforeReconnect = func() {
		if f := reconnecting.Swap(nil); f != nil {
			(*f)()
		}
	}
	w := startWatcher(t, node)
	w.awaitListening(t, writer, randomID(t, "probe"))

	// Keys with random IDs: the channel is shared with other tests.
	a, b, c := testKey(randomID(t, "key_a")), testKey(randomID(t, "key_b")), testKey(randomID(t, "key_c"))
	for _, k := range []*auth.APIKey{a, b, c} {
		if err := writer.CreateAPIKey(ctx, k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
	}

	t.Run("a revocation on one node is seen by another", func(t *testing.T) {
		if _, err := writer.RevokeAPIKey(ctx, a.ID, time.Now()); err != nil {
			t.Fatalf("RevokeAPIKey: %v", err)
		}
		w.await(t, a.ID)
	})

	t.Run("a rolled-back rotation is not seen", func(t *testing.T) {
		// The new key collides with c, so the rotation of b fails after its
		// notification was queued.
		next := testKey(randomID(t, "key_next"))
		next.Hash = c.Hash
		_, err := writer.RotateAPIKey(ctx, b.ID, next, time.Now())
		if auth.ErrorCode(err) != auth.ECONFLICT {
			t.Fatalf("RotateAPIKey = %v, want ECONFLICT", err)
		}
		// Notifications from one session arrive in commit order: had b's
		// been delivered, it would come before c's.
		if _, err := writer.RevokeAPIKey(ctx, c.ID, time.Now()); err != nil {
			t.Fatalf("RevokeAPIKey: %v", err)
		}
		w.await(t, c.ID, b.ID)
	})

	t.Run("a committed rotation is seen", func(t *testing.T) {
		if _, err := writer.RotateAPIKey(ctx, b.ID, testKey(randomID(t, "key_next")), time.Now()); err != nil {
			t.Fatalf("RotateAPIKey: %v", err)
		}
		w.await(t, b.ID)
	})

	t.Run("idle checks keep the connection", func(t *testing.T) {
		// The watcher asks the server for its time every heartbeat; wait
		// until its connection shows that as its last statement.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		timeout := time.After(15 * time.Second)
		for pinged := false; !pinged; {
			err := writer.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
				WHERE application_name = $1 AND query = 'SELECT clock_timestamp()')`, watcherApp).Scan(&pinged)
			if err != nil {
				t.Fatalf("pg_stat_activity: %v", err)
			}
			select {
			case <-tick.C:
			case <-timeout:
				t.Fatal("the watcher never checked its idle connection")
			}
		}
		if _, err := writer.RevokeAPIKey(ctx, b.ID, time.Now()); err != nil {
			t.Fatalf("RevokeAPIKey: %v", err)
		}
		w.await(t, b.ID)
		if l := log.String(); l != "" {
			t.Fatalf("the watcher reconnected without cause:\n%s", l)
		}
	})

	t.Run("a change made while the connection is down is reported after reconnecting", func(t *testing.T) {
		d, e := testKey(randomID(t, "key_d")), testKey(randomID(t, "key_e"))
		for _, k := range []*auth.APIKey{d, e} {
			if err := writer.CreateAPIKey(ctx, k); err != nil {
				t.Fatalf("CreateAPIKey: %v", err)
			}
		}
		// d is revoked after the watcher's connection failed and before it
		// reconnects: no notification can reach it, only the catch-up.
		revoked := make(chan error, 1)
		revoke := func() {
			_, err := writer.RevokeAPIKey(ctx, d.ID, time.Now())
			revoked <- err
		}
		reconnecting.Store(&revoke)
		var cut int
		err := writer.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1`, watcherApp).Scan(&cut)
		if err != nil || cut == 0 {
			t.Fatalf("terminate the watcher's connection: %d cut, %v", cut, err)
		}
		w.await(t, d.ID)
		if err := <-revoked; err != nil {
			t.Fatalf("RevokeAPIKey while disconnected: %v", err)
		}
		if l := log.String(); !strings.Contains(l, "reconnecting") {
			t.Errorf("the reconnection was not logged; log:\n%s", l)
		}
		// And notifications flow again on the new connection.
		if _, err := writer.RevokeAPIKey(ctx, e.ID, time.Now()); err != nil {
			t.Fatalf("RevokeAPIKey: %v", err)
		}
		w.await(t, e.ID)
	})

	t.Run("the watcher stops when its context is done", func(t *testing.T) {
		w.cancel()
		if err := w.stopped(t); err != context.Canceled {
			t.Fatalf("WatchChanges returned %v, want context.Canceled", err)
		}
	})
}

// A node caches keys as soon as it starts, while its watcher is still
// connecting: a change made in that window must be reported too.
func TestWatchReportsChangesMadeBeforeItListens(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, _ := testenv.PostgresSchema(t)
	writer := openDSN(t, dsn)
	node := openDSN(t, dsn)
	k := testKey(randomID(t, "key_early"))
	if err := writer.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	var once sync.Once
	node.beforeListen = func() {
		once.Do(func() {
			if _, err := writer.RevokeAPIKey(ctx, k.ID, time.Now()); err != nil {
				t.Errorf("RevokeAPIKey: %v", err)
			}
		})
	}
	w := startWatcher(t, node)
	w.await(t, k.ID)
}

func TestWatchStopsWhenClosed(t *testing.T) {
	t.Parallel()
	dsn, _ := testenv.PostgresSchema(t)
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	w := startWatcher(t, db)
	w.awaitListening(t, db, randomID(t, "probe"))
	db.Close()
	if err := w.stopped(t); err == nil || err == context.Canceled {
		t.Fatalf("WatchChanges after Close returned %v, want a store-closed error", err)
	}
}

// PostgreSQL cannot hold a NUL in text; a lookup with one is the caller's
// mistake, never a server fault.
func TestLookupsWithNULAreNotInternalErrors(t *testing.T) {
	t.Parallel()
	dsn, _ := testenv.PostgresSchema(t)
	db := openDSN(t, dsn)
	ctx := t.Context()
	if _, err := db.GetAPIKey(ctx, "key_\x00"); auth.ErrorCode(err) == auth.EINTERNAL {
		t.Errorf("GetAPIKey: %v", err)
	}
	if _, _, err := db.ListAPIKeys(ctx, auth.APIKeyFilter{Owner: "a\x00b"}); auth.ErrorCode(err) == auth.EINTERNAL {
		t.Errorf("ListAPIKeys: %v", err)
	}
	if _, _, err := db.ListAuditEvents(ctx, auth.AuditFilter{KeyID: "\x00"}); auth.ErrorCode(err) == auth.EINTERNAL {
		t.Errorf("ListAuditEvents: %v", err)
	}
}

// rotationInFlight is what RotateRefreshToken writes to the family of
// first, held uncommitted on a connection of its own: a second refresh
// token and its access token.
type rotationInFlight struct {
	tx   pgx.Tx
	pid  int32
	next *auth.RefreshToken
}

func startRotation(t *testing.T, db *DB, first *auth.RefreshToken, jti string) *rotationInFlight {
	t.Helper()
	ctx := t.Context()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	r := &rotationInFlight{tx: tx}
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&r.pid); err != nil {
		t.Fatalf("pg_backend_pid: %v", err)
	}
	next := *first
	next.Hash = append([]byte("next:"), first.Hash...)
	r.next = &next
	if err := joinFamily(ctx, tx, first.FamilyID, first.CreatedAt); err != nil {
		t.Fatalf("joinFamily: %v", err)
	}
	if err := insertRefresh(ctx, tx, &next); err != nil {
		t.Fatalf("insertRefresh: %v", err)
	}
	it := &auth.IssuedToken{JTI: jti, FamilyID: first.FamilyID, ExpiresAt: first.ExpiresAt}
	if err := insertIssued(ctx, tx, it, first.ClientID, first.UserID); err != nil {
		t.Fatalf("insertIssued: %v", err)
	}
	return r
}

// race runs op while r is uncommitted, commits r once op waits for it (or
// has finished without waiting, which the caller's checks then catch), and
// returns op's error.
func (r *rotationInFlight) race(t *testing.T, db *DB, op func() error) error {
	t.Helper()
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- op() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(15 * time.Second)
	for waiting := false; !waiting; {
		select {
		case err := <-done:
			if cerr := r.tx.Commit(ctx); cerr != nil {
				t.Fatalf("Commit: %v", cerr)
			}
			return err
		default:
		}
		if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE $1::int = ANY (pg_blocking_pids(pid)))`, r.pid).Scan(&waiting); err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatal("the operation neither waited for the rotation nor finished")
		}
	}
	if err := r.tx.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return <-done
}

func raceFixture(t *testing.T) (*DB, *auth.RefreshToken, time.Time) {
	t.Helper()
	dsn, _ := testenv.PostgresSchema(t)
	db := openDSN(t, dsn)
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	client := &auth.Client{ID: "cli_race", Name: "race", AuthMethod: auth.AuthMethodSecretBasic,
		SecretHash: []byte("hash"), CreatedAt: now, UpdatedAt: now}
	if err := db.CreateClient(ctx, client); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	first := &auth.RefreshToken{Hash: []byte("refresh-1"), FamilyID: "fam_race", ClientID: client.ID, UserID: "usr_1",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour)}
	if err := db.CreateRefreshToken(ctx, first, &auth.IssuedToken{JTI: "jti_1", FamilyID: "fam_race", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatalf("CreateRefreshToken: %v", err)
	}
	return db, first, now
}

// TestDeleteClientWaitsForATokenBeingAdded races DeleteClient with a
// rotation in flight in one of the client's families. Under READ
// COMMITTED the deletion's statements would not see the rotation's rows if
// it did not wait for the family's row: the client would be gone with a
// live refresh token and an access token missing from the revocation list.
func TestDeleteClientWaitsForATokenBeingAdded(t *testing.T) {
	t.Parallel()
	db, first, now := raceFixture(t)
	ctx := t.Context()
	r := startRotation(t, db, first, "jti_2")
	if err := r.race(t, db, func() error { return db.DeleteClient(ctx, first.ClientID, now.Add(time.Minute)) }); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := db.GetRefreshToken(ctx, r.next.Hash); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Errorf("the refresh token added during the deletion survived it: %v", err)
	}
	for _, jti := range []string{"jti_1", "jti_2"} {
		if revoked, err := db.IsTokenRevoked(ctx, jti); err != nil || !revoked {
			t.Errorf("IsTokenRevoked(%s) = %v, %v; want true", jti, revoked, err)
		}
	}
}

// TestRevokeFamilyWaitsForATokenBeingAdded races RevokeFamily with a
// rotation in flight in that family (RFC 9700 4.14.2: reuse detected while
// the legitimate client refreshes): the token the rotation adds must end
// up revoked and its access token listed.
func TestRevokeFamilyWaitsForATokenBeingAdded(t *testing.T) {
	t.Parallel()
	db, first, now := raceFixture(t)
	ctx := t.Context()
	r := startRotation(t, db, first, "jti_2")
	var jtis []string
	err := r.race(t, db, func() error {
		var err error
		jtis, err = db.RevokeFamily(ctx, first.FamilyID, now.Add(time.Minute))
		return err
	})
	if err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	if got, err := db.GetRefreshToken(ctx, r.next.Hash); err != nil || got.RevokedAt.IsZero() {
		t.Errorf("the refresh token added during the revocation: %+v, %v; want it revoked", got, err)
	}
	if !slices.Equal(jtis, []string{"jti_1", "jti_2"}) {
		t.Errorf("RevokeFamily listed %q, want both access tokens", jtis)
	}
}

// latestMigration is the version of the last embedded migration, which a
// migrated database must be at, whatever number of migrations there are.
func latestMigration(t *testing.T) int64 {
	t.Helper()
	latest, err := LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	return latest
}

// TestMigrateFromVersion5CountsRefreshPresentations: refresh tokens stored
// before presentations were counted get the count they had, from their
// UsedAt and the synthetic 'refresh:<hash>:<n>' entries in the one-time
// JWT table (which go), and keep behaving as before: a token used once
// may still be retried within the grace window, one retried already may
// not. Client-assertion jtis stay.
func TestMigrateFromVersion5CountsRefreshPresentations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, _ := testenv.PostgresSchema(t)
	old, err := open(ctx, dsn, 5)
	if err != nil {
		t.Fatalf("open at version 5: %v", err)
	}
	used := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	until := used.Add(time.Hour)
	for _, r := range []struct {
		hash   string
		usedAt time.Time
	}{{"unused", time.Time{}}, {"used once", used}, {"retried", used}, {"used without grace", used}} {
		if _, err := old.pool.Exec(ctx, `INSERT INTO refresh_tokens (hash, family_id, client_id, created_at, expires_at, family_expires_at, used_at)
			VALUES ($1, 'fam_1', 'cli_1', $2, $3, $3, $4)`, []byte(r.hash), timeValue(used), timeValue(until), timeValue(r.usedAt)); err != nil {
			t.Fatalf("insert a refresh token at version 5: %v", err)
		}
	}
	// The grace window's slots as version 5 took them: two for the token
	// retried, one for the token used once, none without a grace window.
	for _, jti := range []string{
		"refresh:" + hex.EncodeToString([]byte("retried")) + ":1",
		"refresh:" + hex.EncodeToString([]byte("retried")) + ":2",
		"refresh:" + hex.EncodeToString([]byte("used once")) + ":1",
		"assertion:cli_1:jti_1",
	} {
		if _, err := old.pool.Exec(ctx, `INSERT INTO used_jtis (jti, expires_at) VALUES ($1, $2)`, jti, timeValue(until)); err != nil {
			t.Fatalf("insert a used jti at version 5: %v", err)
		}
	}
	old.Close()

	db := openDSN(t, dsn)
	for hash, want := range map[string]int{"unused": 0, "used once": 1, "retried": 2, "used without grace": 1} {
		got, err := db.GetRefreshToken(ctx, []byte(hash))
		if err != nil || got.Presentations != want {
			t.Fatalf("%s after migrating = %+v, %v; want %d presentations", hash, got, err, want)
		}
	}
	var left int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM used_jtis WHERE jti LIKE 'refresh:%'`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("synthetic refresh entries after migrating = %d, %v; want none", left, err)
	}
	if err := db.UseJTI(ctx, "assertion:cli_1:jti_1", until, used); auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("replayed client assertion after migrating: %v, want a conflict", err)
	}
	next := func(name string) *auth.RefreshToken {
		return &auth.RefreshToken{Hash: []byte(name), FamilyID: "fam_1", ClientID: "cli_1", CreatedAt: used, ExpiresAt: until, FamilyExpiresAt: until}
	}
	retry := used.Add(time.Second)
	if err := db.RotateRefreshToken(ctx, []byte("used once"), retry, time.Minute, next("next 1"), nil); err != nil {
		t.Fatalf("retry within grace of a token used once before migrating: %v", err)
	}
	err = db.RotateRefreshToken(ctx, []byte("retried"), retry, time.Minute, next("next 2"), nil)
	if auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("retry of a token retried before migrating: %v, want a conflict", err)
	}
}

// TestMigrateFromVersion6AddsTheWebhookOutbox: keys made before the
// webhook tables exist send their events once migrated.
func TestMigrateFromVersion6AddsTheWebhookOutbox(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, _ := testenv.PostgresSchema(t)
	old, err := open(ctx, dsn, 6)
	if err != nil {
		t.Fatalf("open at version 6: %v", err)
	}
	k := testKey("key_1")
	if err := insertOldKey(ctx, old, k); err != nil {
		t.Fatalf("CreateAPIKey at version 6: %v", err)
	}
	old.Close()
	db := openDSN(t, dsn)
	if _, err := db.RevokeAPIKey(ctx, k.ID, k.CreatedAt.Add(time.Hour),
		auth.AuditEvent{Time: k.CreatedAt, Type: auth.EventKeyRevoked, Actor: "key_admin", KeyID: k.ID, Count: 1}); err != nil {
		t.Fatalf("RevokeAPIKey after migrating: %v", err)
	}
	out, err := db.ListWebhookOutbox(ctx, 10)
	if err != nil || len(out) != 1 || out[0].Type != auth.WebhookKeyRevoked {
		t.Fatalf("outbox after migrating = %+v, %v; want the key.revoked event", out, err)
	}
}

func TestUsageStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunUsage(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
}

// Users created before version 11 become developers without owners: the
// upgrade gives no account new rights.
func TestMigrateFromVersion10MakesUsersDevelopers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, _ := testenv.PostgresSchema(t)
	old, err := open(ctx, dsn, 10)
	if err != nil {
		t.Fatalf("open at version 10: %v", err)
	}
	// CreateUser writes the new columns: insert as version 10 did.
	if _, err := old.pool.Exec(ctx, `INSERT INTO oauth_users (id, username, username_key, password_hash, email,
		email_verified, name, created_at, updated_at, password_changed_at) VALUES ('usr_1', 'ada', 'ada', '$argon2id$x', '', false, '', now(), now(), now())`); err != nil {
		t.Fatalf("insert a user at version 10: %v", err)
	}
	old.Close()

	db := openDSN(t, dsn)
	got, err := db.GetUser(ctx, "usr_1")
	if err != nil || got.Role != auth.RoleDeveloper || got.Owners == nil || len(got.Owners) != 0 {
		t.Fatalf("user after migrating = %+v, %v", got, err)
	}
	got.Role, got.Owners = auth.RoleAdmin, []string{"billing"}
	if err := db.UpdateUser(ctx, got); err != nil {
		t.Fatalf("UpdateUser after migrating: %v", err)
	}
}

func TestProviderStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunProviders(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
}
