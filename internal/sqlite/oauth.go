package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.OAuthStore = (*DB)(nil)

// checkText returns EINVALID if any text cannot be stored exactly as it is:
// PostgreSQL refuses NUL characters and invalid UTF-8, and JSON encoding
// would silently rewrite invalid UTF-8, so every backend refuses them up
// front (as auth.APIKey.CheckStorable does for keys).
func checkText(what string, s ...string) error {
	for _, v := range s {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return auth.Errorf(auth.EINVALID, "%s text must be valid UTF-8 without NUL characters.", what)
		}
	}
	return nil
}

// checkLists is checkText for string lists.
func checkLists(what string, lists ...[]string) error {
	for _, l := range lists {
		if err := checkText(what, l...); err != nil {
			return err
		}
	}
	return nil
}

// checkHash returns EINVALID for an empty hash: every secret has one, and
// an empty key would match nothing the server ever issued.
func checkHash(what string, h []byte) error {
	if len(h) == 0 {
		return auth.Errorf(auth.EINVALID, "%s hash is required.", what)
	}
	return nil
}

// conflictAs replaces the generic message of an ECONFLICT error (which
// names no column) with msg, which says what is taken; other errors pass
// unchanged.
func conflictAs(err error, msg string) error {
	if auth.ErrorCode(err) == auth.ECONFLICT {
		return auth.Errorf(auth.ECONFLICT, "%s", msg)
	}
	return err
}

// blobValue stores an empty byte slice as NULL, so that a nil slice reads
// back as nil.
func blobValue(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// listsJSON encodes each list as JSON text (nil as []).
func listsJSON(lists ...[]string) ([]string, error) {
	out := make([]string, len(lists))
	for i, l := range lists {
		var err error
		if out[i], err = scopesJSON(l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// listsFrom decodes JSON text into the lists pointed to, in order.
func listsFrom(texts []string, dst ...*[]string) error {
	for i, t := range texts {
		l, err := scopesFrom(t)
		if err != nil {
			return err
		}
		*dst[i] = l
	}
	return nil
}

// collectStrings reads one text column from every row and closes rows, so
// that the next statement can run on the same connection.
func collectStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// revokeIssued puts on the revocation list, revoked at at, the access tokens
// of issued_tokens selected by where (with args) that have not expired at
// at, and returns the jtis it newly listed, sorted. A jti already listed
// keeps its entry.
func revokeIssued(ctx context.Context, tx *sql.Tx, at time.Time, where string, args ...any) ([]string, error) {
	// The WHERE clause of the SELECT is what lets SQLite parse the
	// ON CONFLICT clause of an INSERT ... SELECT.
	rows, err := tx.QueryContext(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at)
		SELECT jti, expires_at, ? FROM issued_tokens
		WHERE (expires_at IS NULL OR expires_at > ?) AND (`+where+`)
		ON CONFLICT (jti) DO NOTHING
		RETURNING jti`, append([]any{timeValue(at), timeValue(at)}, args...)...)
	if err != nil {
		return nil, err
	}
	jtis, err := collectStrings(rows)
	if err != nil {
		return nil, err
	}
	slices.Sort(jtis)
	return jtis, nil
}

// revokeFamilies marks every unrevoked refresh token of the families
// revoked at at and lists their unexpired access tokens, returning the
// jtis newly listed, sorted.
func revokeFamilies(ctx context.Context, tx *sql.Tx, at time.Time, families []string) ([]string, error) {
	var all []string
	for _, f := range families {
		if _, err := tx.ExecContext(ctx, `INSERT INTO token_families (family_id, created_at, revoked_at) VALUES (?1, ?2, ?2)
			ON CONFLICT (family_id) DO UPDATE SET revoked_at = coalesce(token_families.revoked_at, excluded.revoked_at)`,
			f, timeValue(at)); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
			WHERE family_id = ? AND revoked_at IS NULL`, timeValue(at), f); err != nil {
			return nil, err
		}
		jtis, err := revokeIssued(ctx, tx, at, "family_id = ?", f)
		if err != nil {
			return nil, err
		}
		all = append(all, jtis...)
	}
	slices.Sort(all)
	return all, nil
}
