package admin

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// errNoRoutes answers the route management endpoints of a server built
// without the routes service (embedders and tests that want keys alone).
func errNoRoutes() error {
	return auth.Errorf(auth.ENOTFOUND, "Gateway route management is not enabled on this node.")
}

// handleCreateRoute serves POST /admin/v1/routes: 201 with the route as
// stored (in canonical form) and its Location.
func (s *Server) handleCreateRoute(w http.ResponseWriter, r *http.Request) error {
	var req RouteRequest
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &req); err != nil {
		return err
	}
	in, err := routeFromRequest(req)
	if err != nil {
		return err
	}
	rt, err := s.routes.Create(r.Context(), in, actorOf(r))
	if err != nil {
		return fmt.Errorf("admin: create route: %w", err)
	}
	w.Header().Set("Location", "/admin/v1/routes/"+url.PathEscape(rt.Name))
	s.writeJSON(w, r, http.StatusCreated, routeFromRecord(rt))
	return nil
}

// handleListRoutes serves GET /admin/v1/routes: every stored route. A
// route table is small (each one is matched on every gateway request), so
// the list has no pages.
func (s *Server) handleListRoutes(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	rs, err := s.routes.List(r.Context())
	if err != nil {
		return fmt.Errorf("admin: list routes: %w", err)
	}
	out := RouteList{Items: make([]GatewayRoute, 0, len(rs))}
	for _, rt := range rs {
		out.Items = append(out.Items, routeFromRecord(rt))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// handleGetRoute serves GET /admin/v1/routes/{name}.
func (s *Server) handleGetRoute(w http.ResponseWriter, r *http.Request) error {
	name, err := pathValue(r, "name", "route name")
	if err != nil {
		return err
	}
	rt, err := s.routes.Get(r.Context(), name)
	if err != nil {
		return fmt.Errorf("admin: get route: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, routeFromRecord(rt))
	return nil
}

// handleUpdateRoute serves PATCH /admin/v1/routes/{name}: the members
// present in the body replace the route's settings; the result must still
// be a valid route.
func (s *Server) handleUpdateRoute(w http.ResponseWriter, r *http.Request) error {
	name, err := pathValue(r, "name", "route name")
	if err != nil {
		return err
	}
	var patch RoutePatch
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &patch); err != nil {
		return err
	}
	rt, err := s.routes.Update(r.Context(), name, patch.apply, actorOf(r))
	if err != nil {
		return fmt.Errorf("admin: update route: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, routeFromRecord(rt))
	return nil
}

// handleDeleteRoute serves DELETE /admin/v1/routes/{name}: 204.
func (s *Server) handleDeleteRoute(w http.ResponseWriter, r *http.Request) error {
	name, err := pathValue(r, "name", "route name")
	if err != nil {
		return err
	}
	if err := s.routes.Delete(r.Context(), name, actorOf(r)); err != nil {
		return fmt.Errorf("admin: delete route: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
