package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.OAuthStore = (*DB)(nil)

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
