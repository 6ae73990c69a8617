package sqlite

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/storetest"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) auth.Store { return openTemp(t) })
}

func TestOAuthStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunOAuth(t, func(t *testing.T) auth.Store { return openTemp(t) })
	storetest.RunRoutes(t, func(t *testing.T) auth.Store { return openTemp(t) })
}

func TestDeviceGrantStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunDeviceGrants(t, func(t *testing.T) auth.Store { return openTemp(t) })
}

func TestPasswordResetStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunPasswordResets(t, func(t *testing.T) auth.Store { return openTemp(t) })
}

func TestWebhookStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunWebhooks(t, func(t *testing.T) auth.Store { return openTemp(t) })
}

func TestMFAStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunMFA(t, func(t *testing.T) auth.Store { return openTemp(t) })
}

func testKey(id string) *auth.APIKey {
	return &auth.APIKey{
		ID:        id,
		Hash:      []byte("hash of " + id + " padded to thirty-two bytes")[:32],
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
	scopes, err := scopesJSON(k.Scopes)
	if err != nil {
		return err
	}
	metadata, err := mapJSON(k.Metadata)
	if err != nil {
		return err
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO api_keys (id, hash, prefix, hint, owner, name, scopes, metadata,
		rate_limit_rate, rate_limit_burst, rotation_period_ns, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Hash, k.Prefix, k.Hint, k.Owner, k.Name, scopes, metadata,
		k.RateLimit.Rate, k.RateLimit.Burst, int64(k.RotationPeriod), timeValue(k.CreatedAt), timeValue(k.ExpiresAt))
	return err
}

func sameKey(t *testing.T, want, got *auth.APIKey) {
	t.Helper()
	if got.ID != want.ID || string(got.Hash) != string(want.Hash) || got.Owner != want.Owner ||
		got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		got.RateLimit != want.RateLimit || len(got.Scopes) != len(want.Scopes) || got.Metadata["k"] != want.Metadata["k"] {
		t.Fatalf("key differs:\n got %+v\nwant %+v", got, want)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	k := testKey("key_1")
	ev := auth.AuditEvent{Time: k.CreatedAt, Type: auth.EventKeyCreated, Actor: "key_admin", KeyID: k.ID, Count: 1}
	if err := db.CreateAPIKey(ctx, k, ev); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	got, err := db.GetAPIKeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("GetAPIKeyByHash after reopening: %v", err)
	}
	sameKey(t, k, got)
	events, _, err := db.ListAuditEvents(ctx, auth.AuditFilter{})
	if err != nil || len(events) != 1 || events[0].KeyID != k.ID {
		t.Fatalf("ListAuditEvents after reopening = %+v, %v; want the one event", events, err)
	}
	// IDs keep increasing across restarts.
	if err := db.AppendAuditEvents(ctx, ev); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	events, _, err = db.ListAuditEvents(ctx, auth.AuditFilter{})
	if err != nil || len(events) != 2 || events[1].ID <= events[0].ID {
		t.Fatalf("events after reopening = %+v, %v; want two with increasing IDs", events, err)
	}
}

func TestMigrateFromVersion1KeepsKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	old, err := open(ctx, path, 1)
	if err != nil {
		t.Fatalf("open at version 1: %v", err)
	}
	var tables int
	if err := old.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'audit_events'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("audit_events at version 1: count %d, err %v; want absent", tables, err)
	}
	k := testKey("key_1")
	// Version 1 has no audit log, so the key goes in without events.
	if err := insertOldKey(ctx, old, k); err != nil {
		t.Fatalf("CreateAPIKey at version 1: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open (migrating up): %v", err)
	}
	defer db.Close()
	var version int64
	if err := db.read.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil || version != latestMigration(t) {
		t.Fatalf("schema version = %d, %v; want %d", version, err, latestMigration(t))
	}
	got, err := db.GetAPIKey(ctx, k.ID)
	if err != nil {
		t.Fatalf("GetAPIKey after migrating: %v", err)
	}
	sameKey(t, k, got)
	if _, err := db.RevokeAPIKey(ctx, k.ID, k.CreatedAt.Add(time.Hour),
		auth.AuditEvent{Time: k.CreatedAt, Type: auth.EventKeyRevoked, Actor: "key_admin", KeyID: k.ID, Count: 1}); err != nil {
		t.Fatalf("RevokeAPIKey after migrating: %v", err)
	}
}

