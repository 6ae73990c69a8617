package postgres

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
)

// TopUsage returns the subjects of kind f.By with the largest totals.
func (db *DB) TopUsage(ctx context.Context, f auth.UsageTopFilter) ([]auth.UsageTotal, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	col := f.By // one of three column names, checked above
	owners := f.Owners
	if owners == nil {
		owners = []string{}
	}
	rows, err := db.pool.Query(ctx, `SELECT `+col+`, sum(count)::bigint AS n FROM usage_counts
		WHERE granularity = $1 AND bucket_start >= $2 AND bucket_start < $3 AND `+col+` <> ''
		  AND (cardinality($4::text[]) = 0 OR owner = ANY($4))
		GROUP BY `+col+` ORDER BY n DESC, `+col+` LIMIT $5`,
		string(f.Granularity), f.From, f.To, owners, auth.PageSize(f.Limit))
	if err != nil {
		return nil, translate("top usage", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.UsageTotal, error) {
		var t auth.UsageTotal
		err := r.Scan(&t.Subject, &t.Count)
		return t, err
	})
	if err != nil {
		return nil, translate("top usage", err)
	}
	return out, nil
}
