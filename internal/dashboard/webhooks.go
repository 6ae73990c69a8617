package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

func (s *Server) webhookPages() []page {
	return []page{
		{"GET /dashboard/webhooks", adminOnly, s.handleWebhooks},
		{"POST /dashboard/webhooks", adminOnly, s.handleCreateWebhook},
		{"GET /dashboard/webhooks/{id}", adminOnly, s.handleWebhook},
		{"POST /dashboard/webhooks/{id}", adminOnly, s.handleUpdateWebhook},
		{"POST /dashboard/webhooks/{id}/rotate-secret", adminOnly, s.handleRotateWebhookSecret},
		{"GET /dashboard/webhooks/{id}/delete", adminOnly, s.handleDeleteWebhookConfirm},
		{"POST /dashboard/webhooks/{id}/delete", adminOnly, s.handleDeleteWebhook},
		{"POST /dashboard/webhooks/{id}/deliveries/{delivery}/retry", adminOnly, s.handleRetryWebhookDelivery},
	}
}

const webhooksPath = "/dashboard/webhooks"

func webhookPath(id string) string { return webhooksPath + "/" + url.PathEscape(id) }

// webhookDeliveriesPerPage is the length of a page of the delivery log.
const webhookDeliveriesPerPage = 50

// webhookForm is the endpoint form's values as entered.
type webhookForm struct {
	URL, Description string
	Events           []string
	Enabled          bool
}

// webhookEventChoice is one checkbox of the event list.
type webhookEventChoice struct {
	Name    string
	Checked bool
}

func (f webhookForm) Choices() []webhookEventChoice {
	var out []webhookEventChoice
	for _, e := range auth.WebhookEventTypes() {
		out = append(out, webhookEventChoice{Name: e, Checked: slices.Contains(f.Events, e)})
	}
	return out
}

func readWebhookForm(f url.Values) webhookForm {
	return webhookForm{
		URL: strings.TrimSpace(f.Get("url")), Description: strings.TrimSpace(f.Get("description")),
		Events: f["events"], Enabled: f.Get("enabled") != "",
	}
}

// webhooksData is the list page with its create form.
type webhooksData struct {
	Endpoints    []*auth.WebhookEndpoint
	Form         webhookForm
	Error, Field string
}

func (s *Server) handleWebhooks(w http.ResponseWriter, r *http.Request, v *viewer) {
	s.showWebhooks(w, r, v, http.StatusOK, webhooksData{})
}

func (s *Server) showWebhooks(w http.ResponseWriter, r *http.Request, v *viewer, status int, d webhooksData) {
	es, err := s.cfg.Webhooks.List(r.Context())
	if err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: list webhooks: %w", err))
		return
	}
	d.Endpoints = es
	s.show(w, r, v, status, "webhooks.html", &view{Title: "Webhooks", Nav: "webhooks", Data: d})
}

// webhookErrorField names the form field a service refusal is about:
// the URL, event and description rules each word their own messages
// (auth.CheckWebhookURL, NormalizeWebhookEvents, CheckWebhookDescription).
func webhookErrorField(err error) string {
	msg := auth.ErrorMessage(err)
	switch {
	case strings.HasPrefix(msg, "The webhook URL"):
		return "url"
	case strings.Contains(msg, "event type"):
		return "events"
	case strings.HasPrefix(msg, "The description"):
		return "description"
	}
	return ""
}

// webhookRefusal reports whether err is the form's fault (shown inline with
// status) rather than the error page's.
func webhookRefusal(err error) (int, bool) {
	switch auth.ErrorCode(err) {
	case auth.EINVALID:
		return http.StatusBadRequest, true
	case auth.ECONFLICT:
		return http.StatusConflict, true
	}
	return 0, false
}

// webhookSecretData is the page that shows a new secret once.
type webhookSecretData struct {
	Endpoint *auth.WebhookEndpoint
	Secret   string
	Rotated  bool
}

// handleCreateWebhook creates as POST /admin/v1/webhooks does, and shows
// the secret in this answer, the only time it is shown.
func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := readWebhookForm(r.PostForm)
	e, secret, err := s.cfg.Webhooks.Create(r.Context(),
		webhook.CreateParams{URL: f.URL, Events: f.Events, Description: f.Description}, v.actor())
	if err != nil {
		if status, ok := webhookRefusal(err); ok {
			s.showWebhooks(w, r, v, status, webhooksData{Form: f, Error: auth.ErrorMessage(err), Field: webhookErrorField(err)})
			return
		}
		s.fail(w, r, fmt.Errorf("dashboard: create webhook: %w", err))
		return
	}
	s.show(w, r, v, http.StatusCreated, "webhook-secret.html", &view{
		Title: "Webhook endpoint created", Nav: "webhooks", Notice: notices["created"],
		Data: webhookSecretData{Endpoint: e, Secret: secret},
	})
}

// webhookData is an endpoint's page: its attributes, the edit form and
// a page of its delivery log.
type webhookData struct {
	Endpoint     *auth.WebhookEndpoint
	Form         webhookForm
	Error, Field string
	Deliveries   []webhookDeliveryRow
	Next         string // the next page of deliveries
}

