package admin

import (
	"context"
	"net/http"
)

const routesPath = "/admin/v1/routes"

// CreateRoute creates a gateway route and returns it as stored.
func (c *Client) CreateRoute(ctx context.Context, req RouteRequest) (*GatewayRoute, error) {
	var out GatewayRoute
	if err := c.do(ctx, http.MethodPost, routesPath, nil, &req, true, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListRoutes returns every stored gateway route, by name.
func (c *Client) ListRoutes(ctx context.Context) (*RouteList, error) {
	var out RouteList
	if err := c.do(ctx, http.MethodGet, routesPath, nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetRoute returns one gateway route.
func (c *Client) GetRoute(ctx context.Context, name string) (*GatewayRoute, error) {
	path, err := idPath(routesPath, name)
	if err != nil {
		return nil, err
	}
	var out GatewayRoute
	if err := c.do(ctx, http.MethodGet, path, nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateRoute changes the settings present in patch and returns the route
// as updated.
func (c *Client) UpdateRoute(ctx context.Context, name string, patch RoutePatch) (*GatewayRoute, error) {
	path, err := idPath(routesPath, name)
	if err != nil {
		return nil, err
	}
	var out GatewayRoute
	if err := c.do(ctx, http.MethodPatch, path, nil, &patch, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteRoute deletes a gateway route.
func (c *Client) DeleteRoute(ctx context.Context, name string) error {
	path, err := idPath(routesPath, name)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil, true, nil, http.StatusNoContent)
}
