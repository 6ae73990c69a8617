package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.ProviderStore = (*DB)(nil)

const providerColumns = `name, display_name, kind, issuer, client_id, client_secret, auth_method, scopes,
	claim_mapping, authorization_url, token_url, userinfo_url, emails_url, username_claim, create_users, enabled,
	created_at, updated_at, trust_email`

const providerLinkColumns = `provider, subject, user_id, email, created_at, last_used_at`

func scanProvider(row pgx.Row) (*auth.Provider, error) {
	var (
		p                auth.Provider
		mapping          []byte
		created, updated pgtype.Timestamptz
	)
	if err := row.Scan(&p.Name, &p.DisplayName, &p.Kind, &p.Issuer, &p.ClientID, &p.ClientSecret, &p.AuthMethod,
		&p.Scopes, &mapping, &p.AuthorizationURL, &p.TokenURL, &p.UserinfoURL, &p.EmailsURL, &p.UsernameClaim,
		&p.CreateUsers, &p.Enabled, &created, &updated, &p.TrustEmail); err != nil {
		return nil, err
	}
	nonNil(&p.Scopes)
	var err error
	if p.ClaimMapping, err = mapFrom(mapping); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = timeFrom(created), timeFrom(updated)
	return &p, nil
}

func providerValues(p *auth.Provider) ([]any, error) {
	mapping, err := mapJSON(p.ClaimMapping)
	if err != nil {
		return nil, err
	}
	return []any{p.Name, p.DisplayName, p.Kind, p.Issuer, p.ClientID, auth.BytesOrNull(p.ClientSecret), p.AuthMethod,
		list(p.Scopes), mapping, p.AuthorizationURL, p.TokenURL, p.UserinfoURL, p.EmailsURL, p.UsernameClaim,
		p.CreateUsers, p.Enabled, timeValue(p.CreatedAt), timeValue(p.UpdatedAt), p.TrustEmail}, nil
}

func scanProviderLink(row pgx.Row) (*auth.ProviderLink, error) {
	var (
		l              auth.ProviderLink
		created, inUse pgtype.Timestamptz
	)
	if err := row.Scan(&l.Provider, &l.Subject, &l.UserID, &l.Email, &created, &inUse); err != nil {
		return nil, err
	}
	l.CreatedAt, l.LastUsedAt = timeFrom(created), timeFrom(inUse)
	return &l, nil
}

func providerNotFound() error { return auth.Errorf(auth.ENOTFOUND, "Provider not found.") }

func providerLinkNotFound() error { return auth.Errorf(auth.ENOTFOUND, "Provider link not found.") }

// CreateProvider inserts p and appends the events in one transaction.
// ECONFLICT if the name exists.
func (db *DB) CreateProvider(ctx context.Context, p *auth.Provider, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(p, events); err != nil {
		return err
	}
	vals, err := providerValues(p)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, "create provider", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO identity_providers (`+providerColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`, vals...); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A provider with this name already exists.")
}

// GetProvider returns the provider, or ENOTFOUND.
func (db *DB) GetProvider(ctx context.Context, name string) (*auth.Provider, error) {
	p, err := scanProvider(db.pool.QueryRow(ctx, `SELECT `+providerColumns+`
		FROM identity_providers WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, providerNotFound()
	}
	if err != nil {
		return nil, translate("get provider", err)
	}
	return p, nil
}

// ListProviders returns every provider in name order.
func (db *DB) ListProviders(ctx context.Context) ([]*auth.Provider, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+providerColumns+` FROM identity_providers ORDER BY name`)
	if err != nil {
		return nil, translate("list providers", err)
	}
	defer rows.Close()
	out := []*auth.Provider{}
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, translate("list providers", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list providers", err)
	}
	return out, nil
}

// UpdateProvider replaces the stored provider's fields (but CreatedAt) and
// appends the events in one transaction. ENOTFOUND if it does not exist.
func (db *DB) UpdateProvider(ctx context.Context, p *auth.Provider, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(p, events); err != nil {
		return err
	}
	vals, err := providerValues(p)
	if err != nil {
		return err
	}
	return db.inTx(ctx, "update provider", func(tx pgx.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE identity_providers SET display_name = $2, kind = $3, issuer = $4,
			client_id = $5, client_secret = $6, auth_method = $7, scopes = $8, claim_mapping = $9,
			authorization_url = $10, token_url = $11, userinfo_url = $12, emails_url = $13, username_claim = $14,
			create_users = $15, enabled = $16, updated_at = $17, trust_email = $18 WHERE name = $1`, append(vals[:16:16], vals[17], vals[18])...)
		if err != nil {
			return err
		}
		if res.RowsAffected() == 0 {
			return providerNotFound()
		}
		return appendEvents(ctx, tx, events)
	})
}

