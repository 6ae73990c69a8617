// Package sqlite is the embedded storage backend: auth.Store on a single
// SQLite file, through modernc.org/sqlite (pure Go, no cgo).
//
// The database runs in WAL mode with one writer connection and a pool of
// read-only connections. SQLite allows one writer at a time; funnelling every
// write transaction through a single connection makes writers queue in
// database/sql instead of failing with SQLITE_BUSY, while WAL lets readers
// proceed alongside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeoutMillis is how long a connection waits for a lock held by
// another process (or a checkpoint) before SQLite gives up with SQLITE_BUSY.
const busyTimeoutMillis = 5000

// DB is an auth.Store backed by one SQLite file. It is safe for concurrent
// use.
type DB struct {
	write *sql.DB // exactly one connection: the only writer
	read  *sql.DB // query-only connections for reads outside transactions
}

var _ auth.Store = (*DB)(nil)

// Open opens the SQLite database at path, creating the file if needed, and
// migrates it to the latest schema version. The file is created readable
// by its owner only, since it holds key hashes.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	return open(ctx, path, 0, opts...)
}

// open opens path and migrates it to version, or to the latest version when
// version is 0. Tests use it to hold a database at an older version.
func open(ctx context.Context, path string, version int64, opts ...Option) (*DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	// SQLite would create the file with the default umask; create it first so
	// only the owner can read it. SQLite gives the -wal and -shm files the
	// same permissions as the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	write, err := openPool(dsn(path, false), o)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	// Migrating first also switches the file to WAL mode before any reader
	// connects.
	if err := migrate(ctx, write, path, version); err != nil {
		return nil, errors.Join(err, write.Close())
	}

	read, err := openPool(dsn(path, true), o)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open readers: %w", err), write.Close())
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	if err := read.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open readers: %w", err), read.Close(), write.Close())
	}
	return &DB{write: write, read: read}, nil
}

// dsn builds the modernc.org/sqlite connection string for path. Every
// connection gets a busy timeout, foreign keys and synchronous=NORMAL (safe
// in WAL mode: a power loss may lose the last commits, never corrupt the
// file). The writer begins transactions with BEGIN IMMEDIATE, so a write
// transaction takes the write lock at once instead of failing with
// SQLITE_BUSY when it upgrades from a read; readers are query-only, so a
// read-pool mistake cannot write.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// FULL: in WAL mode NORMAL may lose the last commits on a power
		// loss, and an acknowledged revocation must not come undone.
		// Writes are few (admin actions, a batch every few seconds).
		q.Add("_pragma", "synchronous(FULL)")
		q.Set("_txlock", "immediate")
	}
	// The file: URI form lets any path through once escaped ('?', '#', '%').
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Ping reports whether both the reader pool and the writer connection can
// run a statement. The writer check waits while a write transaction runs.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping readers: %w", err)
	}
	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping writer: %w", err)
	}
	return nil
}

// Close waits for running statements to finish and closes all
// connections.
func (db *DB) Close() error {
	return errors.Join(db.read.Close(), db.write.Close())
}

// inTx runs fn in a write transaction, committing if fn returns nil and
// rolling back otherwise. Errors from fn and the driver come back through
// translate, with op as context.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return translate(op, err)
	}
	// Rollback after a successful Commit is a no-op returning sql.ErrTxDone;
	// after a failure, the error of fn is the one worth reporting.
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return translate(op, err)
	}
	if err := tx.Commit(); err != nil {
		return translate(op, err)
	}
	return nil
}

// translate maps an error from the driver to the errors the auth contracts
// promise, by SQLite result code and never by message text: a unique or
// primary key violation becomes auth.ECONFLICT. Application errors pass
// through unchanged; anything else is wrapped with op as context.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var appErr *auth.Error
	if errors.As(err, &appErr) {
		return err
	}
	var sqliteErr *sqlitedriver.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			// The driver's message names the column; the caller-safe
			// message need not.
			return auth.Errorf(auth.ECONFLICT, "A record with the same ID or hash already exists.")
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
