package sqlite

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// TopUsage returns the subjects of kind f.By with the largest totals.
func (db *DB) TopUsage(ctx context.Context, f auth.UsageTopFilter) ([]auth.UsageTotal, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	col := f.By // one of three column names, checked above
	where := []string{"granularity = ?", "bucket_start >= ?", "bucket_start < ?", col + " <> ''"}
	args := []any{string(f.Granularity), f.From.Unix(), f.To.Unix()}
	if len(f.Owners) > 0 {
		where = append(where, "owner IN ("+strings.TrimSuffix(strings.Repeat("?,", len(f.Owners)), ",")+")")
		for _, o := range f.Owners {
			args = append(args, o)
		}
	}
	args = append(args, auth.PageSize(f.Limit))
	rows, err := db.read.QueryContext(ctx, `SELECT `+col+`, sum(count) AS n FROM usage_counts
		WHERE `+strings.Join(where, " AND ")+` GROUP BY `+col+` ORDER BY n DESC, `+col+` LIMIT ?`, args...)
	if err != nil {
		return nil, translate("top usage", err)
	}
	defer rows.Close()
	var out []auth.UsageTotal
	for rows.Next() {
		var t auth.UsageTotal
		if err := rows.Scan(&t.Subject, &t.Count); err != nil {
			return nil, translate("top usage", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("top usage", err)
	}
	return out, nil
}
