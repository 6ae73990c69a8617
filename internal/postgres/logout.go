package postgres

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var _ auth.LogoutStore = (*DB)(nil)

// RecordSessionClient notes that a client was issued a code in a session;
// again, it only extends the record's expiry.
func (db *DB) RecordSessionClient(ctx context.Context, c *auth.SessionClient) error {
	if err := c.CheckStorable(); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_session_clients (session_hash, client_id, sid, user_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (session_hash, client_id) DO UPDATE SET expires_at = excluded.expires_at`,
		c.SessionHash, c.ClientID, c.SID, c.UserID, timeValue(c.CreatedAt), timeValue(c.ExpiresAt))
	return translate("record session client", err)
}

// queueLogouts deletes the session-client records that where (a condition
// on sc, with args) selects and queues a logout delivery for each whose
// client has a back-channel logout URI. The delete locks the rows, so of
// two transactions ending the same session only one queues.
func queueLogouts(ctx context.Context, tx pgx.Tx, where string, args ...any) error {
	rows, err := tx.Query(ctx, `WITH gone AS (DELETE FROM oauth_session_clients AS sc WHERE `+where+`
			RETURNING sc.client_id, sc.user_id, sc.sid)
		SELECT gone.client_id, gone.user_id, gone.sid FROM gone
		JOIN oauth_clients c ON c.id = gone.client_id
		WHERE c.backchannel_logout_uri <> '' ORDER BY gone.client_id`, args...)
	if err != nil {
		return err
	}
	now := auth.SystemNow()
	queued, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*auth.LogoutDelivery, error) {
		d := &auth.LogoutDelivery{CreatedAt: now}
		return d, r.Scan(&d.ClientID, &d.UserID, &d.SID)
	})
	if err != nil {
		return err
	}
	for _, d := range queued {
		if d.ID, err = auth.NewID("bcl_", now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO logout_deliveries (id, client_id, user_id, sid, created_at)
			VALUES ($1, $2, $3, $4, $5)`, d.ID, d.ClientID, d.UserID, d.SID, timeValue(d.CreatedAt)); err != nil {
			return err
		}
	}
	return nil
}

// DueLogoutDeliveries returns up to limit deliveries due at now, the
// earliest first (never attempted ones before all).
func (db *DB) DueLogoutDeliveries(ctx context.Context, now time.Time, limit int) ([]*auth.LogoutDelivery, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, client_id, user_id, sid, created_at, attempts, next_attempt_at, last_error
		FROM logout_deliveries WHERE next_attempt_at IS NULL OR next_attempt_at <= $1
		ORDER BY next_attempt_at NULLS FIRST, id LIMIT $2`, now, limit)
	if err != nil {
		return nil, translate("due logout deliveries", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*auth.LogoutDelivery, error) {
		var (
			d             auth.LogoutDelivery
			created, next pgtype.Timestamptz
		)
		err := r.Scan(&d.ID, &d.ClientID, &d.UserID, &d.SID, &created, &d.Attempts, &next, &d.LastError)
		d.CreatedAt, d.NextAttemptAt = timeFrom(created), timeFrom(next)
		return &d, err
	})
	return out, translate("due logout deliveries", err)
}

// FinishLogoutDelivery deletes the delivery if it still has attempts
// attempts, with the events.
func (db *DB) FinishLogoutDelivery(ctx context.Context, id string, attempts int, events ...auth.AuditEvent) (bool, error) {
	var done bool
	err := db.inTx(ctx, "finish logout delivery", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM logout_deliveries WHERE id = $1 AND attempts = $2`, id, attempts)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		done = true
		return appendEvents(ctx, tx, events)
	})
	return done, err
}

// RetryLogoutDelivery records a failed attempt if the delivery still has
// attempts attempts.
func (db *DB) RetryLogoutDelivery(ctx context.Context, d *auth.LogoutDelivery, attempts int) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE logout_deliveries SET attempts = $1, next_attempt_at = $2, last_error = $3
		WHERE id = $4 AND attempts = $5`, d.Attempts, timeValue(d.NextAttemptAt), d.LastError, d.ID, attempts)
	if err != nil {
		return false, translate("retry logout delivery", err)
	}
	return tag.RowsAffected() > 0, nil
}
