package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// clientColumns lists the oauth_clients columns in the order scanClient
// reads them.
const clientColumns = `id, name, public, auth_method, secret_hash, secret_hint, jwks,
	redirect_uris, post_logout_redirect_uris, grant_types, scopes, audiences,
	access_token_ttl_ns, refresh_token_ttl_ns, refresh_token_max_ttl_ns,
	created_at, updated_at, secret_rotated_at, owner,
	require_dpop, require_par, backchannel_logout_uri, application_type,
	exchange_issuers, allow_impersonation, registration_token_hash, metadata, mfa`

func scanClient(row scanner) (*auth.Client, error) {
	var (
		c                         auth.Client
		lists                     = make([]string, 6)
		access, refresh, maxTTL   int64
		created, updated, rotated sql.NullInt64
	)
	err := row.Scan(&c.ID, &c.Name, &c.Public, &c.AuthMethod, &c.SecretHash, &c.SecretHint, &c.JWKS,
		&lists[0], &lists[1], &lists[2], &lists[3], &lists[4],
		&access, &refresh, &maxTTL, &created, &updated, &rotated, &c.Owner,
		&c.RequireDPoP, &c.RequirePAR, &c.BackchannelLogoutURI, &c.ApplicationType,
		&lists[5], &c.AllowImpersonation, &c.RegistrationTokenHash, &c.Metadata, &c.MFA)
	if err != nil {
		return nil, err
	}
	if err := listsFrom(lists, &c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.Scopes, &c.Audiences, &c.ExchangeIssuers); err != nil {
		return nil, err
	}
	c.AccessTokenTTL = time.Duration(access)
	c.RefreshTokenTTL = time.Duration(refresh)
	c.RefreshTokenMaxTTL = time.Duration(maxTTL)
	c.CreatedAt = timeFrom(created)
	c.UpdatedAt = timeFrom(updated)
	c.SecretRotatedAt = timeFrom(rotated)
	return &c, nil
}

// clientValues returns c's column values after its ID, in clientColumns
// order.
func clientValues(c *auth.Client) ([]any, error) {
	lists, err := listsJSON(c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.Scopes, c.Audiences, c.ExchangeIssuers)
	if err != nil {
		return nil, err
	}
	return []any{c.Name, c.Public, c.AuthMethod, auth.BytesOrNull(c.SecretHash), c.SecretHint, auth.BytesOrNull(c.JWKS),
		lists[0], lists[1], lists[2], lists[3], lists[4],
		int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), int64(c.RefreshTokenMaxTTL),
		timeValue(c.CreatedAt), timeValue(c.UpdatedAt), timeValue(c.SecretRotatedAt), c.Owner,
		c.RequireDPoP, c.RequirePAR, c.BackchannelLogoutURI, c.ApplicationType,
		lists[5], c.AllowImpersonation, auth.BytesOrNull(c.RegistrationTokenHash), auth.BytesOrNull(c.Metadata), c.MFA}, nil
}

