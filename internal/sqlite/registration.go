package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.RegistrationStore = (*DB)(nil)

const initialTokenColumns = `id, hash, hint, created_by, uses, used, created_at, expires_at, last_used_at, revoked_at`

func scanInitialToken(row scanner) (*auth.InitialAccessToken, error) {
	var (
		t                                   auth.InitialAccessToken
		created, expires, lastUsed, revoked sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.Hash, &t.Hint, &t.CreatedBy, &t.Uses, &t.Used,
		&created, &expires, &lastUsed, &revoked); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt = timeFrom(created), timeFrom(expires)
	t.LastUsedAt, t.RevokedAt = timeFrom(lastUsed), timeFrom(revoked)
	return &t, nil
}

func initialTokenNotFound() error {
	return auth.Errorf(auth.ENOTFOUND, "Initial access token not found.")
}

// CreateInitialAccessToken inserts t and appends the events in one
// transaction. ECONFLICT if the ID or hash exists.
func (db *DB) CreateInitialAccessToken(ctx context.Context, t *auth.InitialAccessToken, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(t, events); err != nil {
		return err
	}
	err := db.inTx(ctx, "create initial access token", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO initial_access_tokens (`+initialTokenColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Hash, t.Hint, t.CreatedBy, t.Uses, t.Used, timeValue(t.CreatedAt), timeValue(t.ExpiresAt),
			timeValue(t.LastUsedAt), timeValue(t.RevokedAt)); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "An initial access token with this ID or hash already exists.")
}

// GetInitialAccessToken returns the token with that hash, or ENOTFOUND.
func (db *DB) GetInitialAccessToken(ctx context.Context, hash []byte) (*auth.InitialAccessToken, error) {
	if len(hash) == 0 {
		return nil, initialTokenNotFound()
	}
	t, err := scanInitialToken(db.read.QueryRowContext(ctx, `SELECT `+initialTokenColumns+`
		FROM initial_access_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
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
	rows, err := db.read.QueryContext(ctx, `SELECT `+initialTokenColumns+` FROM initial_access_tokens
		WHERE id > ? ORDER BY id LIMIT ?`, f.After, limit+1)
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
	err := db.inTx(ctx, "revoke initial access token", func(tx *sql.Tx) error {
		t, err := scanInitialToken(tx.QueryRowContext(ctx, `SELECT `+initialTokenColumns+`
			FROM initial_access_tokens WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
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
		if _, err := tx.ExecContext(ctx, `UPDATE initial_access_tokens SET revoked_at = ? WHERE id = ?`,
			timeValue(at), id); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RegisterClient takes one use of the token with hash tokenHash and
// inserts c, with the events, in one transaction: the single writer
// connection serializes it with every other write, so two registrations
// never take the same last use.
func (db *DB) RegisterClient(ctx context.Context, c *auth.Client, tokenHash []byte, at time.Time, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(c, events); err != nil {
		return err
	}
	if len(tokenHash) == 0 {
		return initialTokenNotFound()
	}
	err := db.inTx(ctx, "register client", func(tx *sql.Tx) error {
		t, err := scanInitialToken(tx.QueryRowContext(ctx, `SELECT `+initialTokenColumns+`
			FROM initial_access_tokens WHERE hash = ?`, tokenHash))
		if errors.Is(err, sql.ErrNoRows) {
			return initialTokenNotFound()
		}
		if err != nil {
			return err
		}
		used, err := t.Use(at)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE initial_access_tokens SET used = ?, last_used_at = ? WHERE id = ?`,
			used.Used, timeValue(used.LastUsedAt), t.ID); err != nil {
			return err
		}
		if err := insertClient(ctx, tx, c); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A client with this ID already exists.")
}
