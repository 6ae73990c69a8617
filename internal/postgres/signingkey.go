package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

const signingKeyColumns = `id, algorithm, public_jwk, private_key,
	created_at, activates_at, retired_at, expires_at`

func scanSigningKey(row pgx.Row) (*auth.SigningKey, error) {
	var (
		k                                   auth.SigningKey
		created, activates, retired, expire pgtype.Timestamptz
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.PublicJWK, &k.PrivateKey,
		&created, &activates, &retired, &expire); err != nil {
		return nil, err
	}
	k.CreatedAt = timeFrom(created)
	k.ActivatesAt = timeFrom(activates)
	k.RetiredAt = timeFrom(retired)
	k.ExpiresAt = timeFrom(expire)
	return &k, nil
}

// CreateSigningKey inserts k and appends the events in one transaction.
// ECONFLICT if the ID exists; EINVALID if k has no ID or holds text no
// backend can store.
func (db *DB) CreateSigningKey(ctx context.Context, k *auth.SigningKey, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(k, events); err != nil {
		return err
	}
	err := db.inTx(ctx, "create signing key", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			k.ID, k.Algorithm, auth.BytesOrNull(k.PublicJWK), auth.BytesOrNull(k.PrivateKey),
			timeValue(k.CreatedAt), timeValue(k.ActivatesAt), timeValue(k.RetiredAt), timeValue(k.ExpiresAt)); err != nil {
			return err
		}
		if err := notifyChange(ctx, tx, auth.ChangeSigningKey, k.ID); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A signing key with this ID already exists.")
}

// ListSigningKeys returns every key not yet deleted, oldest (by CreatedAt,
// then ID) first.
func (db *DB) ListSigningKeys(ctx context.Context) ([]*auth.SigningKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		ORDER BY created_at NULLS FIRST, id`)
	if err != nil {
		return nil, translate("list signing keys", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*auth.SigningKey, error) { return scanSigningKey(r) })
	if err != nil {
		return nil, translate("list signing keys", err)
	}
	return keys, nil
}

// RetireSigningKey sets RetiredAt and ExpiresAt of a key that is not
// retired and appends the events in one transaction. ENOTFOUND if it does
// not exist; ECONFLICT if already retired; EINVALID if retiredAt is zero
// (which would mean "not retired").
func (db *DB) RetireSigningKey(ctx context.Context, id string, retiredAt, expiresAt time.Time, events ...auth.AuditEvent) error {
	if retiredAt.IsZero() {
		return auth.Errorf(auth.EINVALID, "Retirement time is required.")
	}
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "retire signing key", func(tx pgx.Tx) error {
		// FOR UPDATE: of two nodes retiring the same key, the second waits
		// and then sees it retired.
		k, err := scanSigningKey(tx.QueryRow(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.Errorf(auth.ENOTFOUND, "Signing key not found.")
		}
		if err != nil {
			return err
		}
		retired, err := k.Retire(retiredAt, expiresAt)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE id = $3`,
			timeValue(retired.RetiredAt), timeValue(retired.ExpiresAt), id); err != nil {
			return err
		}
		if err := notifyChange(ctx, tx, auth.ChangeSigningKey, id); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// DeleteExpiredSigningKeys removes retired keys whose ExpiresAt is before
// now and returns their IDs in ascending order.
func (db *DB) DeleteExpiredSigningKeys(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	err := db.inTx(ctx, "delete expired signing keys", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM signing_keys
			WHERE retired_at IS NOT NULL AND expires_at IS NOT NULL AND expires_at < $1
			RETURNING id`, timeValue(now))
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(ids) == 0 {
			return err
		}
		return notifyChange(ctx, tx, auth.ChangeSigningKey, "")
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}
