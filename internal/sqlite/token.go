package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

const codeColumns = `hash, client_id, user_id, redirect_uri, scopes, audiences,
	code_challenge, nonce, auth_time, session_id, family_id,
	created_at, expires_at, used_at, id_token_claims, acr, dpop_jkt, amr`

func scanCode(row scanner) (*auth.AuthCode, error) {
	var (
		c                                  auth.AuthCode
		scopes, audiences, idClaims, amr   string
		authTime, created, expires, usedAt sql.NullInt64
	)
	if err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &scopes, &audiences,
		&c.CodeChallenge, &c.Nonce, &authTime, &c.SessionID, &c.FamilyID,
		&created, &expires, &usedAt, &idClaims, &c.ACR, &c.DPoPJKT, &amr); err != nil {
		return nil, err
	}
	if err := listsFrom([]string{scopes, audiences, idClaims, amr}, &c.Scopes, &c.Audiences, &c.IDTokenClaims, &c.AMR); err != nil {
		return nil, err
	}
	c.AuthTime = timeFrom(authTime)
	c.CreatedAt = timeFrom(created)
	c.ExpiresAt = timeFrom(expires)
	c.UsedAt = timeFrom(usedAt)
	return &c, nil
}

// CreateAuthCode inserts c. ECONFLICT if the hash exists; EINVALID if c has
// no hash or holds text no backend can store.
func (db *DB) CreateAuthCode(ctx context.Context, c *auth.AuthCode) error {
	if err := c.CheckStorable(); err != nil {
		return err
	}
	lists, err := listsJSON(c.Scopes, c.Audiences, c.IDTokenClaims, c.AMR)
	if err != nil {
		return translate("create auth code", err)
	}
	return db.inTx(ctx, "create auth code", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_codes (`+codeColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Hash, c.ClientID, c.UserID, c.RedirectURI, lists[0], lists[1],
			c.CodeChallenge, c.Nonce, timeValue(c.AuthTime), c.SessionID, c.FamilyID,
			timeValue(c.CreatedAt), timeValue(c.ExpiresAt), timeValue(c.UsedAt), lists[2], c.ACR, c.DPoPJKT, lists[3])
		return err
	})
}

// ConsumeAuthCode marks the code with that hash used at time at and
// returns it as it was before. ENOTFOUND if there is no such code. If it
// was already used it is left alone and returned with an ECONFLICT error.
// Expiry is the caller's to check on the returned code. The single writer
// connection serialises consumers, so exactly one of several concurrent
// calls succeeds.
func (db *DB) ConsumeAuthCode(ctx context.Context, hash []byte, at time.Time) (*auth.AuthCode, error) {
	if len(hash) == 0 {
		return nil, auth.Errorf(auth.ENOTFOUND, "Authorization code not found.")
	}
	if at.IsZero() {
		return nil, auth.Errorf(auth.EINVALID, "Time of use is required.")
	}
	var code *auth.AuthCode
	err := db.inTx(ctx, "consume auth code", func(tx *sql.Tx) error {
		c, err := scanCode(tx.QueryRowContext(ctx, `SELECT `+codeColumns+` FROM oauth_codes WHERE hash = ?`, hash))
		if errors.Is(err, sql.ErrNoRows) {
			return auth.Errorf(auth.ENOTFOUND, "Authorization code not found.")
		}
		if err != nil {
			return err
		}
		code = c
		used, err := c.Consume(at)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE oauth_codes SET used_at = ? WHERE hash = ?`, timeValue(used.UsedAt), hash)
		return err
	})
	if err != nil && auth.ErrorCode(err) != auth.ECONFLICT {
		return nil, err
	}
	return code, err
}

const refreshColumns = `hash, family_id, client_id, user_id, scopes, audiences,
	auth_time, session_id, created_at, expires_at, family_expires_at, used_at, revoked_at, presentations, dpop_jkt, amr`

func scanRefresh(row scanner) (*auth.RefreshToken, error) {
	var (
		t                                                     auth.RefreshToken
		scopes, audiences, amr                                string
		authTime, created, expires, famExpires, used, revoked sql.NullInt64
	)
	if err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &scopes, &audiences,
		&authTime, &t.SessionID, &created, &expires, &famExpires, &used, &revoked, &t.Presentations, &t.DPoPJKT, &amr); err != nil {
		return nil, err
	}
	if err := listsFrom([]string{scopes, audiences, amr}, &t.Scopes, &t.Audiences, &t.AMR); err != nil {
		return nil, err
	}
	t.AuthTime = timeFrom(authTime)
	t.CreatedAt = timeFrom(created)
	t.ExpiresAt = timeFrom(expires)
	t.FamilyExpiresAt = timeFrom(famExpires)
	t.UsedAt = timeFrom(used)
	t.RevokedAt = timeFrom(revoked)
	return &t, nil
}