// CreateClient inserts c and appends the events in one transaction.
// ECONFLICT if the ID exists; EINVALID if c has no ID or holds text no
// backend can store.
func (db *DB) CreateClient(ctx context.Context, c *auth.Client, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(c, events); err != nil {
		return err
	}
	err := db.inTx(ctx, "create client", func(tx *sql.Tx) error {
		if err := insertClient(ctx, tx, c); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A client with this ID already exists.")
}

// insertClient inserts c inside tx.
func insertClient(ctx context.Context, tx *sql.Tx, c *auth.Client) error {
	values, err := clientValues(c)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO oauth_clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append([]any{c.ID}, values...)...)
	return err
}

// GetClient returns the client with that ID, or ENOTFOUND.
func (db *DB) GetClient(ctx context.Context, id string) (*auth.Client, error) {
	c, err := scanClient(db.read.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	where, args := "id > ?", []any{f.After}
	if len(f.Owners) > 0 {
		where += " AND owner IN (?" + strings.Repeat(", ?", len(f.Owners)-1) + ")"
		for _, o := range f.Owners {
			args = append(args, o)
		}
	}
	// One row more than the page tells whether another page follows.
	rows, err := db.read.QueryContext(ctx, `SELECT `+clientColumns+` FROM oauth_clients
		WHERE `+where+` ORDER BY id LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, "", translate("list clients", err)
	}
	defer rows.Close()
	clients := make([]*auth.Client, 0, min(limit, 64))
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, "", translate("list clients", err)
		}
		clients = append(clients, c)
	}
	if err := rows.Err(); err != nil {
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
	values, err := clientValues(c)
	if err != nil {
		return translate("update client", err)
	}
	return db.inTx(ctx, "update client", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oauth_clients SET
			name = ?, public = ?, auth_method = ?, secret_hash = ?, secret_hint = ?, jwks = ?,
			redirect_uris = ?, post_logout_redirect_uris = ?, grant_types = ?, scopes = ?, audiences = ?,
			access_token_ttl_ns = ?, refresh_token_ttl_ns = ?, refresh_token_max_ttl_ns = ?,
			created_at = ?, updated_at = ?, secret_rotated_at = ?, owner = ?,
			require_dpop = ?, require_par = ?, backchannel_logout_uri = ?, application_type = ?,
			exchange_issuers = ?, allow_impersonation = ?, registration_token_hash = ?, metadata = ?, mfa = ?
			WHERE id = ? AND updated_at IS ?`, append(values, c.ID, timeValue(ifUpdatedAt))...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM oauth_clients WHERE id = ?`, c.ID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return auth.Errorf(auth.ENOTFOUND, "Client not found.")
			} else if err != nil {
				return err
			}
			return auth.Errorf(auth.ECONFLICT, "The client was changed meanwhile; read it again and retry.")
		}
		return insertEvents(ctx, tx, events)
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
	return db.inTx(ctx, "delete client", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_clients WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return auth.Errorf(auth.ENOTFOUND, "Client not found.")
		}
		// Mark every family of the client revoked, those of its codes
		// included: the token endpoint stores the tokens of a redeemed code
		// in a later transaction, which must then fail rather than leave a
		// deleted client with a live refresh token or an unlisted access
		// token. One statement for all of them (a client may have many); the
		// client's tokens themselves are revoked and deleted by client
		// below.
		if _, err := tx.ExecContext(ctx, `INSERT INTO token_families (family_id, created_at, revoked_at)
			SELECT family_id, ?2, ?2 FROM (
				SELECT family_id FROM oauth_codes WHERE client_id = ?1 AND family_id <> ''
				UNION SELECT family_id FROM oauth_device_grants WHERE client_id = ?1 AND family_id <> ''
				UNION SELECT family_id FROM refresh_tokens WHERE client_id = ?1
				UNION SELECT family_id FROM issued_tokens WHERE client_id = ?1) AS f
			WHERE true -- SQLite needs a WHERE to parse ON CONFLICT after a SELECT
			ON CONFLICT (family_id) DO UPDATE SET revoked_at = coalesce(token_families.revoked_at, excluded.revoked_at)`,
			id, timeValue(at)); err != nil {
			return err
		}
		// Access tokens carry the client of their family, copied when they
		// were recorded, so they are found even when the family's codes
		// and refresh tokens are long gone.
		if _, err := revokeIssued(ctx, tx, at, "client_id = ?", id); err != nil {
			return err
		}
		// ?1 stands for the client ID throughout.
		for _, q := range []string{
			`DELETE FROM issued_tokens WHERE client_id = ?1`,
			`DELETE FROM oauth_codes WHERE client_id = ?1`,
			`DELETE FROM oauth_device_grants WHERE client_id = ?1`,
			`DELETE FROM refresh_tokens WHERE client_id = ?1`,
			`DELETE FROM oauth_consents WHERE client_id = ?1`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return insertEvents(ctx, tx, events)
	})
}
