package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// clientColumns lists the oauth_clients columns in the order scanClient
// reads them.
const clientColumns = `id, name, public, auth_method, secret_hash, secret_hint, jwks,
	redirect_uris, post_logout_redirect_uris, grant_types, scopes, audiences,
	access_token_ttl_ns, refresh_token_ttl_ns, refresh_token_max_ttl_ns,
	created_at, updated_at, secret_rotated_at, owner,
	require_dpop, require_par, backchannel_logout_uri, application_type,
	exchange_issuers, allow_impersonation, registration_token_hash, metadata, mfa`

func scanClient(row pgx.Row) (*auth.Client, error) {
	var (
		c                         auth.Client
		access, refresh, maxTTL   int64
		created, updated, rotated pgtype.Timestamptz
	)
	err := row.Scan(&c.ID, &c.Name, &c.Public, &c.AuthMethod, &c.SecretHash, &c.SecretHint, &c.JWKS,
		&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.Scopes, &c.Audiences,
		&access, &refresh, &maxTTL, &created, &updated, &rotated, &c.Owner,
		&c.RequireDPoP, &c.RequirePAR, &c.BackchannelLogoutURI, &c.ApplicationType,
		&c.ExchangeIssuers, &c.AllowImpersonation, &c.RegistrationTokenHash, &c.Metadata, &c.MFA)
	if err != nil {
		return nil, err
	}
	nonNil(&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.Scopes, &c.Audiences, &c.ExchangeIssuers)
	c.AccessTokenTTL = time.Duration(access)
	c.RefreshTokenTTL = time.Duration(refresh)
	c.RefreshTokenMaxTTL = time.Duration(maxTTL)
	c.CreatedAt = timeFrom(created)
	c.UpdatedAt = timeFrom(updated)
	c.SecretRotatedAt = timeFrom(rotated)
	return &c, nil
}

// clientValues returns c's column values in clientColumns order.
func clientValues(c *auth.Client) []any {
	return []any{c.ID, c.Name, c.Public, c.AuthMethod, auth.BytesOrNull(c.SecretHash), c.SecretHint, auth.BytesOrNull(c.JWKS),
		list(c.RedirectURIs), list(c.PostLogoutRedirectURIs), list(c.GrantTypes), list(c.Scopes), list(c.Audiences),
		int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), int64(c.RefreshTokenMaxTTL),
		timeValue(c.CreatedAt), timeValue(c.UpdatedAt), timeValue(c.SecretRotatedAt), c.Owner,
		c.RequireDPoP, c.RequirePAR, c.BackchannelLogoutURI, c.ApplicationType,
		list(c.ExchangeIssuers), c.AllowImpersonation, auth.BytesOrNull(c.RegistrationTokenHash), auth.BytesOrNull(c.Metadata), c.MFA}
}

// CreateClient inserts c and appends the events in one transaction.
// ECONFLICT if the ID exists; EINVALID if c has no ID or holds text no
// backend can store.
func (db *DB) CreateClient(ctx context.Context, c *auth.Client, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(c, events); err != nil {
		return err
	}
	err := db.inTx(ctx, "create client", func(tx pgx.Tx) error {
		if err := insertClient(ctx, tx, c); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A client with this ID already exists.")
}

// insertClient inserts c inside tx.
func insertClient(ctx context.Context, tx pgx.Tx, c *auth.Client) error {
	_, err := tx.Exec(ctx, `INSERT INTO oauth_clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)`,
		clientValues(c)...)
	return err
}

// GetClient returns the client with that ID, or ENOTFOUND.
func (db *DB) GetClient(ctx context.Context, id string) (*auth.Client, error) {
	c, err := scanClient(db.pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Client not found.")
	}
	if err != nil {
		return nil, translate("get client", err)
	}
	return c, nil
}

// ListClients returns one page of clients in ascending ID order (bytewise)
// and the cursor of the next page, "" on the last page. A Limit of zero or
// less means 100; Limit is capped at auth.MaxPageSize.
func (db *DB) ListClients(ctx context.Context, f auth.ClientFilter) ([]*auth.Client, string, error) {
	if err := auth.CheckLists("owners", f.Owners); err != nil {
		return nil, "", err
	}
	limit := auth.PageSize(f.Limit)
	where, args := "id > $2", []any{limit + 1, f.After}
	if len(f.Owners) > 0 {
		where += " AND owner = ANY($3)"
		args = append(args, f.Owners)
	}
	// One row more than the page tells whether another page follows.
	rows, err := db.pool.Query(ctx, `SELECT `+clientColumns+` FROM oauth_clients
		WHERE `+where+` ORDER BY id LIMIT $1`, args...)
	if err != nil {
		return nil, "", translate("list clients", err)
	}
	clients, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*auth.Client, error) { return scanClient(r) })
	if err != nil {
		return nil, "", translate("list clients", err)
	}
	clients, next := auth.Page(clients, limit, func(x *auth.Client) string { return x.ID })
	return clients, next, nil
}