func getRefresh(ctx context.Context, q querier, hash []byte) (*auth.RefreshToken, error) {
	t, err := scanRefresh(q.QueryRowContext(ctx, `SELECT `+refreshColumns+` FROM refresh_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Refresh token not found.")
	}
	return t, err
}

func insertRefresh(ctx context.Context, tx *sql.Tx, t *auth.RefreshToken) error {
	lists, err := listsJSON(t.Scopes, t.Audiences, t.AMR)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO refresh_tokens (`+refreshColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.FamilyID, t.ClientID, t.UserID, lists[0], lists[1],
		timeValue(t.AuthTime), t.SessionID, timeValue(t.CreatedAt), timeValue(t.ExpiresAt),
		timeValue(t.FamilyExpiresAt), timeValue(t.UsedAt), timeValue(t.RevokedAt), t.Presentations, t.DPoPJKT, lists[2])
	return err
}

// insertIssued records it (if not nil) with the client and user of its
// family.
// joinFamily upserts the family's row, which locks it until the
// transaction ends, and fails with ECONFLICT if the family is revoked: no
// token is added to a family during or after its revocation.
func joinFamily(ctx context.Context, tx *sql.Tx, familyID string, at time.Time) error {
	var revoked sql.NullInt64
	err := tx.QueryRowContext(ctx, `INSERT INTO token_families (family_id, created_at) VALUES (?, ?)
		ON CONFLICT (family_id) DO UPDATE SET family_id = excluded.family_id
		RETURNING revoked_at`, familyID, timeValue(at)).Scan(&revoked)
	if err != nil {
		return err
	}
	if revoked.Valid {
		return auth.Errorf(auth.ECONFLICT, "The token family is revoked.")
	}
	return nil
}

func insertIssued(ctx context.Context, tx *sql.Tx, it *auth.IssuedToken, clientID, userID string) error {
	if it == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO issued_tokens (jti, family_id, client_id, user_id, expires_at)
		VALUES (?, ?, ?, ?, ?)`, it.JTI, it.FamilyID, clientID, userID, timeValue(it.ExpiresAt))
	return err
}

// CreateRefreshToken inserts t (the first token of a family) and records
// issued (if not nil), in one transaction. ECONFLICT if the hash or the jti
// exists; EINVALID if t has no hash or family, issued belongs to another
// family, or either holds text no backend can store.
func (db *DB) CreateRefreshToken(ctx context.Context, t *auth.RefreshToken, issued *auth.IssuedToken) error {
	if err := t.CheckWithIssued(issued); err != nil {
		return err
	}
	return db.inTx(ctx, "create refresh token", func(tx *sql.Tx) error {
		if err := joinFamily(ctx, tx, t.FamilyID, t.CreatedAt); err != nil {
			return err
		}
		if err := insertRefresh(ctx, tx, t); err != nil {
			return err
		}
		return insertIssued(ctx, tx, issued, t.ClientID, t.UserID)
	})
}

// GetRefreshToken returns the token with that hash, or ENOTFOUND.
func (db *DB) GetRefreshToken(ctx context.Context, hash []byte) (*auth.RefreshToken, error) {
	if len(hash) == 0 {
		return nil, auth.Errorf(auth.ENOTFOUND, "Refresh token not found.")
	}
	t, err := getRefresh(ctx, db.read, hash)
	if err != nil {
		return nil, translate("get refresh token", err)
	}
	return t, nil
}

// RotateRefreshToken, in one transaction, applies auth.RefreshToken.Rotate
// at time at with the grace window to the token oldHash and stores its
// UsedAt and Presentations, inserts next and records issued. If Rotate
// refuses (revoked, expired, or presented again outside the grace window
// or more than once within it), ECONFLICT and nothing changes. ENOTFOUND
// if there is no such token; EINVALID if next or issued belongs to another
// family; ECONFLICT if next's hash or issued's jti exists.
func (db *DB) RotateRefreshToken(ctx context.Context, oldHash []byte, at time.Time, grace time.Duration, next *auth.RefreshToken, issued *auth.IssuedToken) error {
	if len(oldHash) == 0 {
		return auth.Errorf(auth.ENOTFOUND, "Refresh token not found.")
	}
	if at.IsZero() {
		return auth.Errorf(auth.EINVALID, "Time of use is required.")
	}
	if err := next.CheckWithIssued(issued); err != nil {
		return err
	}
	return db.inTx(ctx, "rotate refresh token", func(tx *sql.Tx) error {
		if err := joinFamily(ctx, tx, next.FamilyID, at); err != nil {
			return err
		}
		old, err := getRefresh(ctx, tx, oldHash)
		if err != nil {
			return err
		}
		if next.FamilyID != old.FamilyID {
			return auth.Errorf(auth.EINVALID, "The next refresh token must belong to the same family.")
		}
		used, err := old.Rotate(at, grace)
		if err != nil {
			return err
		}
		// The old token is marked before next is inserted, so a collision
		// of next's hash rolls back a write.
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ?, presentations = ? WHERE hash = ?`,
			timeValue(used.UsedAt), used.Presentations, oldHash); err != nil {
			return err
		}
		if err := insertRefresh(ctx, tx, next); err != nil {
			return err
		}
		return insertIssued(ctx, tx, issued, next.ClientID, next.UserID)
	})
}

