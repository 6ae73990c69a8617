package admin

import (
	"context"
	"net/http"
)

// ListNodes fetches GET /admin/v1/nodes: the cluster's nodes, live or
// not yet pruned.
func (c *Client) ListNodes(ctx context.Context) (*NodeList, error) {
	var out NodeList
	if err := c.do(ctx, http.MethodGet, "/admin/v1/nodes", nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}
