package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
)

var _ auth.OAuthStore = (*DB)(nil)

// list returns l for a text[] column: pgx sends a nil slice as NULL.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// nonNil makes a list read from the database usable as is: empty, never
// nil.
func nonNil(lists ...*[]string) {
	for _, l := range lists {
		if *l == nil {
			*l = []string{}
		}
	}
}

// revokeIssued puts on the revocation list, revoked at at ($1), the access
// tokens of issued_tokens selected by where (whose placeholders start at
// $2, for args) that have not expired at at, and returns the jtis it newly
// listed, sorted. A jti already listed keeps its entry.
func revokeIssued(ctx context.Context, tx pgx.Tx, at time.Time, where string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at)
		SELECT jti, expires_at, $1 FROM issued_tokens
		WHERE (expires_at IS NULL OR expires_at > $1) AND (`+where+`)
		ORDER BY jti
		ON CONFLICT (jti) DO NOTHING
		RETURNING jti`, append([]any{timeValue(at)}, args...)...)
	if err != nil {
		return nil, err
	}
	jtis, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	slices.Sort(jtis)
	return jtis, nil
}

// revokeFamilies marks every unrevoked refresh token of the families
// revoked at at and lists their unexpired access tokens, returning the
// jtis newly listed, sorted. Families are taken in sorted order, so
// concurrent revocations lock rows in the same order.
func revokeFamilies(ctx context.Context, tx pgx.Tx, at time.Time, families []string) ([]string, error) {
	families = slices.Clone(families)
	slices.Sort(families)
	var all []string
	for _, f := range families {
		if _, err := tx.Exec(ctx, `INSERT INTO token_families (family_id, created_at, revoked_at) VALUES ($1, $2, $2)
			ON CONFLICT (family_id) DO UPDATE SET revoked_at = coalesce(token_families.revoked_at, excluded.revoked_at)`,
			f, timeValue(at)); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $1
			WHERE family_id = $2 AND revoked_at IS NULL`, timeValue(at), f); err != nil {
			return nil, err
		}
		jtis, err := revokeIssued(ctx, tx, at, "family_id = $2", f)
		if err != nil {
			return nil, err
		}
		all = append(all, jtis...)
	}
	slices.Sort(all)
	return all, nil
}
