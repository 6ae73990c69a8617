package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var _ auth.RouteStore = (*DB)(nil)

func scanRoute(row pgx.Row) (*auth.Route, error) {
	var (
		r                auth.Route
		settings         []byte
		created, updated pgtype.Timestamptz
	)
	if err := row.Scan(&r.Name, &settings, &created, &updated); err != nil {
		return nil, err
	}
	if err := r.LoadStoredSettings(settings); err != nil {
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
	settings, err := r.StoredSettings()
	if err != nil {
		return translate("create route", err)
	}
	err = db.inTx(ctx, "create route", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO gateway_routes (name, settings, created_at, updated_at)
			VALUES ($1, $2, $3, $4)`, r.Name, settings, timeValue(r.CreatedAt), timeValue(r.UpdatedAt)); err != nil {
			return err
		}
		if err := notifyChange(ctx, tx, auth.ChangeRoute, r.Name); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A route with this name already exists.")
}

// GetRoute returns the route of that name, or ENOTFOUND.
func (db *DB) GetRoute(ctx context.Context, name string) (*auth.Route, error) {
	r, err := scanRoute(db.pool.QueryRow(ctx, `SELECT name, settings, created_at, updated_at
		FROM gateway_routes WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Route not found.")
	}
	if err != nil {
		return nil, translate("get route", err)
	}
	return r, nil
}

// ListRoutes returns every route in ascending name order (bytewise).
func (db *DB) ListRoutes(ctx context.Context) ([]*auth.Route, error) {
	rows, err := db.pool.Query(ctx, `SELECT name, settings, created_at, updated_at
		FROM gateway_routes ORDER BY name`)
	if err != nil {
		return nil, translate("list routes", err)
	}
	routes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*auth.Route, error) { return scanRoute(r) })
	if err != nil {
		return nil, translate("list routes", err)
	}
	if len(routes) == 0 {
		return nil, nil // as SQLite: no routes is a nil list
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
	settings, err := r.StoredSettings()
	if err != nil {
		return translate("update route", err)
	}
	return db.inTx(ctx, "update route", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE gateway_routes SET settings = $1, created_at = $2, updated_at = $3
			WHERE name = $4 AND updated_at IS NOT DISTINCT FROM $5`,
			settings, timeValue(r.CreatedAt), timeValue(r.UpdatedAt), r.Name, timeValue(ifUpdatedAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM gateway_routes WHERE name = $1`, r.Name).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
				return auth.Errorf(auth.ENOTFOUND, "Route not found.")
			} else if err != nil {
				return err
			}
			return auth.Errorf(auth.ECONFLICT, "The route was changed meanwhile; read it again and retry.")
		}
		if err := notifyChange(ctx, tx, auth.ChangeRoute, r.Name); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// DeleteRoute removes the route and appends the events in one
// transaction. ENOTFOUND if it does not exist.
func (db *DB) DeleteRoute(ctx context.Context, name string, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "delete route", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM gateway_routes WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auth.Errorf(auth.ENOTFOUND, "Route not found.")
		}
		if err := notifyChange(ctx, tx, auth.ChangeRoute, name); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}
