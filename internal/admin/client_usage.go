package admin

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Usage fetches GET /admin/v1/usage.
func (c *Client) Usage(ctx context.Context, p UsageParams) (*Usage, error) {
	q := url.Values{}
	setIf(q, "key_id", p.KeyID)
	setIf(q, "client_id", p.ClientID)
	setIf(q, "user_id", p.UserID)
	setIf(q, "route", p.Route)
	setIf(q, "owner", p.Owner)
	setIf(q, "granularity", p.Granularity)
	if !p.From.IsZero() {
		q.Set("from", p.From.UTC().Format(time.RFC3339))
	}
	if !p.To.IsZero() {
		q.Set("to", p.To.UTC().Format(time.RFC3339))
	}
	var out Usage
	if err := c.do(ctx, http.MethodGet, "/admin/v1/usage", q, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}
