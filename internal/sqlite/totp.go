package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.MFAStore = (*DB)(nil)

func totpNotFound() error {
	return auth.Errorf(auth.ENOTFOUND, "No authenticator app is set up for this user.")
}

// GetTOTP returns the user's TOTP secret, pending or confirmed; ENOTFOUND
// when there is none.
func (db *DB) GetTOTP(ctx context.Context, userID string) (*auth.TOTPSecret, error) {
	t := auth.TOTPSecret{UserID: userID}
	var created, confirmed sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT sealed, created_at, confirmed_at, last_step FROM totp_secrets WHERE user_id = ?`, userID).
		Scan(&t.Sealed, &created, &confirmed, &t.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, totpNotFound()
	}
	if err != nil {
		return nil, translate("get totp", err)
	}
	t.CreatedAt, t.ConfirmedAt = timeFrom(created), timeFrom(confirmed)
	return &t, nil
}

// PutPendingTOTP stores an unconfirmed secret, replacing the user's pending
// one. ECONFLICT when the user has a confirmed secret; ENOTFOUND for an
// unknown user; EINVALID for a confirmed or incomplete record.
func (db *DB) PutPendingTOTP(ctx context.Context, t *auth.TOTPSecret) error {
	if err := t.CheckStorable(); err != nil {
		return err
	}
	if t.Confirmed() {
		return auth.Errorf(auth.EINVALID, "A pending TOTP secret cannot be confirmed already.")
	}
	return db.inTx(ctx, "put pending totp", func(tx *sql.Tx) error {
		if err := userExists(ctx, tx, t.UserID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO totp_secrets (user_id, sealed, created_at, confirmed_at, last_step) VALUES (?, ?, ?, NULL, 0)
			ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at, last_step = 0
			WHERE totp_secrets.confirmed_at IS NULL`, t.UserID, t.Sealed, timeValue(t.CreatedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return auth.Errorf(auth.ECONFLICT, "An authenticator app is already set up for this user.")
		}
		return nil
	})
}

func userExists(ctx context.Context, tx *sql.Tx, userID string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM oauth_users WHERE id = ?`, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Errorf(auth.ENOTFOUND, "User not found.")
	}
	return err
}

// ConfirmTOTP confirms the pending secret sealed as sealed, replaces the
// recovery codes and appends events, in one transaction; see
// auth.MFAStore.
func (db *DB) ConfirmTOTP(ctx context.Context, userID string, sealed []byte, step int64, at time.Time, hashes [][]byte, events ...auth.AuditEvent) error {
	if err := auth.CheckRecoveryCodesWrite(userID, hashes, events); err != nil {
		return err
	}
	if at.IsZero() {
		return auth.Errorf(auth.EINVALID, "A confirmation needs a time.")
	}
	return db.inTx(ctx, "confirm totp", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE totp_secrets SET confirmed_at = ?, last_step = ?
			WHERE user_id = ? AND confirmed_at IS NULL AND sealed = ?`, timeValue(at), step, userID, sealed)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return auth.Errorf(auth.ENOTFOUND, "The authenticator app set-up expired or was replaced; start again.")
		}
		return replaceCodes(ctx, tx, userID, hashes, at, events)
	})
}

func replaceCodes(ctx context.Context, tx *sql.Tx, userID string, hashes [][]byte, at time.Time, events []auth.AuditEvent) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, hash, created_at) VALUES (?, ?, ?)`, userID, h, timeValue(at)); err != nil {
			return err
		}
	}
	return insertEvents(ctx, tx, events)
}

// AdvanceTOTPStep records step as the last accepted step if it is later
// than the recorded one; ECONFLICT if not, ENOTFOUND without a confirmed
// secret.
func (db *DB) AdvanceTOTPStep(ctx context.Context, userID string, step int64) error {
	return db.inTx(ctx, "advance totp step", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE totp_secrets SET last_step = ?
			WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?`, step, userID, step)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM totp_secrets WHERE user_id = ? AND confirmed_at IS NOT NULL`, userID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return totpNotFound()
		}
		if err != nil {
			return err
		}
		return auth.Errorf(auth.ECONFLICT, "This code was used already.")
	})
}

// DeleteTOTP removes the user's secret and recovery codes and appends
// events; ENOTFOUND when there is no secret.
func (db *DB) DeleteTOTP(ctx context.Context, userID string, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "delete totp", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM totp_secrets WHERE user_id = ?`, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return totpNotFound()
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}

// ReplaceRecoveryCodes replaces the user's recovery codes and appends
// events; ENOTFOUND without a confirmed secret.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time, events ...auth.AuditEvent) error {
	if err := auth.CheckRecoveryCodesWrite(userID, hashes, events); err != nil {
		return err
	}
	return db.inTx(ctx, "replace recovery codes", func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM totp_secrets WHERE user_id = ? AND confirmed_at IS NOT NULL`, userID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return totpNotFound()
		}
		if err != nil {
			return err
		}
		return replaceCodes(ctx, tx, userID, hashes, at, events)
	})
}

// UseRecoveryCode marks the user's unused code with that hash used and
// appends events; ENOTFOUND when there is no such unused code.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, hash []byte, at time.Time, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "use recovery code", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL`,
			timeValue(at), userID, hash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return auth.Errorf(auth.ENOTFOUND, "No such unused recovery code.")
		}
		return insertEvents(ctx, tx, events)
	})
}

// CountRecoveryCodes returns how many of the user's recovery codes are
// unused.
func (db *DB) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n)
	if err != nil {
		return 0, translate("count recovery codes", err)
	}
	return n, nil
}
