package postgres

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var _ auth.NodeStore = (*DB)(nil)

// HeartbeatNode inserts n, or updates the row with its ID, keeping the
// StartedAt first stored. EINVALID if n has no ID or SeenAt, or holds text
// no backend can store.
func (db *DB) HeartbeatNode(ctx context.Context, n *auth.Node) error {
	if err := n.CheckStorable(); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO nodes (id, hostname, version, address, started_at, seen_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, version = excluded.version,
			address = excluded.address, seen_at = excluded.seen_at`,
		n.ID, n.Hostname, n.Version, n.Address, timeValue(n.StartedAt), n.SeenAt)
	return translate("heartbeat node", err)
}

// ListNodes returns the nodes whose SeenAt is not before since (all of
// them for a zero since), oldest start first, then by ID.
func (db *DB) ListNodes(ctx context.Context, since time.Time) ([]auth.Node, error) {
	query := `SELECT id, hostname, version, address, started_at, seen_at FROM nodes`
	var args []any
	if !since.IsZero() {
		query += ` WHERE seen_at >= $1`
		args = append(args, auth.CeilMicro(since))
	}
	// NULLS FIRST: a node that never said when it started sorts first, as
	// in SQLite.
	rows, err := db.pool.Query(ctx, query+` ORDER BY started_at NULLS FIRST, id`, args...)
	if err != nil {
		return nil, translate("list nodes", err)
	}
	nodes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.Node, error) {
		var (
			n             auth.Node
			started, seen pgtype.Timestamptz
		)
		err := row.Scan(&n.ID, &n.Hostname, &n.Version, &n.Address, &started, &seen)
		n.StartedAt, n.SeenAt = timeFrom(started), timeFrom(seen)
		return n, err
	})
	if err != nil {
		return nil, translate("list nodes", err)
	}
	return nodes, nil
}

// DeleteNode removes the node's row; deleting an unknown node is not an
// error.
func (db *DB) DeleteNode(ctx context.Context, id string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM nodes WHERE id = $1`, id)
	return translate("delete node", err)
}

// DeleteNodesSeenBefore removes the nodes whose SeenAt is before t and
// says how many.
func (db *DB) DeleteNodesSeenBefore(ctx context.Context, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM nodes WHERE seen_at < $1`, auth.CeilMicro(t))
	if err != nil {
		return 0, translate("delete nodes seen before", err)
	}
	return tag.RowsAffected(), nil
}
