package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.RegistrationStore = (*DB)(nil)

const initialTokenColumns = `id, hash, hint, created_by, uses, used, created_at, expires_at, last_used_at, revoked_at`

func scanInitialToken(row pgx.Row) (*auth.InitialAccessToken, error) {
	var (
		t                                   auth.InitialAccessToken
		uses, used                          int32
		created, expires, lastUsed, revoked pgtype.Timestamptz
	)
	if err := row.Scan(&t.ID, &t.Hash, &t.Hint, &t.CreatedBy, &uses, &used,
		&created, &expires, &lastUsed, &revoked); err != nil {
		return nil, err
	}
	t.Uses, t.Used = int(uses), int(used)
	t.CreatedAt, t.ExpiresAt = timeFrom(created), timeFrom(expires)
	t.LastUsedAt, t.RevokedAt = timeFrom(lastUsed), timeFrom(revoked)
	return &t, nil
}

func initialTokenNotFound() error {
	return auth.Errorf(auth.ENOTFOUND, "Initial access token not found.")
}

// maxInt32 bounds the uses a token may have: the column is an integer.
const maxInt32 = 1<<31 - 1

// CreateInitialAccessToken inserts t and appends the events in one
// transaction. ECONFLICT if the ID or hash exists.
func (db *DB) CreateInitialAccessToken(ctx context.Context, t *auth.InitialAccessToken, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(t, events); err != nil {
		return err
	}
	if t.Uses > maxInt32 || t.Used > maxInt32 {
		return auth.Errorf(auth.EINVALID, "Initial access token uses are out of range.")
	}
	err := db.inTx(ctx, "create initial access token", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO initial_access_tokens (`+initialTokenColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			t.ID, t.Hash, t.Hint, t.CreatedBy, int32(t.Uses), int32(t.Used), timeValue(t.CreatedAt), timeValue(t.ExpiresAt),
			timeValue(t.LastUsedAt), timeValue(t.RevokedAt)); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "An initial access token with this ID or hash already exists.")
}

// GetInitialAccessToken returns the token with that hash, or ENOTFOUND.
func (db *DB) GetInitialAccessToken(ctx context.Context, hash []byte) (*auth.InitialAccessToken, error) {
	if len(hash) == 0 {
		return nil, initialTokenNotFound()
	}
	t, err := scanInitialToken(db.pool.QueryRow(ctx, `SELECT `+initialTokenColumns+`
		FROM initial_access_tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, initialTokenNotFound()
	}
	if err != nil {
		return nil, translate("get initial access token", err)
	}
	return t, nil
}

// ListInitialAccessTokens returns one page of tokens in ascending ID order
// and the cursor of the next page, "" on the last.
func (db *DB) ListInitialAccessTokens(ctx context.Context, f auth.InitialAccessTokenFilter) ([]*auth.InitialAccessToken, string, error) {
	if err := auth.CheckText("cursor", f.After); err != nil {
		return nil, "", err
	}
	limit := auth.PageSize(f.Limit)
	rows, err := db.pool.Query(ctx, `SELECT `+initialTokenColumns+` FROM initial_access_tokens
		WHERE id > $1 ORDER BY id LIMIT $2`, f.After, limit+1)
	if err != nil {
		return nil, "", translate("list initial access tokens", err)
	}
	defer rows.Close()
	var out []*auth.InitialAccessToken
	for rows.Next() {
		t, err := scanInitialToken(rows)
		if err != nil {
			return nil, "", translate("list initial access tokens", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", translate("list initial access tokens", err)
	}
	out, next := auth.Page(out, limit, func(t *auth.InitialAccessToken) string { return t.ID })
	return out, next, nil
}

// RevokeInitialAccessToken marks the token revoked at at and appends the
// events in one transaction; a revoked token is returned unchanged and
// nothing is written. ENOTFOUND if there is no such token.
func (db *DB) RevokeInitialAccessToken(ctx context.Context, id string, at time.Time, events ...auth.AuditEvent) (*auth.InitialAccessToken, error) {
	if err := auth.CheckStorableEvents(events); err != nil {
		return nil, err
	}
	if err := auth.CheckText("ID", id); err != nil {
		return nil, err
	}
	var out *auth.InitialAccessToken
	err := db.inTx(ctx, "revoke initial access token", func(tx pgx.Tx) error {
		t, err := scanInitialToken(tx.QueryRow(ctx, `SELECT `+initialTokenColumns+`
			FROM initial_access_tokens WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return initialTokenNotFound()
		}
		if err != nil {
			return err
		}
		out = t
		if !t.RevokedAt.IsZero() {
			return nil
		}
		t.RevokedAt = at
		if _, err := tx.Exec(ctx, `UPDATE initial_access_tokens SET revoked_at = $1 WHERE id = $2`,
			timeValue(at), id); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RegisterClient takes one use of the token with hash tokenHash and
// inserts c, with the events, in one transaction. The token's row is
// locked (FOR UPDATE) before Use reads it, so of two registrations racing
// for the last use the second sees it taken.
func (db *DB) RegisterClient(ctx context.Context, c *auth.Client, tokenHash []byte, at time.Time, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(c, events); err != nil {
		return err
	}
	if len(tokenHash) == 0 {
		return initialTokenNotFound()
	}
	err := db.inTx(ctx, "register client", func(tx pgx.Tx) error {
		t, err := scanInitialToken(tx.QueryRow(ctx, `SELECT `+initialTokenColumns+`
			FROM initial_access_tokens WHERE hash = $1 FOR UPDATE`, tokenHash))
		if errors.Is(err, pgx.ErrNoRows) {
			return initialTokenNotFound()
		}
		if err != nil {
			return err
		}
		used, err := t.Use(at)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE initial_access_tokens SET used = $1, last_used_at = $2 WHERE id = $3`,
			int32(used.Used), timeValue(used.LastUsedAt), t.ID); err != nil {
			return err
		}
		if err := insertClient(ctx, tx, c); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A client with this ID already exists.")
}