// RecordIssuedToken records an access token issued in a family without a
// new refresh token, with the client and user of the family's refresh
// tokens or, failing those, of its authorization code. ECONFLICT if the jti
// exists; EINVALID if it has no jti or family.
func (db *DB) RecordIssuedToken(ctx context.Context, issued *auth.IssuedToken) error {
	if issued == nil {
		return auth.Errorf(auth.EINVALID, "Issued token is missing.")
	}
	if err := issued.CheckFamily(""); err != nil {
		return err
	}
	return db.inTx(ctx, "record issued token", func(tx *sql.Tx) error {
		if err := joinFamily(ctx, tx, issued.FamilyID, issued.ExpiresAt); err != nil {
			return err
		}
		var clientID, userID string
		err := tx.QueryRowContext(ctx, `SELECT client_id, user_id FROM refresh_tokens WHERE family_id = ?1
			UNION ALL SELECT client_id, user_id FROM oauth_codes WHERE family_id = ?1 AND family_id <> ''
			UNION ALL SELECT client_id, user_id FROM oauth_device_grants WHERE family_id = ?1 AND family_id <> ''
			LIMIT 1`, issued.FamilyID).Scan(&clientID, &userID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return insertIssued(ctx, tx, issued, clientID, userID)
	})
}

// RevokeFamily, in one transaction, marks every unrevoked refresh token of
// the family revoked at at, puts the jtis of its access tokens that expire
// after at on the revocation list and appends the events. Revoking an
// unknown or revoked family is not an error; the events are appended all
// the same, since each call records a decision (often a detected reuse).
// It returns the jtis it newly put on the list, sorted.
func (db *DB) RevokeFamily(ctx context.Context, familyID string, at time.Time, events ...auth.AuditEvent) ([]string, error) {
	if err := auth.CheckRevocation(at, events); err != nil {
		return nil, err
	}
	if err := auth.CheckText("Family", familyID); err != nil {
		return nil, err
	}
	var jtis []string
	err := db.inTx(ctx, "revoke family", func(tx *sql.Tx) error {
		var err error
		if jtis, err = revokeFamilies(ctx, tx, at, []string{familyID}); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	return jtis, nil
}

// RevokeToken puts t.JTI on the revocation list until t.ExpiresAt and
// appends the events in one transaction. Revoking it again is not an error
// and keeps the first entry; the events are appended all the same.
// EINVALID if t has no jti or RevokedAt.
func (db *DB) RevokeToken(ctx context.Context, t auth.RevokedToken, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(&t, events); err != nil {
		return err
	}
	return db.inTx(ctx, "revoke token", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?)
			ON CONFLICT (jti) DO NOTHING`, t.JTI, timeValue(t.ExpiresAt), timeValue(t.RevokedAt)); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}

// IsTokenRevoked reports whether the jti is on the revocation list.
func (db *DB) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM revoked_tokens WHERE jti = ?`, jti).Scan(&n); err != nil {
		return false, translate("is token revoked", err)
	}
	return n > 0, nil
}

// ListRevokedTokens returns the entries revoked after since that have not
// expired at now, in the order they were revoked (then by jti).
func (db *DB) ListRevokedTokens(ctx context.Context, since, now time.Time) ([]auth.RevokedToken, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT jti, expires_at, revoked_at FROM revoked_tokens
		WHERE (? IS NULL OR revoked_at > ?) AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY revoked_at, jti`, timeValue(since), timeValue(since), timeValue(now))
	if err != nil {
		return nil, translate("list revoked tokens", err)
	}
	defer rows.Close()
	var out []auth.RevokedToken
	for rows.Next() {
		var (
			jti              string
			expires, revoked sql.NullInt64
		)
		if err := rows.Scan(&jti, &expires, &revoked); err != nil {
			return nil, translate("list revoked tokens", err)
		}
		out = append(out, auth.RevokedToken{JTI: jti, ExpiresAt: timeFrom(expires), RevokedAt: timeFrom(revoked)})
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list revoked tokens", err)
	}
	return out, nil
}

// UseJTI records a one-time JWT id until expiresAt. ECONFLICT if it was
// recorded before and has not expired at now; an expired record is
// replaced. EINVALID if jti is empty.
func (db *DB) UseJTI(ctx context.Context, jti string, expiresAt, now time.Time) error {
	if jti == "" {
		return auth.Errorf(auth.EINVALID, "JWT ID is required.")
	}
	if err := auth.CheckText("JWT ID", jti); err != nil {
		return err
	}
	return db.inTx(ctx, "use jti", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO used_jtis (jti, expires_at) VALUES (?1, ?2)
			ON CONFLICT (jti) DO UPDATE SET expires_at = ?2
			WHERE used_jtis.expires_at IS NOT NULL AND used_jtis.expires_at <= ?3`,
			jti, timeValue(expiresAt), timeValue(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return auth.Errorf(auth.ECONFLICT, "The JWT ID has been used before.")
		}
		return nil
	})
}

