package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Backups and restores work on database files, never through a DB: a backup
// is taken while a server (another process) writes, and a restore replaces
// the file that a server would open. Neither migrates anything.

var (
	// ErrNotGatehouse says a file is not a Gatehouse database: not SQLite,
	// damaged, or SQLite without Gatehouse's schema.
	ErrNotGatehouse = errors.New("not a Gatehouse database")
	// ErrExists says the destination of a backup exists and may not be
	// overwritten.
	ErrExists = errors.New("the file exists")
)

// FileInfo is what Inspect found in a database file.
type FileInfo struct {
	Version int64 // the schema version the file is at
	Latest  int64 // the newest schema version this binary knows
}

// LatestVersion is the schema version this binary's migrations reach.
func LatestVersion() (int64, error) {
	latest, err := auth.LatestSchemaVersion(migrations, "migrations")
	if err != nil {
		return 0, fmt.Errorf("sqlite: %w", err)
	}
	return latest, nil
}

// gatehouseTables are tables every version of the schema has: with goose's
// table, they tell a Gatehouse database from another program's.
var gatehouseTables = []string{"goose_db_version", "api_keys", "audit_events"}

// openFile opens an existing database file (never creating one) on a
// single connection, without the settings of a store: no journal mode is
// changed, nothing is migrated.
func openFile(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	q.Set("mode", "rw")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Inspect checks that the file at path is a Gatehouse database this binary
// can serve: SQLite that passes PRAGMA integrity_check, with Gatehouse's
// tables, at a schema version no newer than LatestVersion (an older one is
// migrated when a server opens it). When the file is the problem, errors
// wrap ErrNotGatehouse or are a *auth.SchemaTooNewError (with the FileInfo). The file must be writable:
// SQLite may create and remove its -wal and -shm files beside it.
func Inspect(ctx context.Context, path string) (FileInfo, error) {
	latest, err := LatestVersion()
	if err != nil {
		return FileInfo{}, err
	}
	if _, err := os.Stat(path); err != nil {
		return FileInfo{}, fmt.Errorf("sqlite: inspect: %w", err)
	}
	db, err := openFile(path)
	if err != nil {
		return FileInfo{}, err
	}
	defer db.Close()
	if err := integrityCheck(ctx, db); err != nil {
		return FileInfo{}, err
	}
	for _, table := range gatehouseTables {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
			return FileInfo{}, fmt.Errorf("sqlite: inspect: %w", err)
		}
		if n == 0 {
			return FileInfo{}, fmt.Errorf("%w: it has no %s table", ErrNotGatehouse, table)
		}
	}
	info := FileInfo{Latest: latest}
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&info.Version); err != nil {
		return FileInfo{}, fmt.Errorf("sqlite: inspect: read the schema version: %w", err)
	}
	if err := auth.CheckSchemaVersion(info.Version, latest); err != nil {
		return info, err
	}
	return info, nil
}

// integrityCheck runs PRAGMA integrity_check, which reads every page: a file
// that is not SQLite fails at once ("file is not a database"), a damaged one
// lists its faults.
func integrityCheck(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotGatehouse, err)
	}
	defer rows.Close()
	var faults []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("%w: %v", ErrNotGatehouse, err)
		}
		if s != "ok" && len(faults) < 5 {
			faults = append(faults, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotGatehouse, err)
	}
	if len(faults) > 0 {
		return fmt.Errorf("%w: the integrity check failed: %s", ErrNotGatehouse, strings.Join(faults, "; "))
	}
	return nil
}

