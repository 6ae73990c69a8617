package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.RouteStore = (*DB)(nil)

func scanRoute(row scanner) (*auth.Route, error) {
	var (
		r                auth.Route
		settings         string
		created, updated sql.NullInt64
	)
	if err := row.Scan(&r.Name, &settings, &created, &updated); err != nil {
		return nil, err
	}
	if err := r.LoadStoredSettings([]byte(settings)); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = timeFrom(created), timeFrom(updated)
	return &r, nil
}

// CreateRoute inserts r and appends the events in one transaction.
// ECONFLICT if the name exists; EINVALID if r has no name or holds
// something no backend can store.
func (db *DB) CreateRoute(ctx context.Context, r *auth.Route, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(r, events); err != nil {
		return err
	}
	doc, err := r.StoredSettings()
	if err != nil {
		return translate("create route", err)
	}
	settings := string(doc) // a TEXT column, as the migration declares
	err = db.inTx(ctx, "create route", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO gateway_routes (name, settings, created_at, updated_at)
			VALUES (?, ?, ?, ?)`, r.Name, settings, timeValue(r.CreatedAt), timeValue(r.UpdatedAt)); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A route with this name already exists.")
}

// GetRoute returns the route of that name, or ENOTFOUND.
func (db *DB) GetRoute(ctx context.Context, name string) (*auth.Route, error) {
	r, err := scanRoute(db.read.QueryRowContext(ctx, `SELECT name, settings, created_at, updated_at
		FROM gateway_routes WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Route not found.")
	}
	if err != nil {
		return nil, translate("get route", err)
	}
	return r, nil
}

// ListRoutes returns every route in ascending name order (bytewise).
func (db *DB) ListRoutes(ctx context.Context) ([]*auth.Route, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT name, settings, created_at, updated_at
		FROM gateway_routes ORDER BY name`)
	if err != nil {
		return nil, translate("list routes", err)
	}
	defer rows.Close()
	var routes []*auth.Route
	for rows.Next() {
		r, err := scanRoute(rows)
		if err != nil {
			return nil, translate("list routes", err)
		}
		routes = append(routes, r)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list routes", err)
	}
	return routes, nil
}

// UpdateRoute replaces the route named r.Name if its UpdatedAt is still
// ifUpdatedAt, and appends the events in the same transaction. ENOTFOUND
// if it does not exist, ECONFLICT if it changed since; EINVALID as for
// CreateRoute.
func (db *DB) UpdateRoute(ctx context.Context, r *auth.Route, ifUpdatedAt time.Time, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(r, events); err != nil {
		return err
	}
	doc, err := r.StoredSettings()
	if err != nil {
		return translate("update route", err)
	}
	settings := string(doc) // a TEXT column, as the migration declares
	return db.inTx(ctx, "update route", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE gateway_routes SET settings = ?, created_at = ?, updated_at = ?
			WHERE name = ? AND updated_at IS ?`,
			settings, timeValue(r.CreatedAt), timeValue(r.UpdatedAt), r.Name, timeValue(ifUpdatedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM gateway_routes WHERE name = ?`, r.Name).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return auth.Errorf(auth.ENOTFOUND, "Route not found.")
			} else if err != nil {
				return err
			}
			return auth.Errorf(auth.ECONFLICT, "The route was changed meanwhile; read it again and retry.")
		}
		return insertEvents(ctx, tx, events)
	})
}

// DeleteRoute removes the route and appends the events in one
// transaction. ENOTFOUND if it does not exist.
func (db *DB) DeleteRoute(ctx context.Context, name string, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "delete route", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM gateway_routes WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return auth.Errorf(auth.ENOTFOUND, "Route not found.")
		}
		return insertEvents(ctx, tx, events)
	})
}
