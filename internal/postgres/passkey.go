package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var _ auth.PasskeyStore = (*DB)(nil)

func passkeyNotFound() error { return auth.Errorf(auth.ENOTFOUND, "Passkey not found.") }

const passkeyColumns = `id, user_id, name, credential_id, public_key, attestation_type, attestation_format,
	attestation, transports, aaguid, attachment, sign_count, backup_eligible, backup_state, user_verified,
	clone_warning, created_at, last_used_at`

func scanPasskey(row pgx.Row) (*auth.Passkey, error) {
	var (
		p                 auth.Passkey
		signCount         int64
		created, lastUsed pgtype.Timestamptz
	)
	if err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.CredentialID, &p.PublicKey, &p.AttestationType,
		&p.AttestationFormat, &p.Attestation, &p.Transports, &p.AAGUID, &p.Attachment, &signCount,
		&p.BackupEligible, &p.BackupState, &p.UserVerified, &p.CloneWarning, &created, &lastUsed); err != nil {
		return nil, err
	}
	nonNil(&p.Transports)
	p.SignCount = uint32(signCount)
	p.CreatedAt = timeFrom(created)
	p.LastUsedAt = timeFrom(lastUsed)
	return &p, nil
}

// CreatePasskey inserts p and appends the events in one transaction.
// ECONFLICT if its ID or credential ID exists.
func (db *DB) CreatePasskey(ctx context.Context, p *auth.Passkey, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(p, events); err != nil {
		return err
	}
	return db.inTx(ctx, "create passkey", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			p.ID, p.UserID, p.Name, p.CredentialID, p.PublicKey, p.AttestationType, p.AttestationFormat,
			p.Attestation, list(p.Transports), p.AAGUID, p.Attachment, int64(p.SignCount), p.BackupEligible,
			p.BackupState, p.UserVerified, p.CloneWarning, timeValue(p.CreatedAt), timeValue(p.LastUsedAt)); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// GetPasskeyByCredentialID returns the passkey with that credential ID, or
// ENOTFOUND.
func (db *DB) GetPasskeyByCredentialID(ctx context.Context, credentialID []byte) (*auth.Passkey, error) {
	if len(credentialID) == 0 {
		return nil, passkeyNotFound()
	}
	p, err := scanPasskey(db.pool.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1`, credentialID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, passkeyNotFound()
	}
	if err != nil {
		return nil, translate("get passkey", err)
	}
	return p, nil
}

// ListPasskeys returns the passkeys of a user, oldest first.
func (db *DB) ListPasskeys(ctx context.Context, userID string) ([]*auth.Passkey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, translate("list passkeys", err)
	}
	defer rows.Close()
	out := []*auth.Passkey{}
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, translate("list passkeys", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list passkeys", err)
	}
	return out, nil
}

// RenamePasskey sets the name of the user's passkey. ENOTFOUND if the user
// has no such passkey.
func (db *DB) RenamePasskey(ctx context.Context, userID, id, name string, events ...auth.AuditEvent) error {
	if err := auth.CheckText("passkey", name, userID, id); err != nil {
		return err
	}
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "rename passkey", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3`, name, id, userID)
		if err := oneRow(tag, err, passkeyNotFound); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// DeletePasskey removes the user's passkey. ENOTFOUND if the user has no
// such passkey.
func (db *DB) DeletePasskey(ctx context.Context, userID, id string, events ...auth.AuditEvent) error {
	if err := auth.CheckText("passkey", userID, id); err != nil {
		return err
	}
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "delete passkey", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, id, userID)
		if err := oneRow(tag, err, passkeyNotFound); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// RecordPasskeyUse applies a sign-in to the passkey if its sign count is
// still ifSignCount. ENOTFOUND if it is gone; ECONFLICT if the count
// changed.
func (db *DB) RecordPasskeyUse(ctx context.Context, id string, ifSignCount uint32, use auth.PasskeyUse, events ...auth.AuditEvent) error {
	if err := auth.CheckText("passkey", id); err != nil {
		return err
	}
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "record passkey use", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE passkeys SET sign_count = $1, backup_state = $2, user_verified = $3,
			clone_warning = $4, last_used_at = $5 WHERE id = $6 AND sign_count = $7`,
			int64(use.SignCount), use.BackupState, use.UserVerified, use.CloneWarning, timeValue(use.At), id, int64(ifSignCount))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM passkeys WHERE id = $1`, id).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return passkeyNotFound()
			} else if err != nil {
				return err
			}
			return auth.Errorf(auth.ECONFLICT, "The passkey was used at the same time elsewhere.")
		}
		return appendEvents(ctx, tx, events)
	})
}

// CreatePasskeyCeremony stores c and forgets the ceremonies that expired
// before c.CreatedAt. ECONFLICT if its hash exists.
func (db *DB) CreatePasskeyCeremony(ctx context.Context, c *auth.PasskeyCeremony) error {
	if err := c.CheckStorable(); err != nil {
		return err
	}
	return db.inTx(ctx, "create passkey ceremony", func(tx pgx.Tx) error {
		if !c.CreatedAt.IsZero() {
			if _, err := tx.Exec(ctx, `DELETE FROM passkey_ceremonies WHERE expires_at <= $1`, timeValue(c.CreatedAt)); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO passkey_ceremonies (hash, kind, user_id, data, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, c.Hash, c.Kind, c.UserID, c.Data, timeValue(c.CreatedAt), timeValue(c.ExpiresAt))
		return err
	})
}

// ConsumePasskeyCeremony removes the ceremony with that hash and returns
// it; ENOTFOUND if there is none or it has expired at now.
func (db *DB) ConsumePasskeyCeremony(ctx context.Context, hash []byte, now time.Time) (*auth.PasskeyCeremony, error) {
	notFound := auth.Errorf(auth.ENOTFOUND, "The passkey request expired or was already used.")
	if len(hash) == 0 {
		return nil, notFound
	}
	var (
		c                auth.PasskeyCeremony
		created, expires pgtype.Timestamptz
	)
	err := db.pool.QueryRow(ctx, `DELETE FROM passkey_ceremonies WHERE hash = $1
		RETURNING hash, kind, user_id, data, created_at, expires_at`, hash).Scan(&c.Hash, &c.Kind, &c.UserID, &c.Data, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, translate("consume passkey ceremony", err)
	}
	c.CreatedAt, c.ExpiresAt = timeFrom(created), timeFrom(expires)
	if auth.Expired(c.ExpiresAt, now) {
		return nil, notFound
	}
	return &c, nil
}
