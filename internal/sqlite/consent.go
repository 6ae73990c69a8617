package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func scanConsent(row scanner) (*auth.Consent, error) {
	var (
		c       auth.Consent
		scopes  string
		granted sql.NullInt64
	)
	if err := row.Scan(&c.UserID, &c.ClientID, &scopes, &granted); err != nil {
		return nil, err
	}
	var err error
	if c.Scopes, err = scopesFrom(scopes); err != nil {
		return nil, err
	}
	c.GrantedAt = timeFrom(granted)
	return &c, nil
}

// GetConsent returns the consent of the user to the client, or ENOTFOUND.
func (db *DB) GetConsent(ctx context.Context, userID, clientID string) (*auth.Consent, error) {
	c, err := scanConsent(db.read.QueryRowContext(ctx, `SELECT user_id, client_id, scopes, granted_at
		FROM oauth_consents WHERE user_id = ? AND client_id = ?`, userID, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Consent not found.")
	}
	if err != nil {
		return nil, translate("get consent", err)
	}
	return c, nil
}

// SaveConsent inserts or replaces the consent of c.UserID to c.ClientID and
// appends the events in one transaction. EINVALID if either ID is missing
// or c holds text no backend can store.
func (db *DB) SaveConsent(ctx context.Context, c *auth.Consent, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(c, events); err != nil {
		return err
	}
	scopes, err := scopesJSON(c.Scopes)
	if err != nil {
		return translate("save consent", err)
	}
	return db.inTx(ctx, "save consent", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO oauth_consents (user_id, client_id, scopes, granted_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
			c.UserID, c.ClientID, scopes, timeValue(c.GrantedAt)); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}

// ListConsents returns every consent of a user, in ascending client ID
// order.
func (db *DB) ListConsents(ctx context.Context, userID string) ([]*auth.Consent, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT user_id, client_id, scopes, granted_at
		FROM oauth_consents WHERE user_id = ? ORDER BY client_id`, userID)
	if err != nil {
		return nil, translate("list consents", err)
	}
	defer rows.Close()
	var out []*auth.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, translate("list consents", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list consents", err)
	}
	return out, nil
}

// DeleteConsent removes the consent and, in the same transaction, revokes
// at at every refresh-token family of that user and client (as
// RevokeFamily does: tokens marked revoked, unexpired access tokens on the
// revocation list) and appends the events. ENOTFOUND if there is no such
// consent.
func (db *DB) DeleteConsent(ctx context.Context, userID, clientID string, at time.Time, events ...auth.AuditEvent) error {
	if err := auth.CheckRevocation(at, events); err != nil {
		return err
	}
	return db.inTx(ctx, "delete consent", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return auth.Errorf(auth.ENOTFOUND, "Consent not found.")
		}
		// A family without refresh tokens (a client not allowed them) is
		// still known by the access tokens issued in it, and a code not yet
		// redeemed (it lives a minute) by the family it will start: marked
		// revoked, it takes no token.
		rows, err := tx.QueryContext(ctx, `SELECT family_id FROM refresh_tokens WHERE user_id = ?1 AND client_id = ?2
			UNION SELECT family_id FROM issued_tokens WHERE user_id = ?1 AND client_id = ?2
			UNION SELECT family_id FROM oauth_codes WHERE user_id = ?1 AND client_id = ?2 AND family_id <> ''
			UNION SELECT family_id FROM oauth_device_grants WHERE user_id = ?1 AND client_id = ?2 AND family_id <> ''`, userID, clientID)
		if err != nil {
			return err
		}
		families, err := collectStrings(rows)
		if err != nil {
			return err
		}
		if _, err := revokeFamilies(ctx, tx, at, families); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}
