package postgres

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// notifyChannel is the one channel every change that can refuse a caller
// is notified on (see notifyChange), with "kind:id" as payload. Channels
// are per database, not per schema: nodes of other installations sharing
// the database hear the changes too, which only costs them cache misses.
const notifyChannel = "gatehouse_changes"

// legacyKeyChannel is the channel that versions before the change feed
// notified key changes on, with the key's ID as payload. Key changes are
// still notified, and heard, on it, so that during a rolling upgrade a key
// revoked through a node of one version is refused by nodes of the other:
// their caches trust their feeds, and would otherwise keep the key.
const legacyKeyChannel = "gatehouse_api_keys"

// legacyRevocationChannel is the channel that versions before the change
// feed notified revocations on, without payload. Revocations are still
// notified, and heard, on it for the same reason (see legacyKeyChannel):
// a node of the other version would otherwise see a revocation only at
// its next poll.
const legacyRevocationChannel = "gatehouse_revocations"

// watcherAppSuffix is appended to the application_name of the watcher's
// connections, for whoever reads pg_stat_activity.
const watcherAppSuffix = " (change watcher)"

// Reconnection delays of a watcher whose connection failed: doubling from
// the first to the last, with jitter so that nodes do not all reconnect in
// the same instant after a database restart.
const (
	watchBackoffFirst = 100 * time.Millisecond
	watchBackoffLast  = 10 * time.Second
)

// replayMargin bounds the time a rotation or revocation takes from setting
// changed_at to committing. After a reconnection, changes are replayed from
// this long before the moment up to which the watcher knew it had received
// everything, so one that committed late is not missed.
const replayMargin = time.Minute

// notifyChange queues the notification of a change; PostgreSQL delivers
// it, to every node's watcher, only if the transaction commits.
func notifyChange(ctx context.Context, tx pgx.Tx, kind auth.ChangeKind, id string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, string(kind)+":"+id)
	return err
}

// notifyRevoked queues the notification of a revocation: the revocation
// lists of every node reread the list. It goes on both channels (see
// legacyRevocationChannel).
func notifyRevoked(ctx context.Context, tx pgx.Tx) error {
	if err := notifyChange(ctx, tx, auth.ChangeRevocation, ""); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, legacyRevocationChannel)
	return err
}

// notifyChanged queues the notification of a change to an API key
// (rotated or revoked), on both channels (see legacyKeyChannel).
func notifyChanged(ctx context.Context, tx pgx.Tx, id string) error {
	if err := notifyChange(ctx, tx, auth.ChangeAPIKey, id); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, legacyKeyChannel, id)
	return err
}

// received reads a notification of notifyChange or of an older node (see
// legacyKeyChannel and legacyRevocationChannel). Payloads of another form (a newer node's) are passed
// on as they are, for consumers to ignore.
func received(n *pgconn.Notification) (auth.Change, bool) {
	switch n.Channel {
	case notifyChannel:
		kind, id, _ := strings.Cut(n.Payload, ":")
		return auth.Change{Kind: auth.ChangeKind(kind), ID: id}, true
	case legacyKeyChannel:
		return auth.Change{Kind: auth.ChangeAPIKey, ID: n.Payload}, n.Payload != ""
	case legacyRevocationChannel:
		return auth.Change{Kind: auth.ChangeRevocation}, true
	}
	return auth.Change{}, false
}

// errClosed is returned by the watchers once the DB is closed.
var errClosed = errors.New("postgres: watch: store closed")

// WatchChanges reports to h every change that any node commits (see
// notifyChange and auth.ChangeKind), until ctx is done; it
// returns ctx.Err() then, or an error once db is closed. h is called on the
// calling goroutine, one call at a time, and must return quickly:
// PostgreSQL queues notifications meanwhile. A change may be reported
// more than once.
//
// It listens on a connection of its own, and vouches for it with
// h.FeedSynced every heartbeat (a quarter of auth.FeedMaxAge), each time the
// server has answered a query sent after everything reported so far: a
// connection that dies silently stops those calls, and its consumer stops
// trusting its cache within auth.FeedMaxAge. If the connection fails,
// it calls h.FeedLost at once, reconnects with backoff (logging the error
// to db.Logger) and then, before the next FeedSynced, reports what changed
// while it was away: the API keys by their changed_at column, and every
// other kind with an empty ID (anything of the kind may have changed).
// Each connection does the same when it opens, so no change is lost to a
// disconnection, nor to the time the first connection takes to open.
func (db *DB) WatchChanges(ctx context.Context, h auth.ChangeHandler) error {
	if h == nil {
		return errors.New("postgres: watch changes: nil handler")
	}
	// synced is the server time up to which every change has been
	// reported; zero until the first connection listens. That first
	// connection still replays the changes made since the watch began: the
	// caller may have cached keys while the connection was being set up.
	var synced time.Time
	watchStart := time.Now()
	return db.watch(ctx, "change watcher", func(ctx context.Context) error {
		err := db.listen(ctx, h, &synced, watchStart)
		if ctx.Err() == nil {
			// Before the backoff: the consumer must stop trusting the
			// feed now, not when the reconnection is attempted.
			h.FeedLost(err)
		}
		return err
	})
}

