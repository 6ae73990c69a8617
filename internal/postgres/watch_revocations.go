package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// revocationChannel is notified, without payload, by every transaction
// that puts access tokens on the revocation list.
const revocationChannel = "gatehouse_revocations"

// notifyRevoked queues the notification of a revocation; PostgreSQL
// delivers it only if the transaction commits.
func notifyRevoked(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, revocationChannel)
	return err
}

// WatchRevocations calls fn each time any node commits a revocation
// (RevokeToken, RevokeFamily, DeleteConsent, DeleteClient), and once each
// time its connection opens: the caller rereads the revocation list then,
// so what was revoked while no connection listened is not missed. It runs
// until ctx is done and returns ctx.Err(), or an error once db is closed.
// fn runs on the calling goroutine and must return quickly.
func (db *DB) WatchRevocations(ctx context.Context, fn func()) error {
	if fn == nil {
		return errors.New("postgres: watch revocations: nil callback")
	}
	return db.watch(ctx, "revocation watcher", func(ctx context.Context) error {
		return db.listenRevocations(ctx, fn)
	})
}

func (db *DB) listenRevocations(ctx context.Context, fn func()) error {
	conn, err := pgx.ConnectConfig(ctx, db.listenConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{revocationChannel}.Sanitize()); err != nil {
		return err
	}
	fn()
	for {
		waitCtx, cancel := context.WithTimeout(ctx, db.heartbeat)
		_, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			fn()
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case waitCtx.Err() == nil || conn.IsClosed():
			return err
		}
		// Quiet for a heartbeat: check that the peer is still there (a
		// vanished one would leave us deaf without an error).
		checkCtx, cancel := context.WithTimeout(ctx, max(db.heartbeat, 5*time.Second))
		_, err = serverTime(checkCtx, conn)
		cancel()
		if err != nil {
			return err
		}
	}
}