// UpdateClient replaces every field of the stored client with c's and
// appends the events in one transaction. ENOTFOUND if it does not exist;
// EINVALID as for CreateClient.
func (db *DB) UpdateClient(ctx context.Context, c *auth.Client, ifUpdatedAt time.Time, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(c, events); err != nil {
		return err
	}
	return db.inTx(ctx, "update client", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE oauth_clients SET
			name = $2, public = $3, auth_method = $4, secret_hash = $5, secret_hint = $6, jwks = $7,
			redirect_uris = $8, post_logout_redirect_uris = $9, grant_types = $10, scopes = $11, audiences = $12,
			access_token_ttl_ns = $13, refresh_token_ttl_ns = $14, refresh_token_max_ttl_ns = $15,
			created_at = $16, updated_at = $17, secret_rotated_at = $18, owner = $19,
			require_dpop = $20, require_par = $21, backchannel_logout_uri = $22, application_type = $23,
			exchange_issuers = $24, allow_impersonation = $25, registration_token_hash = $26, metadata = $27, mfa = $28
			WHERE id = $1 AND updated_at IS NOT DISTINCT FROM $29`, append(clientValues(c), timeValue(ifUpdatedAt))...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM oauth_clients WHERE id = $1`, c.ID).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
				return auth.Errorf(auth.ENOTFOUND, "Client not found.")
			} else if err != nil {
				return err
			}
			return auth.Errorf(auth.ECONFLICT, "The client was changed meanwhile; read it again and retry.")
		}
		if err := notifyChange(ctx, tx, auth.ChangeClient, c.ID); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// DeleteClient removes the client and, in the same transaction, its codes,
// refresh tokens and consents, puts the access tokens issued to it that
// have not expired at at on the revocation list (revoked at at), and
// appends the events. ENOTFOUND if it does not exist; EINVALID if at is
// zero.
func (db *DB) DeleteClient(ctx context.Context, id string, at time.Time, events ...auth.AuditEvent) error {
	if err := auth.CheckRevocation(at, events); err != nil {
		return err
	}
	return db.inTx(ctx, "delete client", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM oauth_clients WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auth.Errorf(auth.ENOTFOUND, "Client not found.")
		}
		// Mark every family of the client revoked, those of its codes
		// included: the token endpoint stores the tokens of a redeemed code
		// in a later transaction, which must then fail rather than leave a
		// deleted client with a live refresh token or an unlisted access
		// token. Marking a family waits for a transaction adding to it
		// (which holds its row), and under READ COMMITTED the statements
		// below then see what that transaction wrote.
		// One statement for all of them (a client may have many), in
		// family order as revokeFamilies takes them; the client's tokens
		// themselves are revoked and deleted by client below.
		if _, err := tx.Exec(ctx, `INSERT INTO token_families (family_id, created_at, revoked_at)
			SELECT family_id, $2, $2 FROM (
				SELECT family_id FROM oauth_codes WHERE client_id = $1 AND family_id <> ''
				UNION SELECT family_id FROM oauth_device_grants WHERE client_id = $1 AND family_id <> ''
				UNION SELECT family_id FROM refresh_tokens WHERE client_id = $1
				UNION SELECT family_id FROM issued_tokens WHERE client_id = $1) f
			ORDER BY family_id
			ON CONFLICT (family_id) DO UPDATE SET revoked_at = coalesce(token_families.revoked_at, excluded.revoked_at)`,
			id, timeValue(at)); err != nil {
			return err
		}
		// Access tokens carry the client of their family, copied when they
		// were recorded, so they are found even when the family's codes
		// and refresh tokens are long gone.
		if _, err := revokeIssued(ctx, tx, at, "client_id = $2", id); err != nil {
			return err
		}
		// Every statement takes the client ID as $1.
		for _, q := range []string{
			`DELETE FROM issued_tokens WHERE client_id = $1`,
			`DELETE FROM oauth_codes WHERE client_id = $1`,
			`DELETE FROM oauth_device_grants WHERE client_id = $1`,
			`DELETE FROM refresh_tokens WHERE client_id = $1`,
			`DELETE FROM oauth_consents WHERE client_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		if err := notifyRevoked(ctx, tx); err != nil {
			return err
		}
		if err := notifyChange(ctx, tx, auth.ChangeClient, id); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}
