package sqlite

import (
	"context"
	"database/sql"
	"errors"

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
	err := db.inTx(ctx, "create password reset link", func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM oauth_users WHERE id = ?`, l.UserID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return auth.Errorf(auth.ENOTFOUND, "User not found.")
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM password_reset_links WHERE user_id = ?`, l.UserID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO password_reset_links (hash, user_id, created_by, created_at, expires_at, used_at)
			VALUES (?, ?, ?, ?, ?, ?)`, l.Hash, l.UserID, l.CreatedBy, timeValue(l.CreatedAt), timeValue(l.ExpiresAt), timeValue(l.UsedAt)); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
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
		created, expires, used sql.NullInt64
	)
	err := db.read.QueryRowContext(ctx, `SELECT hash, user_id, created_by, created_at, expires_at, used_at
		FROM password_reset_links WHERE hash = ?`, hash).Scan(&l.Hash, &l.UserID, &l.CreatedBy, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
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
	err := db.inTx(ctx, "redeem password reset link", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE password_reset_links SET used_at = ?
			WHERE hash = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id`,
			timeValue(r.At), hash, timeValue(r.At)).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return auth.Errorf(auth.ENOTFOUND, "Password reset link not found.")
		} else if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE oauth_users SET password_hash = ?, password_changed_at = ?, updated_at = ? WHERE id = ?`,
			r.PasswordHash, timeValue(r.At), timeValue(r.At), userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return auth.Errorf(auth.ENOTFOUND, "User not found.")
		}
		if err := queueLogouts(ctx, tx, `sc.user_id = ?`, userID); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM oauth_sessions WHERE user_id = ?`,
			`DELETE FROM dashboard_sessions WHERE user_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM password_reset_links WHERE user_id = ? AND hash <> ?`, userID, hash); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	if err != nil {
		return "", err
	}
	return userID, nil
}