func TestMigrateFromVersion2KeepsKeysAndEvents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	old, err := open(ctx, path, 2)
	if err != nil {
		t.Fatalf("open at version 2: %v", err)
	}
	var tables int
	if err := old.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'oauth_clients'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("oauth_clients at version 2: count %d, err %v; want absent", tables, err)
	}
	k := testKey("key_1")
	// The key and an event with the columns of that version (the event's
	// target comes with version 13).
	ev := auth.AuditEvent{Time: k.CreatedAt, Type: auth.EventKeyVerificationFailed, Actor: "key_admin", KeyID: k.ID, Count: 1}
	if err := insertOldKey(ctx, old, k); err != nil {
		t.Fatalf("CreateAPIKey at version 2: %v", err)
	}
	if _, err := old.write.ExecContext(ctx, `INSERT INTO audit_events (occurred_at, type, actor, key_id, count)
		VALUES (?, ?, ?, ?, ?)`, timeValue(ev.Time), ev.Type, ev.Actor, ev.KeyID, ev.Count); err != nil {
		t.Fatalf("insert an event at version 2: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open (migrating up): %v", err)
	}
	defer db.Close()
	var version int64
	if err := db.read.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil || version != latestMigration(t) {
		t.Fatalf("schema version = %d, %v; want %d", version, err, latestMigration(t))
	}
	got, err := db.GetAPIKey(ctx, k.ID)
	if err != nil {
		t.Fatalf("GetAPIKey after migrating: %v", err)
	}
	sameKey(t, k, got)
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
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	old, err := open(ctx, path, 4)
	if err != nil {
		t.Fatalf("open at version 4: %v", err)
	}
	created := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	// CreateSession writes the new columns: insert as version 4 did.
	if _, err := old.write.ExecContext(ctx, `INSERT INTO oauth_sessions (hash, user_id, auth_time, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, []byte("old session"), "usr_1", timeValue(created), timeValue(created), timeValue(created.Add(time.Hour))); err != nil {
		t.Fatalf("insert a session at version 4: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open (migrating up): %v", err)
	}
	defer db.Close()
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

func TestOpenConfiguresConnections(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTemp(t)
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"}, // FULL: a commit survives a power loss
		{"busy_timeout", fmt.Sprint(busyTimeoutMillis)},
	} {
		for name, conn := range map[string]querier{"reader": db.read, "writer": db.write} {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", name, tc.pragma, err)
			}
			if got != tc.want {
				t.Errorf("%s: PRAGMA %s = %q, want %q", name, tc.pragma, got, tc.want)
			}
		}
	}
	if _, err := db.read.ExecContext(ctx, `DELETE FROM api_keys`); err == nil {
		t.Error("a reader connection could write")
	}
	if n := db.write.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer MaxOpenConnections = %d, want 1", n)
	}
}

func TestFileIsPrivateAndPathsNeedNoEscaping(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "odd name?#%20&.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	defer db.Close()
	if err := db.CreateAPIKey(t.Context(), testKey("key_1")); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the database is not at the path given: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %v, want 0600", perm)
	}
}

func TestConcurrentWritersNeverSeeBusy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTemp(t)
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*3)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := fmt.Sprintf("key_%02d_%03d", w, i)
				k := testKey(id)
				k.Hash = []byte(fmt.Sprintf("%-32s", id))
				ev := auth.AuditEvent{Time: k.CreatedAt, Type: auth.EventKeyCreated, Actor: "a", KeyID: id, Count: 1}
				if err := db.CreateAPIKey(ctx, k, ev); err != nil {
					errs <- fmt.Errorf("CreateAPIKey: %w", err)
				}
				if err := db.TouchAPIKeys(ctx, map[string]time.Time{id: k.CreatedAt.Add(time.Second)}); err != nil {
					errs <- fmt.Errorf("TouchAPIKeys: %w", err)
				}
				if _, _, err := db.ListAPIKeys(ctx, auth.APIKeyFilter{Limit: 10}); err != nil {
					errs <- fmt.Errorf("ListAPIKeys: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	events, _, err := db.ListAuditEvents(ctx, auth.AuditFilter{Limit: auth.MaxPageSize})
	if err != nil || len(events) != workers*perWorker {
		t.Fatalf("ListAuditEvents = %d events, %v; want %d", len(events), err, workers*perWorker)
	}
}

func TestTranslateUsesResultCodes(t *testing.T) {
	t.Parallel()
	db := openTemp(t)
	// A raw duplicate insert produces the driver's own error, which must
	// become ECONFLICT through its result code.
	_, err := db.write.ExecContext(context.Background(), `INSERT INTO audit_events (id, type, actor) VALUES (1, 't', 'a'), (1, 't', 'a')`)
	if err == nil {
		t.Fatal("duplicate primary key accepted")
	}
	if code := auth.ErrorCode(translate("test", err)); code != auth.ECONFLICT {
		t.Fatalf("translate(duplicate primary key) code = %q, want %q", code, auth.ECONFLICT)
	}
	_, err = db.write.ExecContext(context.Background(), `INSERT INTO audit_events (type) VALUES ('t')`)
	if code := auth.ErrorCode(translate("test", err)); err == nil || code != auth.EINTERNAL {
		t.Fatalf("translate(NOT NULL violation) = %v (%q), want an internal error", err, code)
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
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	old, err := open(ctx, path, 5)
	if err != nil {
		t.Fatalf("open at version 5: %v", err)
	}
	used := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	until := used.Add(time.Hour)
	for _, r := range []struct {
		hash   string
		usedAt time.Time
	}{{"unused", time.Time{}}, {"used once", used}, {"retried", used}, {"used without grace", used}} {
		if _, err := old.write.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, family_id, client_id, created_at, expires_at, family_expires_at, used_at)
			VALUES (?, 'fam_1', 'cli_1', ?, ?, ?, ?)`, []byte(r.hash), timeValue(used), timeValue(until), timeValue(until), timeValue(r.usedAt)); err != nil {
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
		if _, err := old.write.ExecContext(ctx, `INSERT INTO used_jtis (jti, expires_at) VALUES (?, ?)`, jti, timeValue(until)); err != nil {
			t.Fatalf("insert a used jti at version 5: %v", err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open (migrating up): %v", err)
	}
	defer db.Close()
	for hash, want := range map[string]int{"unused": 0, "used once": 1, "retried": 2, "used without grace": 1} {
		got, err := db.GetRefreshToken(ctx, []byte(hash))
		if err != nil || got.Presentations != want {
			t.Fatalf("%s after migrating = %+v, %v; want %d presentations", hash, got, err, want)
		}
	}
	var left int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM used_jtis WHERE jti LIKE 'refresh:%'`).Scan(&left); err != nil || left != 0 {
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
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	old, err := open(ctx, path, 6)
	if err != nil {
		t.Fatalf("open at version 6: %v", err)
	}
	k := testKey("key_1")
	if err := insertOldKey(ctx, old, k); err != nil {
		t.Fatalf("CreateAPIKey at version 6: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open (migrating up): %v", err)
	}
	defer db.Close()
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
	storetest.RunUsage(t, func(t *testing.T) auth.Store { return openTemp(t) })
}

// Users created before version 11 become developers without owners: the
// upgrade gives no account new rights.
func TestMigrateFromVersion10MakesUsersDevelopers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	old, err := open(ctx, path, 10)
	if err != nil {
		t.Fatalf("open at version 10: %v", err)
	}
	// CreateUser writes the new columns: insert as version 10 did.
	if _, err := old.write.ExecContext(ctx, `INSERT INTO oauth_users (id, username, username_key, password_hash, email,
		email_verified, name, created_at, updated_at, password_changed_at) VALUES ('usr_1', 'ada', 'ada', '$argon2id$x', '', 0, '', 1, 1, 1)`); err != nil {
		t.Fatalf("insert a user at version 10: %v", err)
	}
	old.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open (migrating up): %v", err)
	}
	defer db.Close()
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
	storetest.RunProviders(t, func(t *testing.T) auth.Store { return openTemp(t) })
}
