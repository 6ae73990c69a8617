package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.PasswordResetStore = (*DB)(nil)

// CreatePasswordResetLink inserts l, deletes the user's other links and
// appends the events in one transaction. ECONFLICT if the hash exists;
// ENOTFOUND if the user does not; EINVALID if l is incomplete.
func (db *DB) CreatePasswordResetLink(ctx context.Context, l *auth.PasswordResetLink, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(l, events); err != nil {
		return err
	}
	err := db.inTx(ctx, "create password reset link", func(tx pgx.Tx) error {
		// Locks the user's row, so two links made at once leave one.
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM oauth_users WHERE id = $1 FOR UPDATE`, l.UserID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.Errorf(auth.ENOTFOUND, "User not found.")
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM password_reset_links WHERE user_id = $1`, l.UserID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO password_reset_links (hash, user_id, created_by, created_at, expires_at, used_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, l.Hash, l.UserID, l.CreatedBy, timeValue(l.CreatedAt), timeValue(l.ExpiresAt), timeValue(l.UsedAt)); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A password reset link with this hash exists.")
}

// GetPasswordResetLink returns the link with that hash, or ENOTFOUND.
func (db *DB) GetPasswordResetLink(ctx context.Context, hash []byte) (*auth.PasswordResetLink, error) {
	notFound := auth.Errorf(auth.ENOTFOUND, "Password reset link not found.")
	if len(hash) == 0 {
		return nil, notFound
	}
	var (
		l                      auth.PasswordResetLink
		created, expires, used pgtype.Timestamptz
	)
	err := db.pool.QueryRow(ctx, `SELECT hash, user_id, created_by, created_at, expires_at, used_at
		FROM password_reset_links WHERE hash = $1`, hash).Scan(&l.Hash, &l.UserID, &l.CreatedBy, &created, &expires, &used)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, translate("get password reset link", err)
	}
	l.CreatedAt, l.ExpiresAt, l.UsedAt = timeFrom(created), timeFrom(expires), timeFrom(used)
	return &l, nil
}

// RedeemPasswordResetLink marks the link used, sets its user's password,
// ends the user's sessions and removes their other links, in one
// transaction (see auth.PasswordResetStore). ENOTFOUND if the link is
// unknown, used or expired at r.At.
func (db *DB) RedeemPasswordResetLink(ctx context.Context, hash []byte, r auth.PasswordReset, events ...auth.AuditEvent) (string, error) {
	if len(hash) == 0 || r.PasswordHash == "" || r.At.IsZero() {
		return "", auth.Errorf(auth.EINVALID, "A redemption needs the link's hash, a password hash and a time.")
	}
	if err := auth.CheckStorableEvents(events); err != nil {
		return "", err
	}
	var userID string
	err := db.inTx(ctx, "redeem password reset link", func(tx pgx.Tx) error {
		// The conditional update is the single use: of two concurrent
		// redemptions the second waits for the first's row lock, then
		// finds used_at set.
		err := tx.QueryRow(ctx, `UPDATE password_reset_links SET used_at = $1
			WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id`,
			timeValue(r.At), hash).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.Errorf(auth.ENOTFOUND, "Password reset link not found.")
		} else if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE oauth_users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3`,
			r.PasswordHash, timeValue(r.At), userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return auth.Errorf(auth.ENOTFOUND, "User not found.")
		}
		if err := queueLogouts(ctx, tx, `sc.user_id = $1`, userID); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM oauth_sessions WHERE user_id = $1`,
			`DELETE FROM dashboard_sessions WHERE user_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM password_reset_links WHERE user_id = $1 AND hash <> $2`, userID, hash); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	if err != nil {
		return "", err
	}
	return userID, nil
}