// webhookDeliveryRow is a delivery with its badge's class.
type webhookDeliveryRow struct {
	*auth.WebhookDelivery
	Badge string
}

// deliveryBadges are the stylesheet's classes of the delivery states.
var deliveryBadges = map[string]string{
	auth.DeliveryPending: "pending", auth.DeliverySucceeded: "delivered", auth.DeliveryFailed: "failed",
}

func (s *Server) webhook(r *http.Request) (*auth.WebhookEndpoint, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.cfg.Webhooks.Get(r.Context(), id)
}

func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	e, err := s.webhook(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showWebhook(w, r, v, http.StatusOK, webhookData{Endpoint: e, Form: webhookFormOf(e)})
}

func webhookFormOf(e *auth.WebhookEndpoint) webhookForm {
	return webhookForm{URL: e.URL, Description: e.Description, Events: e.Events, Enabled: e.Enabled()}
}

func (s *Server) showWebhook(w http.ResponseWriter, r *http.Request, v *viewer, status int, d webhookData) {
	before := r.URL.Query().Get("before")
	if len(before) > 200 {
		s.fail(w, r, auth.Errorf(auth.EINVALID, "That page of deliveries does not exist."))
		return
	}
	ds, next, err := s.cfg.Webhooks.Deliveries(r.Context(), auth.WebhookDeliveryFilter{
		EndpointID: d.Endpoint.ID, Before: before, Limit: webhookDeliveriesPerPage,
	})
	if err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: list webhook deliveries: %w", err))
		return
	}
	for _, dl := range ds {
		d.Deliveries = append(d.Deliveries, webhookDeliveryRow{WebhookDelivery: dl, Badge: deliveryBadges[dl.State]})
	}
	if next != "" {
		d.Next = webhookPath(d.Endpoint.ID) + "?before=" + url.QueryEscape(next)
	}
	s.show(w, r, v, status, "webhook.html", &view{Title: "Webhook endpoint", Nav: "webhooks", Data: d})
}

// handleUpdateWebhook applies the form as PATCH /admin/v1/webhooks/{id}
// does, sending only what changed: re-enabling forgets the endpoint's
// failures, which saving a new description must not do.
func (s *Server) handleUpdateWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	e, err := s.webhook(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := readWebhookForm(r.PostForm)
	var p webhook.UpdateParams
	if f.URL != e.URL {
		p.URL = &f.URL
	}
	if !slices.Equal(webhookEventSet(f.Events), e.Events) {
		p.Events = f.Events
		if p.Events == nil {
			p.Events = []string{} // none ticked: refused by the rules, with their message
		}
	}
	if f.Description != e.Description {
		p.Description = &f.Description
	}
	if f.Enabled != e.Enabled() {
		p.Enabled = &f.Enabled
	}
	if p.URL == nil && p.Events == nil && p.Description == nil && p.Enabled == nil {
		// Nothing changed: no write, and no audit event saying so.
		redirectDone(w, r, webhookPath(e.ID), "updated")
		return
	}
	if _, err := s.cfg.Webhooks.Update(r.Context(), e.ID, p, v.actor()); err != nil {
		if status, ok := webhookRefusal(err); ok {
			s.showWebhook(w, r, v, status, webhookData{Endpoint: e, Form: f, Error: auth.ErrorMessage(err), Field: webhookErrorField(err)})
			return
		}
		s.fail(w, r, fmt.Errorf("dashboard: update webhook: %w", err))
		return
	}
	redirectDone(w, r, webhookPath(e.ID), "updated")
}

func webhookEventSet(l []string) []string {
	c := slices.Clone(l)
	slices.Sort(c)
	return slices.Compact(c)
}

// handleRotateWebhookSecret rotates as the admin API does and shows the
// new secret once; the previous one keeps signing for a while.
func (s *Server) handleRotateWebhookSecret(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	e, secret, err := s.cfg.Webhooks.RotateSecret(r.Context(), id, v.actor())
	if err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: rotate webhook secret: %w", err))
		return
	}
	s.show(w, r, v, http.StatusOK, "webhook-secret.html", &view{
		Title: "Webhook secret rotated", Nav: "webhooks", Notice: notices["rotated"],
		Data: webhookSecretData{Endpoint: e, Secret: secret, Rotated: true},
	})
}

func (s *Server) handleDeleteWebhookConfirm(w http.ResponseWriter, r *http.Request, v *viewer) {
	e, err := s.webhook(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.show(w, r, v, http.StatusOK, "webhook-delete.html", &view{Title: "Delete webhook endpoint", Nav: "webhooks", Data: e})
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Webhooks.Delete(r.Context(), id, v.actor()); err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: delete webhook: %w", err))
		return
	}
	redirectDone(w, r, webhooksPath, "deleted")
}

// handleRetryWebhookDelivery makes the delivery due now, as POST
// /admin/v1/webhooks/{id}/deliveries/{delivery_id}/retry does.
func (s *Server) handleRetryWebhookDelivery(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	did, err := pathID(r, "delivery")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.cfg.Webhooks.Retry(r.Context(), id, did, v.actor()); err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: retry webhook delivery: %w", err))
		return
	}
	redirectDone(w, r, webhookPath(id), "retried")
}
