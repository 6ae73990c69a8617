package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// CreateWebhook registers a webhook endpoint; the secret in the answer is
// its only copy.
func (c *Client) CreateWebhook(ctx context.Context, req WebhookRequest) (*CreatedWebhook, error) {
	var out CreatedWebhook
	if err := c.do(ctx, http.MethodPost, webhooksPath, nil, &req, true, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWebhooks returns every webhook endpoint.
func (c *Client) ListWebhooks(ctx context.Context) (*WebhookList, error) {
	var out WebhookList
	if err := c.do(ctx, http.MethodGet, webhooksPath, nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetWebhook returns one webhook endpoint.
func (c *Client) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	path, err := idPath(webhooksPath, id)
	if err != nil {
		return nil, err
	}
	var out Webhook
	if err := c.do(ctx, http.MethodGet, path, nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateWebhook changes the members present in patch.
func (c *Client) UpdateWebhook(ctx context.Context, id string, patch WebhookPatch) (*Webhook, error) {
	path, err := idPath(webhooksPath, id)
	if err != nil {
		return nil, err
	}
	var out Webhook
	if err := c.do(ctx, http.MethodPatch, path, nil, &patch, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteWebhook deletes an endpoint and its deliveries.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	path, err := idPath(webhooksPath, id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil, true, nil, http.StatusNoContent)
}

// RotateWebhookSecret gives an endpoint a new secret and returns it; the
// old one keeps signing alongside for 24 hours.
func (c *Client) RotateWebhookSecret(ctx context.Context, id string) (*CreatedWebhook, error) {
	path, err := idPath(webhooksPath, id)
	if err != nil {
		return nil, err
	}
	var out CreatedWebhook
	if err := c.do(ctx, http.MethodPost, path+"/rotate-secret", nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWebhookDeliveries returns one page of an endpoint's deliveries,
// newest first.
func (c *Client) ListWebhookDeliveries(ctx context.Context, id string, p WebhookDeliveriesParams) (*WebhookDeliveryList, error) {
	path, err := idPath(webhooksPath, id)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	var out WebhookDeliveryList
	if err := c.do(ctx, http.MethodGet, path+"/deliveries", q, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RetryWebhookDelivery makes a delivery due now.
func (c *Client) RetryWebhookDelivery(ctx context.Context, id, deliveryID string) (*WebhookDelivery, error) {
	path, err := idPath(webhooksPath, id)
	if err != nil {
		return nil, err
	}
	path, err = idPath(path+"/deliveries", deliveryID)
	if err != nil {
		return nil, err
	}
	var out WebhookDelivery
	if err := c.do(ctx, http.MethodPost, path+"/retry", nil, nil, true, &out, http.StatusAccepted); err != nil {
		return nil, err
	}
	return &out, nil
}
