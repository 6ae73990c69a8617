package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// AddUsage adds the counts to their minute, hour and day buckets in one
// transaction, auth.MaxUsageBatchRows rows per statement. EINVALID (and
// nothing written) if a count is not positive or holds text SQLite would
// not keep as given.
func (db *DB) AddUsage(ctx context.Context, counts []auth.UsageCount) error {
	rows, err := auth.RollUpUsage(counts)
	if err != nil || len(rows) == 0 {
		return err
	}
	return db.inTx(ctx, "add usage", func(tx *sql.Tx) error {
		for len(rows) > 0 {
			n := min(len(rows), auth.MaxUsageBatchRows)
			if err := upsertUsage(ctx, tx, rows[:n]); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	})
}

// upsertUsage adds rows in one statement: each row's count is added to the
// stored one, or inserted.
func upsertUsage(ctx context.Context, tx *sql.Tx, rows []auth.UsageBucket) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO usage_counts
		(granularity, bucket_start, key_id, client_id, user_id, route, owner, outcome, count) VALUES `)
	args := make([]any, 0, 9*len(rows))
	for i, r := range rows {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,?,?,?,?,?)")
		args = append(args, string(r.Granularity), r.Start.Unix(), r.KeyID, r.ClientID, r.UserID, r.Route, r.Owner, r.Outcome, r.Count)
	}
	q.WriteString(` ON CONFLICT (granularity, bucket_start, key_id, client_id, user_id, route, owner, outcome)
		DO UPDATE SET count = count + excluded.count`)
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

// QueryUsage returns the totals per bucket and outcome of the buckets
// matching f, ordered by start then outcome.
func (db *DB) QueryUsage(ctx context.Context, f auth.UsageFilter) ([]auth.UsagePoint, error) {
	where := []string{"granularity = ?", "bucket_start >= ?", "bucket_start < ?"}
	args := []any{string(f.Granularity), f.From.Unix(), f.To.Unix()}
	for _, c := range []struct{ col, v string }{
		{"key_id", f.KeyID}, {"client_id", f.ClientID}, {"user_id", f.UserID}, {"route", f.Route}, {"owner", f.Owner},
	} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	rows, err := db.read.QueryContext(ctx, `SELECT bucket_start, outcome, sum(count) FROM usage_counts
		WHERE `+strings.Join(where, " AND ")+` GROUP BY bucket_start, outcome ORDER BY bucket_start, outcome`, args...)
	if err != nil {
		return nil, translate("query usage", err)
	}
	defer rows.Close()
	var out []auth.UsagePoint
	for rows.Next() {
		var (
			p     auth.UsagePoint
			start int64
		)
		if err := rows.Scan(&start, &p.Outcome, &p.Count); err != nil {
			return nil, translate("query usage", err)
		}
		p.Start = time.Unix(start, 0).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("query usage", err)
	}
	return out, nil
}

// DeleteUsageBefore removes the buckets of g that start before t.
func (db *DB) DeleteUsageBefore(ctx context.Context, g auth.Granularity, t time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, "delete usage", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM usage_counts WHERE granularity = ? AND bucket_start < ?`, string(g), t.Unix())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
