package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// createKey stores a key and its creation event in one transaction, as
// the key service does.
func createKey(ctx context.Context, db *DB, id string) error {
	k := testKey(id)
	k.Hash = []byte(fmt.Sprintf("%-32s", id))[:32]
	return db.CreateAPIKey(ctx, k, auth.AuditEvent{Time: k.CreatedAt, Type: auth.EventKeyCreated, Actor: auth.ActorSystem, KeyID: id})
}

// keyIDs lists the IDs of every key in db.
func keyIDs(t *testing.T, db *DB) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for after := ""; ; {
		page, next, err := db.ListAPIKeys(t.Context(), auth.APIKeyFilter{After: after, Limit: auth.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page {
			ids[k.ID] = true
		}
		if next == "" {
			return ids
		}
		after = next
	}
}

// TestBackupDuringWritesIsOneConsistentSnapshot backs a database up while
// writers commit keys with their audit events: the copy checks, holds a
// prefix of the writes (never a key without its event), and leaves nothing
// but itself behind.
func TestBackupDuringWritesIsOneConsistentSnapshot(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := createKey(ctx, db, fmt.Sprintf("w%d-%06d", w, i)); err != nil {
					t.Errorf("write during the backup: %v", err)
					return
				}
				written.Add(1)
			}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); written.Load() < 50; {
		if time.Now().After(deadline) {
			t.Fatal("the writers did not get going")
		}
		time.Sleep(time.Millisecond)
	}
	outDir := t.TempDir()
	dst := filepath.Join(outDir, "backup.db")
	info, err := Backup(ctx, src, dst, false)
	atEnd := written.Load()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	latest, _ := LatestVersion()
	if info.Version != latest || info.Latest != latest {
		t.Errorf("Backup = %+v; want version %d", info, latest)
	}
	st, err := os.Stat(dst)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the backup: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 1 {
		t.Errorf("the backup left %d files in its folder; want the backup alone", len(entries))
	}

	copyDB, err := Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	keys := keyIDs(t, copyDB)
	if len(keys) < 50 || int64(len(keys)) > atEnd {
		t.Errorf("the backup holds %d keys; want from 50 (written before it began) to %d (when it ended)", len(keys), atEnd)
	}
	withEvent := map[string]bool{}
	for after := int64(0); ; {
		page, next, err := copyDB.ListAuditEvents(ctx, auth.AuditFilter{After: after, Limit: auth.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			withEvent[e.KeyID] = true
		}
		if next == 0 {
			break
		}
		after = next
	}
	for id := range keys {
		if !withEvent[id] {
			t.Errorf("key %s is in the backup without its creation event", id)
		}
	}
	// Each writer's keys are a prefix of what it wrote: a snapshot, not a
	// copy of pages made at different moments.
	for w := range 3 {
		n := 0
		for id := range keys {
			if strings.HasPrefix(id, fmt.Sprintf("w%d-", w)) {
				n++
			}
		}
		for i := range n {
			if id := fmt.Sprintf("w%d-%06d", w, i); !keys[id] {
				t.Errorf("the backup has %d keys of writer %d but not %s", n, w, id)
			}
		}
	}
}