// PurgeExpired deletes, in one transaction, codes, refresh tokens (whose
// idle or family lifetime ended), issued-token records, revocation entries,
// used jtis, pushed requests and sessions that have been dead since before
// `before`.
// Records without an expiry are kept, and so are used codes and used
// refresh tokens of a family that still has a live refresh token (reuse
// detection needs them).
func (db *DB) PurgeExpired(ctx context.Context, before time.Time) error {
	b := timeValue(before)
	return db.inTx(ctx, "purge expired", func(tx *sql.Tx) error {
		for _, q := range []string{
			// A used code and a spent refresh token stay while a refresh
			// token of their family lives: presented again, they must
			// still revoke it (RFC 6749 4.1.2, RFC 9700 4.14.2). Codes
			// first, while the refresh tokens they look at are all there.
			`DELETE FROM oauth_codes WHERE expires_at < ?1
				AND (used_at IS NULL OR NOT EXISTS (SELECT 1 FROM refresh_tokens l WHERE l.family_id = oauth_codes.family_id
					AND l.used_at IS NULL AND l.revoked_at IS NULL
					AND (l.expires_at IS NULL OR l.expires_at >= ?1)
					AND (l.family_expires_at IS NULL OR l.family_expires_at >= ?1)))`,
			`DELETE FROM refresh_tokens WHERE (expires_at < ?1 OR family_expires_at < ?1)
				AND (family_expires_at < ?1 OR NOT EXISTS (SELECT 1 FROM refresh_tokens l WHERE l.family_id = refresh_tokens.family_id
					AND l.used_at IS NULL AND l.revoked_at IS NULL
					AND (l.expires_at IS NULL OR l.expires_at >= ?1)
					AND (l.family_expires_at IS NULL OR l.family_expires_at >= ?1)))`,
			// A used device grant stays, like a used code, while its
			// family has a live refresh token.
			`DELETE FROM oauth_device_grants WHERE expires_at < ?1
				AND (used_at IS NULL OR NOT EXISTS (SELECT 1 FROM refresh_tokens l WHERE l.family_id = oauth_device_grants.family_id
					AND l.used_at IS NULL AND l.revoked_at IS NULL
					AND (l.expires_at IS NULL OR l.expires_at >= ?1)
					AND (l.family_expires_at IS NULL OR l.family_expires_at >= ?1)))`,
			`DELETE FROM issued_tokens WHERE expires_at < ?1`,
			`DELETE FROM revoked_tokens WHERE expires_at < ?1`,
			`DELETE FROM used_jtis WHERE expires_at < ?1`,
			`DELETE FROM pushed_requests WHERE expires_at < ?1`,
			`DELETE FROM oauth_sessions WHERE expires_at < ?1`,
			`DELETE FROM password_reset_links WHERE expires_at < ?1`,
			`DELETE FROM oauth_session_clients WHERE expires_at < ?1`,
			`DELETE FROM token_families WHERE revoked_at < ?1
				OR (revoked_at IS NULL AND (created_at IS NULL OR created_at < ?1)
					AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = token_families.family_id)
					AND NOT EXISTS (SELECT 1 FROM issued_tokens i WHERE i.family_id = token_families.family_id))`,
		} {
			if _, err := tx.ExecContext(ctx, q, b); err != nil {
				return err
			}
		}
		return nil
	})
}