// Backup writes a consistent copy of the database at src to dst while other
// connections, a running server's included, go on writing: VACUUM INTO reads
// one snapshot (in WAL mode a read transaction does not stop writers) and
// writes a compact file. The copy is made in a temporary file beside dst,
// checked with Inspect, synced, and only then given its name, with mode
// 0600 (it holds key hashes and sealed signing keys). dst is replaced when
// overwrite is set; otherwise an existing dst is an ErrExists error.
func Backup(ctx context.Context, src, dst string, overwrite bool) (FileInfo, error) {
	if _, err := os.Stat(src); err != nil {
		return FileInfo{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	// --force onto the database itself (or its WAL) would replace the live
	// file with its own copy beneath the server.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if sameFile(dst, src+suffix) {
			return FileInfo{}, fmt.Errorf("sqlite: backup: %s is the database itself; back up to another file", dst)
		}
	}
	if !overwrite {
		if _, err := os.Lstat(dst); err == nil {
			return FileInfo{}, fmt.Errorf("sqlite: backup: %s: %w", dst, ErrExists)
		}
	}
	// VACUUM INTO writes into an empty file as into a new one, so creating
	// it first gives it its mode and a name no one else has.
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return FileInfo{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	tmpPath := tmp.Name()
	published := false
	defer func() {
		if !published {
			removeDatabase(tmpPath)
		}
	}()
	if err := tmp.Close(); err != nil {
		return FileInfo{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := vacuumInto(ctx, src, tmpPath); err != nil {
		return FileInfo{}, err
	}
	// A schema newer than this binary's is still worth copying (a newer
	// server wrote it); a copy that fails its integrity check is not.
	info, err := Inspect(ctx, tmpPath)
	var tooNew *auth.SchemaTooNewError
	if err != nil && !errors.As(err, &tooNew) {
		return FileInfo{}, fmt.Errorf("sqlite: backup: the copy does not check: %w", err)
	}
	if err := syncFile(tmpPath); err != nil {
		return FileInfo{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := publish(tmpPath, dst, overwrite); err != nil {
		return FileInfo{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	published = true
	return info, nil
}

// sameFile reports whether the paths a and b name one existing file.
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := openFile(src)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("sqlite: backup %s: %w", src, err)
	}
	return db.Close()
}

// publish gives tmp the name dst. Without overwrite a hard link does it, so
// that a file created at dst meanwhile is never replaced; a file system
// without hard links gets a check and a rename instead.
func publish(tmp, dst string, overwrite bool) error {
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if !overwrite {
		err := os.Link(tmp, dst)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", dst, ErrExists)
		}
		if err == nil {
			os.Remove(tmp)
			return syncDir(filepath.Dir(dst))
		}
		if _, err := os.Lstat(dst); err == nil {
			return fmt.Errorf("%s: %w", dst, ErrExists)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// Restore puts the database file backup in the place of the database at
// path, which no server may have open (the caller makes sure of that). The
// backup is copied beside path and the copy checked with Inspect, so a file
// that is not a Gatehouse database, or one from a newer Gatehouse, changes
// nothing. The database in place, if any, is kept as path+".before-restore"
// (with its -wal file, should it still hold commits), and the copy is then
// renamed to path: the database at path is always either the old one or
// the restored one, never a mix. It returns where the old database went
// ("" if there was none).
func Restore(ctx context.Context, backup, path string) (aside string, info FileInfo, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".restore-*")
	if err != nil {
		return "", FileInfo{}, fmt.Errorf("sqlite: restore: %w", err)
	}
	tmpPath := tmp.Name()
	placed := false
	defer func() {
		if !placed {
			removeDatabase(tmpPath)
		}
	}()
	if err := copyInto(tmp, backup); err != nil {
		return "", FileInfo{}, fmt.Errorf("sqlite: restore: %w", err)
	}
	if info, err = Inspect(ctx, tmpPath); err != nil {
		return "", info, fmt.Errorf("sqlite: restore: %s: %w", backup, err)
	}
	if err := os.Chmod(tmpPath, 0o600); err != nil {
		return "", info, fmt.Errorf("sqlite: restore: %w", err)
	}
	if aside, err = moveAside(ctx, path); err != nil {
		return "", info, fmt.Errorf("sqlite: restore: %w", err)
	}
	// A -wal file left at path would be replayed into the restored
	// database by the next connection: moveAside took them away, and
	// nothing may have brought one back.
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
			return aside, info, fmt.Errorf("sqlite: restore: %s%s exists beside the database; is a server running on it?%s",
				path, suffix, keptAt(aside))
		}
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return aside, info, fmt.Errorf("sqlite: restore: %w%s", err, keptAt(aside))
	}
	placed = true
	if err := syncDir(dir); err != nil {
		return aside, info, fmt.Errorf("sqlite: restore: %w", err)
	}
	return aside, info, nil
}

// keptAt tells, in an error after the database was moved aside, where it is.
func keptAt(aside string) string {
	if aside == "" {
		return ""
	}
	return " (the previous database is kept at " + aside + ")"
}

// moveAside renames the database at path, with its -wal and -shm files, to
// path+".before-restore" (SQLite finds a database's WAL by its name, so
// the moved database keeps its last commits). It first folds the WAL into
// the database, so that the file kept aside is complete on its own; if that
// fails (a damaged database, the very reason for a restore) the files move
// as they are. An existing .before-restore is never replaced.
func moveAside(ctx context.Context, path string) (string, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	aside := path + ".before-restore"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if _, err := os.Lstat(aside + suffix); err == nil {
			return "", fmt.Errorf("%s exists from an earlier restore: move it elsewhere (or delete it) first", aside+suffix)
		}
	}
	if db, err := openFile(path); err == nil {
		// Closing the last connection removes the -wal and -shm files.
		_, _ = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		db.Close()
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+suffix, aside+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return aside, err
		}
	}
	return aside, nil
}

// copyInto copies the file at src into dst, syncs and closes dst.
func copyInto(dst *os.File, src string) error {
	in, err := os.Open(src)
	if err != nil {
		dst.Close()
		return err
	}
	defer in.Close()
	if _, err := io.Copy(dst, in); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename in dir durable. Some systems cannot sync a
// directory; the rename has happened all the same.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}

// removeDatabase removes a temporary database file and whatever SQLite
// left beside it.
func removeDatabase(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}
