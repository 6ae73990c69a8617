// Package routes manages the gateway routes stored through the admin API:
// it puts each route in canonical form and checks it (auth.Route.Normalize),
// keeps it from conflicting with the others (auth.RouteConflict) and the
// names of the routes file for that file, stamps the times,
// records audit events with each change and tells the gateway to reload.
package routes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Config configures a Service. Store is required.
type Config struct {
	// Store keeps the routes; it writes each change's audit event in the
	// change's transaction, so the log never misses one.
	Store auth.RouteStore
	Now   auth.Now // default auth.SystemNow
	// FileRoutes returns the routes of the routes file, normalized. A
	// stored route may neither take one of their names (the two would
	// shadow each other) nor conflict with one (auth.RouteConflict). Nil
	// for none.
	FileRoutes func() []auth.Route
	// Changed is called after every successful write, so the gateway
	// reloads its table at once instead of at its next poll. Nil for none.
	Changed func()
}

// Service manages stored routes. It is safe for concurrent use.
type Service struct {
	store      auth.RouteStore
	now        auth.Now
	fileRoutes func() []auth.Route
	changed    func()
}

// updateAttempts bounds the read-apply-write rounds of Update when other
// writers keep changing the same route.
const updateAttempts = 3

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("routes: Store is required")
	}
	s := &Service{store: cfg.Store, now: cfg.Now, fileRoutes: cfg.FileRoutes, changed: cfg.Changed}
	if s.now == nil {
		s.now = auth.SystemNow
	}
	if s.fileRoutes == nil {
		s.fileRoutes = func() []auth.Route { return nil }
	}
	if s.changed == nil {
		s.changed = func() {}
	}
	return s, nil
}

// Create normalizes and stores a new route and returns it as stored.
// EINVALID for a route that breaks a rule (the message names the field),
// ECONFLICT if the name is taken, by a stored route or one of the routes
// file.
func (s *Service) Create(ctx context.Context, r auth.Route, actor string) (*auth.Route, error) {
	nr := r.Clone()
	if err := nr.Normalize(); err != nil {
		return nil, err
	}
	if slices.ContainsFunc(s.fileRoutes(), func(f auth.Route) bool { return f.Name == nr.Name }) {
		return nil, reservedError(nr.Name)
	}
	if err := s.checkPrefixClash(ctx, nr); err != nil {
		return nil, err
	}
	now := s.now()
	nr.CreatedAt, nr.UpdatedAt = now, now
	if err := s.store.CreateRoute(ctx, nr, event(auth.EventRouteCreated, now, actor, nr)); err != nil {
		if auth.ErrorCode(err) == auth.ECONFLICT {
			return nil, auth.Errorf(auth.ECONFLICT, "A route named %q already exists.", nr.Name)
		}
		return nil, fmt.Errorf("routes: create: %w", err)
	}
	s.changed()
	return nr, nil
}

// FileRoutes returns the routes of the routes file, which are read-only
// here: the dashboard lists them beside the stored ones.
func (s *Service) FileRoutes() []auth.Route { return s.fileRoutes() }

// Get returns the stored route of that name, or ENOTFOUND.
func (s *Service) Get(ctx context.Context, name string) (*auth.Route, error) {
	if !auth.ValidRouteName(name) {
		return nil, notFound()
	}
	r, err := s.store.GetRoute(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("routes: get: %w", err)
	}
	return r, nil
}

// List returns every stored route, by name.
func (s *Service) List(ctx context.Context) ([]*auth.Route, error) {
	rs, err := s.store.ListRoutes(ctx)
	if err != nil {
		return nil, fmt.Errorf("routes: list: %w", err)
	}
	return rs, nil
}

// Update reads the route, lets change modify a copy, normalizes it and
// writes it back if nobody changed the route meanwhile; otherwise it
// starts over with the newer route, a few times, then fails with
// ECONFLICT. change must not rename the route (EINVALID); an error it
// returns is returned as it is. ENOTFOUND if there is no such route.
func (s *Service) Update(ctx context.Context, name string, change func(*auth.Route) error, actor string) (*auth.Route, error) {
	for attempt := 1; ; attempt++ {
		old, err := s.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		r := old.Clone()
		if err := change(r); err != nil {
			return nil, err
		}
		if r.Name != old.Name {
			return nil, auth.Errorf(auth.EINVALID, "A route cannot be renamed; create a new one and delete this one.")
		}
		if err := r.Normalize(); err != nil {
			return nil, err
		}
		if r.PathPrefix != old.PathPrefix {
			if err := s.checkPrefixClash(ctx, r); err != nil {
				return nil, err
			}
		}
		now := s.now()
		// UpdatedAt is the version the next writer must present: it has
		// to move even when the clock has not (a fixed clock in tests, or
		// two updates within a microsecond), or a stale writer would pass.
		if !now.After(old.UpdatedAt) {
			now = old.UpdatedAt.Add(time.Microsecond)
		}
		r.CreatedAt, r.UpdatedAt = old.CreatedAt, now
		err = s.store.UpdateRoute(ctx, r, old.UpdatedAt, event(auth.EventRouteUpdated, now, actor, r))
		if err == nil {
			s.changed()
			return r, nil
		}
		if auth.ErrorCode(err) != auth.ECONFLICT || attempt == updateAttempts {
			return nil, fmt.Errorf("routes: update: %w", err)
		}
	}
}

// Delete removes the stored route of that name. ENOTFOUND if there is
// none.
func (s *Service) Delete(ctx context.Context, name, actor string) error {
	if !auth.ValidRouteName(name) {
		return notFound()
	}
	now := s.now()
	err := s.store.DeleteRoute(ctx, name, auth.AuditEvent{
		Time: now, Type: auth.EventRouteDeleted, Actor: actor, Count: 1,
		Details: map[string]string{"name": name},
	})
	if err != nil {
		return fmt.Errorf("routes: delete: %w", err)
	}
	s.changed()
	return nil
}

// event describes a change briefly: enough to find the route and see what
// it does, not a copy of it.
func event(typ string, now time.Time, actor string, r *auth.Route) auth.AuditEvent {
	return auth.AuditEvent{
		Time: now, Type: typ, Actor: actor, Count: 1,
		Details: map[string]string{
			"name":      r.Name,
			"policy":    r.Policy,
			"path":      r.PathPrefix,
			"upstreams": strconv.Itoa(len(r.Upstreams)),
		},
	}
}

// checkPrefixClash refuses (ECONFLICT, auth.RouteConflict) a route whose
// path prefix differs only by case from another route's, stored or of the
// routes file: the gateway serves only one of them. Two nodes creating
// such routes at one instant can still both succeed; the gateway then
// holds the one later by name.
func (s *Service) checkPrefixClash(ctx context.Context, r *auth.Route) error {
	stored, err := s.store.ListRoutes(ctx)
	if err != nil {
		return fmt.Errorf("routes: check path prefixes: %w", err)
	}
	others := s.fileRoutes()
	for _, o := range stored {
		others = append(others, *o)
	}
	for i := range others {
		// A name is checked by Create, against the file, and by the store.
		if others[i].Name == r.Name {
			continue
		}
		if err := auth.RouteConflict(r, &others[i]); err != nil {
			return err
		}
	}
	return nil
}

func notFound() error { return auth.Errorf(auth.ENOTFOUND, "Route not found.") }

func reservedError(name string) error {
	return auth.Errorf(auth.ECONFLICT, "The name %q belongs to a route of the routes file; choose another.", name)
}
