package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// WebhookService is what the API needs of the webhook service
// (*webhook.Service). Errors are *auth.Error with codes EINVALID,
// ENOTFOUND or ECONFLICT; anything else is internal.
type WebhookService interface {
	Create(ctx context.Context, p webhook.CreateParams, actor string) (*auth.WebhookEndpoint, string, error)
	Get(ctx context.Context, id string) (*auth.WebhookEndpoint, error)
	List(ctx context.Context) ([]*auth.WebhookEndpoint, error)
	Update(ctx context.Context, id string, p webhook.UpdateParams, actor string) (*auth.WebhookEndpoint, error)
	Delete(ctx context.Context, id, actor string) error
	RotateSecret(ctx context.Context, id, actor string) (*auth.WebhookEndpoint, string, error)
	Deliveries(ctx context.Context, f auth.WebhookDeliveryFilter) ([]*auth.WebhookDelivery, string, error)
	Retry(ctx context.Context, endpointID, deliveryID, actor string) (*auth.WebhookDelivery, error)
}

var _ WebhookService = (*webhook.Service)(nil)

// errNoWebhooks answers the webhook endpoints of a server built without
// the webhook service.
func errNoWebhooks() error {
	return auth.Errorf(auth.ENOTFOUND, "Webhooks are not enabled on this node.")
}

const webhooksPath = "/admin/v1/webhooks"

func webhookPath(id string) string { return webhooksPath + "/" + url.PathEscape(id) }

// handleCreateWebhook serves POST /admin/v1/webhooks: 201 with the
// endpoint and its secret, shown this once.
func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) error {
	var req WebhookRequest
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &req); err != nil {
		return err
	}
	e, secret, err := s.webhooks.Create(r.Context(),
		webhook.CreateParams{URL: req.URL, Events: req.Events, Description: req.Description}, actorOf(r))
	if err != nil {
		return fmt.Errorf("admin: create webhook: %w", err)
	}
	w.Header().Set("Location", webhookPath(e.ID))
	s.writeJSON(w, r, http.StatusCreated, CreatedWebhook{Webhook: webhookFromRecord(e, s.now()), Secret: secret})
	return nil
}

// handleListWebhooks serves GET /admin/v1/webhooks.
func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	es, err := s.webhooks.List(r.Context())
	if err != nil {
		return fmt.Errorf("admin: list webhooks: %w", err)
	}
	out := WebhookList{Items: make([]Webhook, 0, len(es))}
	for _, e := range es {
		out.Items = append(out.Items, webhookFromRecord(e, s.now()))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// handleGetWebhook serves GET /admin/v1/webhooks/{id}.
func (s *Server) handleGetWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "webhook ID")
	if err != nil {
		return err
	}
	e, err := s.webhooks.Get(r.Context(), id)
	if err != nil {
		return fmt.Errorf("admin: get webhook: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, webhookFromRecord(e, s.now()))
	return nil
}

// handleUpdateWebhook serves PATCH /admin/v1/webhooks/{id}.
func (s *Server) handleUpdateWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "webhook ID")
	if err != nil {
		return err
	}
	var patch WebhookPatch
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &patch); err != nil {
		return err
	}
	p, err := patch.params()
	if err != nil {
		return err
	}
	e, err := s.webhooks.Update(r.Context(), id, p, actorOf(r))
	if err != nil {
		return fmt.Errorf("admin: update webhook: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, webhookFromRecord(e, s.now()))
	return nil
}

// handleDeleteWebhook serves DELETE /admin/v1/webhooks/{id}: 204. Its
// deliveries go with it.
func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "webhook ID")
	if err != nil {
		return err
	}
	if err := s.webhooks.Delete(r.Context(), id, actorOf(r)); err != nil {
		return fmt.Errorf("admin: delete webhook: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRotateWebhookSecret serves POST /admin/v1/webhooks/{id}/rotate-secret:
// 200 with the endpoint and its new secret; the old one signs alongside for
// auth.WebhookSecretOverlap.
func (s *Server) handleRotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "webhook ID")
	if err != nil {
		return err
	}
	var req struct{}
	if err := decodeJSON(w, r, s.maxBody, bodyOptional, &req); err != nil {
		return err
	}
	e, secret, err := s.webhooks.RotateSecret(r.Context(), id, actorOf(r))
	if err != nil {
		return fmt.Errorf("admin: rotate webhook secret: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, CreatedWebhook{Webhook: webhookFromRecord(e, s.now()), Secret: secret})
	return nil
}

// handleListWebhookDeliveries serves GET /admin/v1/webhooks/{id}/deliveries,
// newest first.
func (s *Server) handleListWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "webhook ID")
	if err != nil {
		return err
	}
	q, err := parseQuery(r, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := pageLimit(q)
	if err != nil {
		return err
	}
	ds, next, err := s.webhooks.Deliveries(r.Context(), auth.WebhookDeliveryFilter{EndpointID: id, Before: q.Get("cursor"), Limit: limit})
	if err != nil {
		return fmt.Errorf("admin: list webhook deliveries: %w", err)
	}
	out := WebhookDeliveryList{Items: make([]WebhookDelivery, 0, len(ds)), NextCursor: next}
	for _, d := range ds {
		out.Items = append(out.Items, deliveryFromRecord(d))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// handleRetryWebhookDelivery serves POST
// /admin/v1/webhooks/{id}/deliveries/{delivery_id}/retry: 202, the
// delivery due now; the dispatcher attempts it at its next poll.
func (s *Server) handleRetryWebhookDelivery(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "webhook ID")
	if err != nil {
		return err
	}
	did, err := pathValue(r, "delivery_id", "delivery ID")
	if err != nil {
		return err
	}
	var req struct{}
	if err := decodeJSON(w, r, s.maxBody, bodyOptional, &req); err != nil {
		return err
	}
	d, err := s.webhooks.Retry(r.Context(), id, did, actorOf(r))
	if err != nil {
		return fmt.Errorf("admin: retry webhook delivery: %w", err)
	}
	s.writeJSON(w, r, http.StatusAccepted, deliveryFromRecord(d))
	return nil
}

// params turns the patch into the service's update: null clears the
// description, and is refused for the members that cannot be removed.
func (patch WebhookPatch) params() (webhook.UpdateParams, error) {
	var p webhook.UpdateParams
	for _, m := range []struct {
		name, want string
		null       bool
	}{
		{"url", "a string", patch.URL.Null},
		{"events", "a list", patch.Events.Null},
		{"enabled", "true or false", patch.Enabled.Null},
	} {
		if m.null {
			return p, auth.Errorf(auth.EINVALID, "The member %q must be %s, not null: it cannot be removed.", m.name, m.want)
		}
	}
	if patch.URL.Set {
		p.URL = &patch.URL.Value
	}
	if patch.Events.Set {
		p.Events = patch.Events.Value
		if p.Events == nil {
			p.Events = []string{} // "events": [] is a request to clear, which the rules refuse
		}
	}
	if patch.Description.Set {
		p.Description = &patch.Description.Value // "" when null: cleared
	}
	if patch.Enabled.Set {
		p.Enabled = &patch.Enabled.Value
	}
	return p, nil
}
