package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.LogoutStore = (*DB)(nil)

// RecordSessionClient notes that a client was issued a code in a session;
// again, it only extends the record's expiry.
func (db *DB) RecordSessionClient(ctx context.Context, c *auth.SessionClient) error {
	if err := c.CheckStorable(); err != nil {
		return err
	}
	return db.inTx(ctx, "record session client", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_session_clients (session_hash, client_id, sid, user_id, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (session_hash, client_id) DO UPDATE SET expires_at = excluded.expires_at`,
			c.SessionHash, c.ClientID, c.SID, c.UserID, timeValue(c.CreatedAt), timeValue(c.ExpiresAt))
		return err
	})
}

// queueLogouts moves the session-client records that where (a condition on
// sc, with args) selects into logout_deliveries, for the clients that have
// a back-channel logout URI, and deletes them all.
func queueLogouts(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	rows, err := tx.QueryContext(ctx, `SELECT sc.client_id, sc.user_id, sc.sid FROM oauth_session_clients sc
		JOIN oauth_clients c ON c.id = sc.client_id
		WHERE c.backchannel_logout_uri <> '' AND `+where+` ORDER BY sc.client_id`, args...)
	if err != nil {
		return err
	}
	var queued []*auth.LogoutDelivery
	now := auth.SystemNow()
	for rows.Next() {
		d := &auth.LogoutDelivery{CreatedAt: now}
		if err := rows.Scan(&d.ClientID, &d.UserID, &d.SID); err != nil {
			rows.Close()
			return err
		}
		queued = append(queued, d)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, d := range queued {
		if d.ID, err = auth.NewID("bcl_", now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO logout_deliveries (id, client_id, user_id, sid, created_at)
			VALUES (?, ?, ?, ?, ?)`, d.ID, d.ClientID, d.UserID, d.SID, timeValue(d.CreatedAt)); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM oauth_session_clients AS sc WHERE `+where, args...)
	return err
}

// DueLogoutDeliveries returns up to limit deliveries due at now, the
// earliest first (never attempted ones before all).
func (db *DB) DueLogoutDeliveries(ctx context.Context, now time.Time, limit int) ([]*auth.LogoutDelivery, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, client_id, user_id, sid, created_at, attempts, next_attempt_at, last_error
		FROM logout_deliveries WHERE next_attempt_at IS NULL OR next_attempt_at <= ?
		ORDER BY next_attempt_at, id LIMIT ?`, now.UnixMicro(), limit)
	if err != nil {
		return nil, translate("due logout deliveries", err)
	}
	defer rows.Close()
	var out []*auth.LogoutDelivery
	for rows.Next() {
		var (
			d             auth.LogoutDelivery
			created, next sql.NullInt64
		)
		if err := rows.Scan(&d.ID, &d.ClientID, &d.UserID, &d.SID, &created, &d.Attempts, &next, &d.LastError); err != nil {
			return nil, translate("due logout deliveries", err)
		}
		d.CreatedAt, d.NextAttemptAt = timeFrom(created), timeFrom(next)
		out = append(out, &d)
	}
	return out, translate("due logout deliveries", rows.Err())
}

// FinishLogoutDelivery deletes the delivery if it still has attempts
// attempts, with the events.
func (db *DB) FinishLogoutDelivery(ctx context.Context, id string, attempts int, events ...auth.AuditEvent) (bool, error) {
	var done bool
	err := db.inTx(ctx, "finish logout delivery", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM logout_deliveries WHERE id = ? AND attempts = ?`, id, attempts)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		done = true
		return insertEvents(ctx, tx, events)
	})
	return done, err
}

// RetryLogoutDelivery records a failed attempt if the delivery still has
// attempts attempts.
func (db *DB) RetryLogoutDelivery(ctx context.Context, d *auth.LogoutDelivery, attempts int) (bool, error) {
	var done bool
	err := db.inTx(ctx, "retry logout delivery", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE logout_deliveries SET attempts = ?, next_attempt_at = ?, last_error = ?
			WHERE id = ? AND attempts = ?`, d.Attempts, timeValue(d.NextAttemptAt), d.LastError, d.ID, attempts)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		done = n > 0
		return err
	})
	return done, err
}