// DeleteProvider removes the provider and its links and appends the
// events in one transaction. ENOTFOUND if it does not exist.
func (db *DB) DeleteProvider(ctx context.Context, name string, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "delete provider", func(tx pgx.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM identity_providers WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if res.RowsAffected() == 0 {
			return providerNotFound()
		}
		if _, err := tx.Exec(ctx, `DELETE FROM identity_provider_links WHERE provider = $1`, name); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// insertProviderLink inserts l after checking, in tx, that its provider
// and user exist.
func insertProviderLink(ctx context.Context, tx pgx.Tx, l *auth.ProviderLink) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM identity_providers WHERE name = $1`, l.Provider).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return providerNotFound()
	}
	if err != nil {
		return err
	}
	err = tx.QueryRow(ctx, `SELECT 1 FROM oauth_users WHERE id = $1`, l.UserID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Errorf(auth.ENOTFOUND, "User not found.")
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO identity_provider_links (`+providerLinkColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6)`, l.Provider, l.Subject, l.UserID, l.Email, timeValue(l.CreatedAt), timeValue(l.LastUsedAt))
	return err
}

// CreateProviderLink inserts l and appends the events in one transaction.
// ENOTFOUND if the provider or user does not exist; ECONFLICT if the
// upstream identity is linked or the user has a link to the provider.
func (db *DB) CreateProviderLink(ctx context.Context, l *auth.ProviderLink, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(l, events); err != nil {
		return err
	}
	err := db.inTx(ctx, "create provider link", func(tx pgx.Tx) error {
		if err := insertProviderLink(ctx, tx, l); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "This upstream account, or a link of this user to the provider, exists already.")
}

// CreateUserWithLink inserts u and l and appends the events in one
// transaction. ECONFLICT if the username is taken or the identity linked.
func (db *DB) CreateUserWithLink(ctx context.Context, u *auth.User, l *auth.ProviderLink, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(u, events); err != nil {
		return err
	}
	if err := l.CheckStorable(); err != nil {
		return err
	}
	if l.UserID != u.ID {
		return auth.Errorf(auth.EINVALID, "The link must name the new user.")
	}
	err := db.inTx(ctx, "create user with link", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO oauth_users (`+userColumns+`, username_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, userValues(u)...); err != nil {
			return err
		}
		if err := insertProviderLink(ctx, tx, l); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "The username is taken, or this upstream account is linked already.")
}

// GetProviderLink returns the link of the upstream identity, or ENOTFOUND.
func (db *DB) GetProviderLink(ctx context.Context, provider, subject string) (*auth.ProviderLink, error) {
	l, err := scanProviderLink(db.pool.QueryRow(ctx, `SELECT `+providerLinkColumns+`
		FROM identity_provider_links WHERE provider = $1 AND subject = $2`, provider, subject))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, providerLinkNotFound()
	}
	if err != nil {
		return nil, translate("get provider link", err)
	}
	return l, nil
}

// ListUserProviderLinks returns the user's links in provider order.
func (db *DB) ListUserProviderLinks(ctx context.Context, userID string) ([]*auth.ProviderLink, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+providerLinkColumns+` FROM identity_provider_links
		WHERE user_id = $1 ORDER BY provider`, userID)
	if err != nil {
		return nil, translate("list provider links", err)
	}
	defer rows.Close()
	out := []*auth.ProviderLink{}
	for rows.Next() {
		l, err := scanProviderLink(rows)
		if err != nil {
			return nil, translate("list provider links", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list provider links", err)
	}
	return out, nil
}

// TouchProviderLink moves LastUsedAt of the link forward to at.
func (db *DB) TouchProviderLink(ctx context.Context, provider, subject string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE identity_provider_links SET last_used_at = $3
		WHERE provider = $1 AND subject = $2 AND (last_used_at IS NULL OR last_used_at < $3)`,
		provider, subject, timeValue(at))
	return translate("touch provider link", err)
}

// DeleteProviderLink removes the user's link to the provider and appends
// the events in one transaction. ENOTFOUND if there is none.
func (db *DB) DeleteProviderLink(ctx context.Context, provider, userID string, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "delete provider link", func(tx pgx.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM identity_provider_links WHERE provider = $1 AND user_id = $2`, provider, userID)
		if err != nil {
			return err
		}
		if res.RowsAffected() == 0 {
			return providerLinkNotFound()
		}
		return appendEvents(ctx, tx, events)
	})
}

// ListUsersByEmail returns at most limit users whose address equals email
// with ASCII letters folded, in ID order.
func (db *DB) ListUsersByEmail(ctx context.Context, email string, limit int) ([]*auth.User, error) {
	if email == "" {
		return []*auth.User{}, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM oauth_users
		WHERE lower(email COLLATE "C") = $1 ORDER BY id LIMIT $2`, auth.NormalizeEmail(email), int32(auth.PageSize(limit)))
	if err != nil {
		return nil, translate("list users by email", err)
	}
	defer rows.Close()
	out := []*auth.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, translate("list users by email", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list users by email", err)
	}
	return out, nil
}
