package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
)

// AddUsage adds the counts to their minute, hour and day buckets in one
// transaction, auth.MaxUsageBatchRows rows per statement (one array
// parameter per column). Rows come sorted from auth.RollUpUsage, so two
// nodes flushing at once lock shared rows in the same order and never
// deadlock. EINVALID (and nothing written) if a count is not positive or
// holds text PostgreSQL cannot keep.
func (db *DB) AddUsage(ctx context.Context, counts []auth.UsageCount) error {
	rows, err := auth.RollUpUsage(counts)
	if err != nil || len(rows) == 0 {
		return err
	}
	return db.inTx(ctx, "add usage", func(tx pgx.Tx) error {
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
// stored one, or inserted. The rows are distinct (RollUpUsage merged
// them), as ON CONFLICT DO UPDATE requires.
func upsertUsage(ctx context.Context, tx pgx.Tx, rows []auth.UsageBucket) error {
	n := len(rows)
	var (
		gran, key, client, user, route, owner, outcome = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		start = make([]time.Time, n)
		count = make([]int64, n)
	)
	for i, r := range rows {
		gran[i], start[i], count[i] = string(r.Granularity), r.Start, r.Count
		key[i], client[i], user[i], route[i], owner[i], outcome[i] = r.KeyID, r.ClientID, r.UserID, r.Route, r.Owner, r.Outcome
	}
	_, err := tx.Exec(ctx, `INSERT INTO usage_counts
		(granularity, bucket_start, key_id, client_id, user_id, route, owner, outcome, count)
		SELECT g, s, k, c, us, r, o, oc, n FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[])
			WITH ORDINALITY AS u(g, s, k, c, us, r, o, oc, n, i) ORDER BY i
		ON CONFLICT (granularity, bucket_start, key_id, client_id, user_id, route, owner, outcome)
		DO UPDATE SET count = usage_counts.count + EXCLUDED.count`,
		gran, start, key, client, user, route, owner, outcome, count)
	return err
}

// QueryUsage returns the totals per bucket and outcome of the buckets
// matching f, ordered by start then outcome.
func (db *DB) QueryUsage(ctx context.Context, f auth.UsageFilter) ([]auth.UsagePoint, error) {
	var (
		where []string
		args  []any
	)
	cond := func(format string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(format, len(args)))
	}
	cond("granularity = $%d", string(f.Granularity))
	cond("bucket_start >= $%d", f.From)
	cond("bucket_start < $%d", f.To)
	for _, c := range []struct{ col, v string }{
		{"key_id", f.KeyID}, {"client_id", f.ClientID}, {"user_id", f.UserID}, {"route", f.Route}, {"owner", f.Owner},
	} {
		if c.v != "" {
			cond(c.col+" = $%d", c.v)
		}
	}
	rows, err := db.pool.Query(ctx, `SELECT bucket_start, outcome, sum(count)::bigint FROM usage_counts
		WHERE `+strings.Join(where, " AND ")+` GROUP BY bucket_start, outcome ORDER BY bucket_start, outcome`, args...)
	if err != nil {
		return nil, translate("query usage", err)
	}
	defer rows.Close()
	var out []auth.UsagePoint
	for rows.Next() {
		var p auth.UsagePoint
		if err := rows.Scan(&p.Start, &p.Outcome, &p.Count); err != nil {
			return nil, translate("query usage", err)
		}
		p.Start = p.Start.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("query usage", err)
	}
	return out, nil
}

// DeleteUsageBefore removes the buckets of g that start before t.
func (db *DB) DeleteUsageBefore(ctx context.Context, g auth.Granularity, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM usage_counts WHERE granularity = $1 AND bucket_start < $2`, string(g), t)
	if err != nil {
		return 0, translate("delete usage", err)
	}
	return tag.RowsAffected(), nil
}
