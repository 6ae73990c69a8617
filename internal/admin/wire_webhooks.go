package admin

import (
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Webhook is a webhook endpoint as the API shows it: never its secret,
// which only CreatedWebhook carries, once.
type Webhook struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	// Status is "enabled" or "disabled"; DisabledReason says why a
	// disabled endpoint is (an operator, or failing for 3 days).
	Status         string    `json:"status"`
	DisabledAt     time.Time `json:"disabled_at,omitzero"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	// FailingSince is the first failed attempt since the last success.
	FailingSince time.Time `json:"failing_since,omitzero"`
	// PreviousSecretExpiresAt, after a rotation, is when the previous
	// secret stops signing alongside the new one.
	PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at,omitzero"`
	CreatedAt               time.Time `json:"created_at"`
	UpdatedAt               time.Time `json:"updated_at"`
}

// Webhook statuses.
const (
	WebhookEnabled  = "enabled"
	WebhookDisabled = "disabled"
)

// CreatedWebhook is a new endpoint (or one whose secret was rotated)
// with its signing secret, "whsec_" and base64, which the server returns
// only in this answer.
type CreatedWebhook struct {
	Webhook
	Secret string `json:"secret"`
}

// WebhookRequest is the body of POST /admin/v1/webhooks.
type WebhookRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
}

// WebhookPatch is the body of PATCH /admin/v1/webhooks/{id}: present
// members replace the endpoint's, absent ones leave them. "description":
// null clears the description; "url", "events" and "enabled" cannot be
// removed, so null is refused for them (400 naming the member) rather
// than read as "unchanged". "enabled": true re-enables a disabled
// endpoint; false disables it.
type WebhookPatch struct {
	URL         Nullable[string]   `json:"url,omitzero"`
	Events      Nullable[[]string] `json:"events,omitzero"`
	Description Nullable[string]   `json:"description,omitzero"`
	Enabled     Nullable[bool]     `json:"enabled,omitzero"`
}

// WebhookList is GET /admin/v1/webhooks: every endpoint (there are at most
// auth.MaxWebhookEndpoints), so no pages.
type WebhookList struct {
	Items []Webhook `json:"items"`
}

// WebhookDelivery is one event on its way to one endpoint.
type WebhookDelivery struct {
	ID        string    `json:"id"`
	EventID   string    `json:"event_id"` // the webhook-id header
	EventType string    `json:"event_type"`
	EventTime time.Time `json:"event_time"`
	// State is "pending", "succeeded" or "failed" (given up).
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	// StatusCode and LatencyMS are of the last attempt; 0 without one or
	// without an answer.
	StatusCode    int       `json:"status_code"`
	LatencyMS     float64   `json:"latency_ms"`
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	// Error is a short excerpt of the last failure: the error, or the
	// start of the answer's body.
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// WebhookDeliveryList is one page of GET
// /admin/v1/webhooks/{id}/deliveries, newest first. NextCursor is "" on
// the last page.
type WebhookDeliveryList struct {
	Items      []WebhookDelivery `json:"items"`
	NextCursor string            `json:"next_cursor"`
}

// WebhookDeliveriesParams are the query parameters of the delivery list.
type WebhookDeliveriesParams struct {
	Limit  int
	Cursor string
}

// webhookFromRecord shows e at time now: the previous secret's expiry only
// while it still signs.
func webhookFromRecord(e *auth.WebhookEndpoint, now time.Time) Webhook {
	w := Webhook{
		ID: e.ID, URL: e.URL, Events: slices.Clone(e.Events), Description: e.Description,
		Status: WebhookEnabled, DisabledAt: e.DisabledAt, DisabledReason: e.DisabledReason,
		FailingSince: e.FailingSince, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
	}
	if w.Events == nil {
		w.Events = []string{}
	}
	if !e.Enabled() {
		w.Status = WebhookDisabled
	}
	if len(e.PreviousSecret) > 0 && e.PreviousSecretExpiresAt.After(now) {
		w.PreviousSecretExpiresAt = e.PreviousSecretExpiresAt
	}
	return w
}

func deliveryFromRecord(d *auth.WebhookDelivery) WebhookDelivery {
	return WebhookDelivery{
		ID: d.ID, EventID: d.EventID, EventType: d.EventType, EventTime: d.EventTime,
		State: d.State, Attempts: d.Attempts, StatusCode: d.StatusCode,
		LatencyMS:     float64(d.Latency.Microseconds()) / 1000,
		LastAttemptAt: d.LastAttemptAt, NextAttemptAt: d.NextAttemptAt,
		Error: d.LastError, CreatedAt: d.CreatedAt,
	}
}
