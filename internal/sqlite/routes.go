package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.RouteStore = (*DB)(nil)

// routeSettings is the JSON form of a route's settings column: every field
// but the name and the times. Empty lists are left out and read back as
// nil, the form auth.Route.Normalize gives them.
type routeSettings struct {
	Hosts        []string `json:"hosts,omitempty"`
	PathPrefix   string   `json:"path"`
	Methods      []string `json:"methods,omitempty"`
	Upstreams    []string `json:"upstreams,omitempty"`
	StripPrefix  bool     `json:"strip_prefix,omitempty"`
	TimeoutNS    int64    `json:"timeout_ns,omitempty"`
	Policy       string   `json:"policy"`
	Scopes       []string `json:"scopes,omitempty"`
	Audience     string   `json:"audience,omitempty"`
	Issuer       string   `json:"issuer,omitempty"`
	JWKSURI      string   `json:"jwks_uri,omitempty"`
	Algorithms   []string `json:"algorithms,omitempty"`
	Rate         float64  `json:"rate,omitempty"`
	Burst        int      `json:"burst,omitempty"`
	ClientRate   float64  `json:"client_rate,omitempty"`
	ClientBurst  int      `json:"client_burst,omitempty"`
	InternalJWT  bool     `json:"internal_jwt,omitempty"`
	StripHeaders []string `json:"strip_headers,omitempty"`
}

// checkRoute refuses what cannot be stored exactly. The rules of a route
// (auth.Route.Normalize) are its owner's to apply, not the store's.
func checkRoute(r *auth.Route) error {
	switch {
	case r == nil:
		return auth.Errorf(auth.EINVALID, "Route is missing.")
	case r.Name == "":
		return auth.Errorf(auth.EINVALID, "Route name is required.")
	}
	if err := checkText("Route", r.Name, r.PathPrefix, r.Policy, r.Audience, r.Issuer, r.JWKSURI); err != nil {
		return err
	}
	if err := checkLists("Route", r.Hosts, r.Methods, r.Upstreams, r.Scopes, r.Algorithms, r.StripHeaders); err != nil {
		return err
	}
	for _, rate := range []float64{r.RateLimit.Rate, r.ClientRateLimit.Rate} {
		if math.IsNaN(rate) || math.IsInf(rate, 0) {
			return auth.Errorf(auth.EINVALID, "Route rate limits must be finite numbers.")
		}
	}
	return nil
}

func routeSettingsJSON(r *auth.Route) (string, error) {
	b, err := json.Marshal(routeSettings{
		Hosts: r.Hosts, PathPrefix: r.PathPrefix, Methods: r.Methods, Upstreams: r.Upstreams,
		StripPrefix: r.StripPrefix, TimeoutNS: int64(r.Timeout), Policy: r.Policy, Scopes: r.Scopes,
		Audience: r.Audience, Issuer: r.Issuer, JWKSURI: r.JWKSURI, Algorithms: r.Algorithms,
		Rate: r.RateLimit.Rate, Burst: r.RateLimit.Burst,
		ClientRate: r.ClientRateLimit.Rate, ClientBurst: r.ClientRateLimit.Burst,
		InternalJWT: r.InternalJWT, StripHeaders: r.StripHeaders,
	})
	if err != nil {
		return "", fmt.Errorf("encode route settings: %w", err)
	}
	return string(b), nil
}

func scanRoute(row scanner) (*auth.Route, error) {
	var (
		r                auth.Route
		settings         string
		created, updated sql.NullInt64
	)
	if err := row.Scan(&r.Name, &settings, &created, &updated); err != nil {
		return nil, err
	}
	var s routeSettings
	if err := json.Unmarshal([]byte(settings), &s); err != nil {
		return nil, fmt.Errorf("decode settings of route %q: %w", r.Name, err)
	}
	r.Hosts, r.PathPrefix, r.Methods, r.Upstreams = s.Hosts, s.PathPrefix, s.Methods, s.Upstreams
	r.StripPrefix, r.Timeout, r.Policy, r.Scopes = s.StripPrefix, time.Duration(s.TimeoutNS), s.Policy, s.Scopes
	r.Audience, r.Issuer, r.JWKSURI, r.Algorithms = s.Audience, s.Issuer, s.JWKSURI, s.Algorithms
	r.RateLimit = auth.RateLimit{Rate: s.Rate, Burst: s.Burst}
	r.ClientRateLimit = auth.RateLimit{Rate: s.ClientRate, Burst: s.ClientBurst}
	r.InternalJWT, r.StripHeaders = s.InternalJWT, s.StripHeaders
	r.CreatedAt, r.UpdatedAt = timeFrom(created), timeFrom(updated)
	return &r, nil
}

// CreateRoute inserts r and appends the events in one transaction.
// ECONFLICT if the name exists; EINVALID if r has no name or holds
// something no backend can store.
func (db *DB) CreateRoute(ctx context.Context, r *auth.Route, events ...auth.AuditEvent) error {
	if err := checkRoute(r); err != nil {
		return err
	}
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	settings, err := routeSettingsJSON(r)
	if err != nil {
		return translate("create route", err)
	}
	err = db.inTx(ctx, "create route", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO gateway_routes (name, settings, created_at, updated_at)
			VALUES (?, ?, ?, ?)`, r.Name, settings, timeValue(r.CreatedAt), timeValue(r.UpdatedAt)); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	return conflictAs(err, "A route with this name already exists.")
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
	if err := checkRoute(r); err != nil {
		return err
	}
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	settings, err := routeSettingsJSON(r)
	if err != nil {
		return translate("update route", err)
	}
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
