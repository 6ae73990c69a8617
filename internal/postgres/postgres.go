// Package postgres is the storage backend for many Gatehouse nodes sharing
// one PostgreSQL database: auth.Store through pgx v5, plus
// auth.ChangeWatcher through LISTEN/NOTIFY so every node drops a changed
// key, client or route (every change that can refuse a caller) from its
// caches at once.
//
// The schema lives in the first schema of the connection's search_path, so
// one database can hold several independent Gatehouse installations (tests
// use one schema each).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// uniqueViolation is the SQLSTATE of a unique or primary key violation.
const uniqueViolation = "23505"

// characterNotInRepertoire is the SQLSTATE of text the database encoding
// cannot hold, such as a NUL character.
const characterNotInRepertoire = "22021"

// DB is an auth.Store and auth.ChangeWatcher backed by PostgreSQL. It is
// safe for concurrent use.
type DB struct {
	// Logger receives what WatchChanges cannot return: the errors
	// that make it reconnect. nil discards them. Set it before watching.
	Logger *slog.Logger

	pool *pgxpool.Pool

	// listenConfig configures the watcher's own connections, which live
	// outside the pool so a long LISTEN never holds a pool slot or blocks
	// Close.
	listenConfig *pgx.ConnConfig
	// heartbeat is how often a watcher checks that the server is still
	// there and records how far it has caught up: a quarter of
	// auth.FeedMaxAge, so that a healthy watcher's FeedSynced calls keep
	// its consumer's cache trusted without a gap. A FeedSynced vouches
	// from the moment its query was sent, so each answer must come within
	// FeedMaxAge of the previous query's sending: a heartbeat of half of
	// it left a database 200 ms away 300 ms of slack, which a loaded
	// machine used up (internal/testcluster's slow-PostgreSQL test saw
	// cached keys read the store); a quarter leaves 550 ms.
	heartbeat time.Duration
	// beforeReconnect, if set, runs before a watcher reconnects; tests use
	// it to change keys while no watcher listens.
	beforeReconnect func()
	// beforeListen, if set, runs before a watcher's connection starts to
	// listen; tests use it to change keys while the first one is set up.
	beforeListen func()

	closing context.Context // done once Close is called; stops watchers
	close   context.CancelFunc

	// tracer is the pool's query tracer (see SetQueryTracer).
	tracer *tracerSlot
}

var (
	_ auth.Store         = (*DB)(nil)
	_ auth.ChangeWatcher = (*DB)(nil)
)

// Open connects to the database named by dsn (a URL or key=value string as
// pgx accepts; a search_path parameter selects the schema) and migrates the
// schema to the latest version. Errors never include the DSN, which may
// hold a password.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	return open(ctx, dsn, 0, opts...)
}

// open connects and migrates to version, or to the latest version when
// version is 0. Tests use it to hold a database at an older version.
func open(ctx context.Context, dsn string, version int64, opts ...Option) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords from parse errors only on a best-effort
		// basis, so none of its text is passed on.
		return nil, errors.New("postgres: open: the DSN cannot be parsed")
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "gatehouse"
	}

	for _, o := range opts {
		o(cfg)
	}

	// Migrations go through database/sql, which goose needs, on a
	// connection pool of their own that is closed once they are done.
	migrateDB := stdlib.OpenDB(*cfg.ConnConfig.Copy())
	err = migrate(ctx, migrateDB, version)
	if closeErr := migrateDB.Close(); err == nil && closeErr != nil {
		err = fmt.Errorf("postgres: migrate: %w", closeErr)
	}
	if err != nil {
		return nil, err
	}

	// The watcher's connections (listenConfig, copied below) are left
	// untraced: they serve no request. The pool's tracer is the options'
	// (spans) beside the slot that SetQueryTracer fills later.
	listenConfig := cfg.ConnConfig.Copy()
	listenConfig.Tracer = nil
	tracer := &tracerSlot{}
	addTracer(cfg, tracer)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	// The watcher's connection says what it is, for whoever reads
	// pg_stat_activity.
	listenConfig.RuntimeParams["application_name"] += watcherAppSuffix
	closing, cancel := context.WithCancel(context.Background())
	return &DB{
		pool:         pool,
		listenConfig: listenConfig,
		heartbeat:    auth.FeedMaxAge / 4,
		closing:      closing,
		close:        cancel,
		tracer:       tracer,
	}, nil
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close stops every WatchChanges call of db and closes the pool,
// waiting for connections in use to be returned.
func (db *DB) Close() error {
	db.close()
	db.pool.Close()
	return nil
}

// inTx runs fn in a transaction, committing if fn returns nil and rolling
// back otherwise. Errors come back through translate, with op as context.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	return translate(op, pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{}, fn))
}

// translate maps an error from pgx to the errors the auth contracts
// promise, by SQLSTATE and never by message text: a unique violation
// becomes auth.ECONFLICT. Application errors pass through unchanged;
// anything else is wrapped with op as context.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var appErr *auth.Error
	if errors.As(err, &appErr) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		// The server's detail quotes the duplicate value (a key hash); the
		// caller-safe message does not.
		return auth.Errorf(auth.ECONFLICT, "A record with the same ID or hash already exists.")
	}
	if errors.As(err, &pgErr) && pgErr.Code == characterNotInRepertoire {
		// Text PostgreSQL cannot hold (a NUL) in a lookup: the input is
		// bad, not the server.
		return auth.Errorf(auth.EINVALID, "The text must be valid UTF-8 without NUL characters.")
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	if errors.As(err, &netErr) || errors.As(err, &connectErr) || pgconn.Timeout(err) || connectionLost(err) {
		// The database cannot be reached: the caller may try again
		// (503), and the cause stays in the chain for the log.
		unavailable := auth.Errorf(auth.EUNAVAILABLE, "The database is unavailable; try again later.")
		return fmt.Errorf("postgres: %s: %w: %w", op, unavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// connectionLost reports whether err says that the connection broke under
// the request: the server closed it (EOF), pgx found it closed before
// sending anything (a pooled connection that died while idle), or the
// server ended the session (an administrator or a shutdown terminated the
// backend, SQLSTATE class 57P; or a connection exception, class 08).
func connectionLost(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return true
	}
	return strings.HasPrefix(pgErr.Code, "08")
}