// TestBackupNeverOverwritesUnlessTold: an existing destination is kept
// (ErrExists) unless overwrite is set.
func TestBackupNeverOverwritesUnlessTold(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := createKey(ctx, db, "k1"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	dir := t.TempDir()
	dst := filepath.Join(dir, "backup.db")
	os.WriteFile(dst, []byte("yesterday's backup"), 0o644)
	if _, err := Backup(ctx, src, dst, false); !errors.Is(err, ErrExists) {
		t.Fatalf("Backup onto an existing file = %v; want ErrExists", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "yesterday's backup" {
		t.Fatal("a refused backup changed the existing file")
	}
	if _, err := Backup(ctx, src, dst, true); err != nil {
		t.Fatalf("Backup with overwrite: %v", err)
	}
	if _, err := Inspect(ctx, dst); err != nil {
		t.Fatalf("the overwritten backup does not check: %v", err)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
		t.Errorf("the overwritten backup has mode %v; want 0600", st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the backup folder; want the backup alone", len(entries))
	}
	before, _ := os.ReadFile(src)
	if _, err := Backup(ctx, src, src, true); err == nil || !strings.Contains(err.Error(), "the database itself") {
		t.Errorf("Backup onto the database itself, with overwrite = %v; want it refused", err)
	}
	if after, _ := os.ReadFile(src); string(after) != string(before) {
		t.Error("a backup onto the database changed it")
	}
	if _, err := Backup(ctx, filepath.Join(t.TempDir(), "none.db"), filepath.Join(dir, "b2.db"), false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Backup of a missing database = %v; want a not-exist error", err)
	}
}

// sqlExec runs statements on a SQLite file outside any store.
func sqlExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestInspectTellsAGatehouseDatabaseFromOtherFiles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	db, err := Open(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := createKey(ctx, db, fmt.Sprintf("k%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	latest, _ := LatestVersion()
	copyOf := func(name string) string {
		b, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}

	text := filepath.Join(dir, "text.db")
	os.WriteFile(text, []byte(strings.Repeat("not a database\n", 100)), 0o600)
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	other := filepath.Join(dir, "other.db")
	sqlExec(t, other, `CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY, version_id INTEGER, is_applied INTEGER)`)
	newer := copyOf("newer.db")
	sqlExec(t, newer, fmt.Sprintf(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, 1)`, latest+1))
	older := copyOf("older.db")
	sqlExec(t, older, fmt.Sprintf(`DELETE FROM goose_db_version WHERE version_id = %d`, latest))
	// The version before the latest: numbers may be skipped (reserved
	// for work merged later).
	var previous int64
	if db, err := sql.Open("sqlite", older); err != nil {
		t.Fatal(err)
	} else {
		err = db.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&previous)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Damage: overwrite the middle of the file (pages of the api_keys
	// table and its index), keeping the header intact.
	damaged := copyOf("damaged.db")
	b, _ := os.ReadFile(damaged)
	for i := len(b) / 2; i < len(b)/2+8192 && i < len(b); i++ {
		b[i] = 0x5a
	}
	os.WriteFile(damaged, b, 0o600)

	// Stands in the table for a *auth.SchemaTooNewError, which is matched
	// with errors.As.
	errTooNew := errors.New("a *auth.SchemaTooNewError")
	for _, tc := range []struct {
		name    string
		path    string
		want    error
		version int64
	}{
		{"a database this binary wrote checks", good, nil, latest},
		{"an older schema checks: serve migrates it", older, nil, previous},
		{"a text file is not a Gatehouse database", text, ErrNotGatehouse, 0},
		{"an empty file is not a Gatehouse database", empty, ErrNotGatehouse, 0},
		{"another goose-managed database is not a Gatehouse database", other, ErrNotGatehouse, 0},
		{"a damaged database fails the integrity check", damaged, ErrNotGatehouse, 0},
		{"a newer schema is refused", newer, errTooNew, latest + 1},
	} {
		info, err := Inspect(ctx, tc.path)
		var tooNew *auth.SchemaTooNewError
		if tc.want == errTooNew {
			if !errors.As(err, &tooNew) || tooNew.Database != latest+1 || tooNew.Known != latest {
				t.Errorf("%s: Inspect = %v; want a SchemaTooNewError at %d, knowing %d", tc.name, err, latest+1, latest)
			}
		} else if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: Inspect = %v; want %v", tc.name, err, tc.want)
		}
		if info.Version != tc.version {
			t.Errorf("%s: version %d; want %d", tc.name, info.Version, tc.version)
		}
	}
	if _, err := Inspect(ctx, filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Inspect of a missing file = %v; want not-exist (and no file created)", err)
	}
}

// TestRestoreKeepsTheReplacedDatabaseWithItsLastCommits restores over a
// database whose last commits are still in its -wal file (the server was
// killed): the database kept aside has them, and the restored one gets
// nothing of that WAL.
func TestRestoreKeepsTheReplacedDatabaseWithItsLastCommits(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	backupSrc := filepath.Join(t.TempDir(), "gatehouse.db")
	b, err := Open(ctx, backupSrc)
	if err != nil {
		t.Fatal(err)
	}
	if err := createKey(ctx, b, "from-the-backup"); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := Backup(ctx, backupSrc, backup, false); err != nil {
		t.Fatal(err)
	}
	b.Close()

	// A crashed server's files: copied while the database is open, so the
	// last commit is in the -wal file only.
	live := filepath.Join(t.TempDir(), "gatehouse.db")
	cur, err := Open(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if _, err := cur.write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	if err := createKey(ctx, cur, "in-the-wal"); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "gatehouse.db")
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(live + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if suffix == "-wal" && len(data) == 0 {
			t.Fatal("the commit is not in the WAL; the test sets nothing up")
		}
		os.WriteFile(path+suffix, data, 0o600)
	}

	aside, info, err := Restore(ctx, backup, path)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if latest, _ := LatestVersion(); info.Version != latest {
		t.Errorf("Restore found version %d; want %d", info.Version, latest)
	}
	if aside != path+".before-restore" {
		t.Errorf("the replaced database went to %q", aside)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is beside the restored database (%v)", path+suffix, err)
		}
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("the restored database has mode %v; want 0600", st.Mode().Perm())
	}
	restored, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if keys := keyIDs(t, restored); len(keys) != 1 || !keys["from-the-backup"] {
		t.Errorf("the restored database holds %v; want the backup's key alone", keys)
	}
	old, err := Open(ctx, aside)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if keys := keyIDs(t, old); len(keys) != 1 || !keys["in-the-wal"] {
		t.Errorf("the database kept aside holds %v; want its last commit", keys)
	}

	// A second restore would replace the first one's .before-restore.
	if _, _, err := Restore(ctx, backup, path); err == nil || !strings.Contains(err.Error(), "earlier restore") {
		t.Errorf("a restore over an earlier one's kept database = %v; want it refused", err)
	}
}

// TestRestoreOfABadFileChangesNothing: the database in place, its folder
// and the backup file are as they were.
func TestRestoreOfABadFileChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "gatehouse.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := createKey(ctx, db, "k1"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	bad := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(bad, []byte("SQLite format 3\x00 but nothing after"), 0o600)

	// Open leaves its migration lock file beside the database: the folder
	// must hold what it held before, no more.
	namesBefore := dirNames(t, dataDir)
	if _, _, err := Restore(ctx, bad, path); !errors.Is(err, ErrNotGatehouse) {
		t.Fatalf("Restore of a bad file = %v; want ErrNotGatehouse", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the refused restore changed the database")
	}
	if names := dirNames(t, dataDir); strings.Join(names, " ") != strings.Join(namesBefore, " ") {
		t.Errorf("the data folder holds %v after a refused restore; want %v, as before", names, namesBefore)
	}
	if b, _ := os.ReadFile(bad); !strings.HasPrefix(string(b), "SQLite format 3") {
		t.Error("the restore changed the backup file")
	}
}

// TestRestoreIntoAnEmptyFolder needs no database in place.
func TestRestoreIntoAnEmptyFolder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := createKey(ctx, db, "k1"); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := Backup(ctx, src, backup, false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	aside, _, err := Restore(ctx, backup, path)
	if err != nil || aside != "" {
		t.Fatalf("Restore into an empty folder = %q, %v", aside, err)
	}
	restored, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if keys := keyIDs(t, restored); !keys["k1"] {
		t.Errorf("the restored database holds %v", keys)
	}
}

// TestBackupCopiesANewerSchema: a backup is a copy, whatever release wrote
// the database; only a restore needs a schema this binary knows.
func TestBackupCopiesANewerSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	latest, _ := LatestVersion()
	sqlExec(t, src, fmt.Sprintf(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, 1)`, latest+1))
	dst := filepath.Join(t.TempDir(), "backup.db")
	info, err := Backup(ctx, src, dst, false)
	if err != nil || info.Version != latest+1 {
		t.Fatalf("Backup of a newer schema = %+v, %v; want a copy at version %d", info, err, latest+1)
	}
	var tooNew *auth.SchemaTooNewError
	if _, _, err := Restore(ctx, dst, filepath.Join(t.TempDir(), "gatehouse.db")); !errors.As(err, &tooNew) {
		t.Fatalf("Restore of it = %v; want a SchemaTooNewError", err)
	}
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