// watch runs listen until ctx is done or db is closed, reconnecting with
// backoff (and a log line naming what) whenever it fails.
func (db *DB) watch(ctx context.Context, what string, listen func(context.Context) error) error {
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(db.closing, cancel)()
	backoff := watchBackoffFirst
	for {
		started := time.Now()
		err := listen(watchCtx)
		if watchCtx.Err() != nil {
			return db.watchStopped(ctx)
		}
		if time.Since(started) > watchBackoffLast {
			// The connection worked for a while: this is a new failure,
			// not the next one of a series.
			backoff = watchBackoffFirst
		}
		delay := backoff/2 + rand.N(backoff/2+1)
		if db.Logger != nil {
			db.Logger.LogAttrs(watchCtx, slog.LevelWarn, "postgres: "+what+" reconnecting",
				slog.Any("err", err), slog.Duration("delay", delay))
		}
		t := time.NewTimer(delay)
		select {
		case <-watchCtx.Done():
			t.Stop()
			return db.watchStopped(ctx)
		case <-t.C:
		}
		backoff = min(2*backoff, watchBackoffLast)
		if db.beforeReconnect != nil {
			db.beforeReconnect()
		}
	}
}

// watchStopped returns why a watcher with caller context ctx stopped: the
// caller's ctx.Err(), or errClosed if Close stopped it.
func (db *DB) watchStopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return errClosed
}

// listen opens a connection, listens on notifyChannel, reports the changes
// made since *synced (or, while it is zero, since watchStart) and then
// passes on each notification, until ctx is done or the connection fails.
// It advances *synced as it learns that everything up to a time has been
// reported, and tells h so.
func (db *DB) listen(ctx context.Context, h auth.ChangeHandler, synced *time.Time, watchStart time.Time) error {
	conn, err := pgx.ConnectConfig(ctx, db.listenConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		// ctx may be done already, and a dead peer must not hold us up.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		// The connection is finished with either way; a failure to say
		// goodbye to the server changes nothing.
		_ = conn.Close(closeCtx)
	}()
	if db.beforeListen != nil {
		db.beforeListen()
	}
	for _, channel := range []string{notifyChannel, legacyKeyChannel, legacyRevocationChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			return err
		}
	}

	// From here on every commit is notified. Changes committed while no
	// connection listened are found by changed_at. sent (and every later
	// one) goes to FeedSynced as time.Now returned it: its monotonic
	// reading is what the handler measures auth.FeedMaxAge from.
	sent := time.Now()
	now, err := serverTime(ctx, conn)
	if err != nil {
		return err
	}
	since := *synced
	if since.IsZero() {
		// The watch began this long ago by the local monotonic clock;
		// measured on the server's clock so that skew between the two
		// does not matter.
		since = now.Add(-time.Since(watchStart))
	}
	rows, err := conn.Query(ctx, `SELECT id FROM api_keys WHERE changed_at >= $1 ORDER BY id`,
		since.Add(-replayMargin))
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range ids {
		h.Changed(auth.Change{Kind: auth.ChangeAPIKey, ID: id})
	}
	// No other kind keeps a change time: what changed meanwhile is
	// anything.
	for _, kind := range auth.ChangeKinds {
		if kind != auth.ChangeAPIKey {
			h.Changed(auth.Change{Kind: kind})
		}
	}
	// What committed before sent was committed before LISTEN (and is in
	// the replay) or notified ahead of the answer to serverTime.
	passOnReceived(conn, h)
	*synced = now
	h.FeedSynced(sent)

	checked := sent
	for {
		if wait := db.heartbeat - time.Since(checked); wait > 0 {
			waitCtx, cancel := context.WithTimeout(ctx, wait)
			n, err := conn.WaitForNotification(waitCtx)
			cancel()
			switch {
			case err == nil:
				if c, ok := received(n); ok {
					h.Changed(c)
				}
				continue
			case ctx.Err() != nil:
				return ctx.Err()
			case waitCtx.Err() == nil || conn.IsClosed():
				// A backend terminated by the server (or an
				// administrator) sends a FATAL error, on which pgx
				// closes the connection and returns at once.
				return err
			}
		}
		// Every heartbeat, ask the server for its time. The answer proves
		// the connection alive (a peer that vanished without closing TCP
		// would otherwise go unnoticed for a long time), and the server
		// sends every notification committed before it ahead of it, so
		// everything up to that time has been received.
		// The answer may take a while on a loaded server: a check that
		// gives up too soon would drop a healthy connection (and, with a
		// short heartbeat, never let one last). Meanwhile no FeedSynced
		// comes, so the consumer stops trusting the feed after
		// auth.FeedMaxAge anyway, and trusts it again once the late
		// answer comes.
		sent := time.Now()
		checkCtx, cancel := context.WithTimeout(ctx, max(db.heartbeat, 5*time.Second))
		now, err := serverTime(checkCtx, conn)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		passOnReceived(conn, h)
		*synced = now
		h.FeedSynced(sent)
		checked = sent
	}
}

// passOnReceived passes on the notifications that arrived along with the
// answer to a query, which pgx keeps until the next WaitForNotification:
// FeedSynced must not be called before they reach h.
func passOnReceived(conn *pgx.Conn, h auth.ChangeHandler) {
	// pgx returns a notification it already holds before looking at the
	// context; with a context already done it reads nothing from the
	// connection and returns at once when none is left.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		n, _ := conn.WaitForNotification(done)
		if n == nil {
			return
		}
		if c, ok := received(n); ok {
			h.Changed(c)
		}
	}
}

// serverTime returns the database server's current time, the clock that
// changed_at is written with.
func serverTime(ctx context.Context, conn *pgx.Conn) (time.Time, error) {
	var t time.Time
	err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t)
	return t, err
}
