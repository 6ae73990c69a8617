package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.NodeStore = (*DB)(nil)

// HeartbeatNode inserts n, or updates the row with its ID, keeping the
// StartedAt first stored. EINVALID if n has no ID or SeenAt, or holds text
// no backend can store.
func (db *DB) HeartbeatNode(ctx context.Context, n *auth.Node) error {
	if err := n.CheckStorable(); err != nil {
		return err
	}
	return db.inTx(ctx, "heartbeat node", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, hostname, version, address, started_at, seen_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, version = excluded.version,
				address = excluded.address, seen_at = excluded.seen_at`,
			n.ID, n.Hostname, n.Version, n.Address, timeValue(n.StartedAt), n.SeenAt.UnixMicro())
		return err
	})
}

// ListNodes returns the nodes whose SeenAt is not before since (all of
// them for a zero since), oldest start first, then by ID.
func (db *DB) ListNodes(ctx context.Context, since time.Time) ([]auth.Node, error) {
	query := `SELECT id, hostname, version, address, started_at, seen_at FROM nodes`
	var args []any
	if !since.IsZero() {
		query += ` WHERE seen_at >= ?`
		args = append(args, auth.CeilMicro(since).UnixMicro())
	}
	// A node that never said when it started sorts first, as NULLs do in
	// SQLite (and, by NULLS FIRST, in PostgreSQL).
	rows, err := db.read.QueryContext(ctx, query+` ORDER BY started_at, id`, args...)
	if err != nil {
		return nil, translate("list nodes", err)
	}
	defer rows.Close()
	nodes := []auth.Node{}
	for rows.Next() {
		var (
			n       auth.Node
			started sql.NullInt64
			seen    int64
		)
		if err := rows.Scan(&n.ID, &n.Hostname, &n.Version, &n.Address, &started, &seen); err != nil {
			return nil, translate("list nodes", err)
		}
		n.StartedAt, n.SeenAt = timeFrom(started), time.UnixMicro(seen).UTC()
		nodes = append(nodes, n)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list nodes", err)
	}
	return nodes, nil
}

// DeleteNode removes the node's row; deleting an unknown node is not an
// error.
func (db *DB) DeleteNode(ctx context.Context, id string) error {
	return db.inTx(ctx, "delete node", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM nodes WHERE id = ?`, id)
		return err
	})
}

// DeleteNodesSeenBefore removes the nodes whose SeenAt is before t and
// says how many.
func (db *DB) DeleteNodesSeenBefore(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, "delete nodes seen before", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM nodes WHERE seen_at < ?`, auth.CeilMicro(t).UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
