package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// ServiceConfig configures a Service. Store and Sealer are required.
type ServiceConfig struct {
	Store  auth.WebhookStore
	Sealer Sealer
	// AllowPrivate lets endpoints point at internal addresses
	// (webhooks.allow_private).
	AllowPrivate bool
	Now          auth.Now // default auth.SystemNow
}

// Service manages webhook endpoints for the admin API: it checks input
// (the rules are in internal/auth), generates and seals secrets, and
// records an audit event with every change. It is safe for concurrent use.
type Service struct {
	store        auth.WebhookStore
	sealer       Sealer
	allowPrivate bool
	now          auth.Now
}

// NewService checks cfg and returns a Service.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("webhook: ServiceConfig.Store and Sealer are required")
	}
	s := &Service{store: cfg.Store, sealer: cfg.Sealer, allowPrivate: cfg.AllowPrivate, now: cfg.Now}
	if s.now == nil {
		s.now = auth.SystemNow
	}
	return s, nil
}

// CreateParams are the fields of a new endpoint.
type CreateParams struct {
	URL         string
	Events      []string
	Description string
}

// Create checks p, stores a new endpoint with a fresh secret and returns
// it with the secret in the clear (the one time it is shown; see
// FormatSecret). EINVALID names the field that breaks a rule; ECONFLICT
// when MaxWebhookEndpoints exist already.
func (s *Service) Create(ctx context.Context, p CreateParams, actor string) (*auth.WebhookEndpoint, string, error) {
	events, err := s.check(p.URL, p.Events, p.Description)
	if err != nil {
		return nil, "", err
	}
	existing, err := s.store.ListWebhookEndpoints(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("webhook: create: %w", err)
	}
	if len(existing) >= auth.MaxWebhookEndpoints {
		return nil, "", auth.Errorf(auth.ECONFLICT, "There are %d webhook endpoints already, the most allowed.", auth.MaxWebhookEndpoints)
	}
	now := s.now()
	id, err := auth.NewID("wh_", now)
	if err != nil {
		return nil, "", err
	}
	key, err := newSecret()
	if err != nil {
		return nil, "", err
	}
	e := &auth.WebhookEndpoint{
		ID: id, URL: p.URL, Events: events, Description: p.Description,
		Secret:    s.sealer.Seal(sealID(id), key),
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.CreateWebhookEndpoint(ctx, e, event(auth.EventWebhookCreated, now, actor, e, nil)); err != nil {
		return nil, "", fmt.Errorf("webhook: create: %w", err)
	}
	return e, FormatSecret(key), nil
}

// check applies the rules of an endpoint's fields and returns the events
// normalized.
func (s *Service) check(rawURL string, events []string, description string) ([]string, error) {
	if err := auth.CheckWebhookURL(rawURL, s.allowPrivate); err != nil {
		return nil, err
	}
	evs, err := auth.NormalizeWebhookEvents(events)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckWebhookDescription(description); err != nil {
		return nil, err
	}
	return evs, nil
}

// Get returns the endpoint, or ENOTFOUND.
func (s *Service) Get(ctx context.Context, id string) (*auth.WebhookEndpoint, error) {
	return s.store.GetWebhookEndpoint(ctx, id)
}

// List returns every endpoint.
func (s *Service) List(ctx context.Context) ([]*auth.WebhookEndpoint, error) {
	return s.store.ListWebhookEndpoints(ctx)
}

// UpdateParams are the fields an update changes; nil leaves one as it is.
type UpdateParams struct {
	URL         *string
	Events      []string // nil: unchanged
	Description *string
	// Enabled true re-enables a disabled endpoint (and forgets its
	// failures); false disables it.
	Enabled *bool
}

// Update applies p to the endpoint and returns it as stored. ENOTFOUND if
// it does not exist; EINVALID as for Create. The change is made to the
// endpoint as it stands in the store's transaction, so a disabling or a
// rotation made meanwhile is kept.
func (s *Service) Update(ctx context.Context, id string, p UpdateParams, actor string) (*auth.WebhookEndpoint, error) {
	e, err := s.store.UpdateWebhookEndpoint(ctx, id, func(e *auth.WebhookEndpoint) ([]auth.AuditEvent, error) {
		var changed []string
		if p.URL != nil {
			e.URL = *p.URL
			changed = append(changed, "url")
		}
		if p.Events != nil {
			e.Events = p.Events
			changed = append(changed, "events")
		}
		if p.Description != nil {
			e.Description = *p.Description
			changed = append(changed, "description")
		}
		var err error
		if e.Events, err = s.check(e.URL, e.Events, e.Description); err != nil {
			return nil, err
		}
		now := s.now()
		if p.Enabled != nil {
			changed = append(changed, "enabled")
			switch {
			case *p.Enabled:
				e.DisabledAt, e.DisabledReason, e.FailingSince = time.Time{}, "", time.Time{}
			case e.Enabled():
				e.DisabledAt, e.DisabledReason = now, "Disabled by an operator."
			}
		}
		e.UpdatedAt = now
		return []auth.AuditEvent{event(auth.EventWebhookUpdated, now, actor, e, map[string]string{"changed": strings.Join(changed, ",")})}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("webhook: update: %w", err)
	}
	return e, nil
}

// Delete removes the endpoint and its deliveries. ENOTFOUND if it does not
// exist.
func (s *Service) Delete(ctx context.Context, id, actor string) error {
	now := s.now()
	ev := auth.AuditEvent{Time: now, Type: auth.EventWebhookDeleted, Actor: actor, KeyID: id, Count: 1}
	if err := s.store.DeleteWebhookEndpoint(ctx, id, ev); err != nil {
		return fmt.Errorf("webhook: delete: %w", err)
	}
	return nil
}

// RotateSecret gives the endpoint a new secret and returns it in the
// clear. The current secret becomes the previous one and keeps signing,
// alongside the new one, for auth.WebhookSecretOverlap, so receivers can
// switch without losing a delivery. ENOTFOUND if it does not exist.
// Concurrent rotations apply one on top of the other: the later one's
// previous secret is the earlier one's new secret, so every secret shown
// signs for a while.
func (s *Service) RotateSecret(ctx context.Context, id, actor string) (*auth.WebhookEndpoint, string, error) {
	key, err := newSecret()
	if err != nil {
		return nil, "", err
	}
	sealed := s.sealer.Seal(sealID(id), key)
	e, err := s.store.UpdateWebhookEndpoint(ctx, id, func(e *auth.WebhookEndpoint) ([]auth.AuditEvent, error) {
		now := s.now()
		e.PreviousSecret, e.PreviousSecretExpiresAt = e.Secret, now.Add(auth.WebhookSecretOverlap)
		e.Secret = sealed
		e.UpdatedAt = now
		return []auth.AuditEvent{event(auth.EventWebhookSecretRotated, now, actor, e,
			map[string]string{"previous_expires_at": e.PreviousSecretExpiresAt.Format(time.RFC3339)})}, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("webhook: rotate secret: %w", err)
	}
	return e, FormatSecret(key), nil
}

// Deliveries returns one page of the endpoint's deliveries, newest first.
// ENOTFOUND if the endpoint does not exist.
func (s *Service) Deliveries(ctx context.Context, f auth.WebhookDeliveryFilter) ([]*auth.WebhookDelivery, string, error) {
	if _, err := s.store.GetWebhookEndpoint(ctx, f.EndpointID); err != nil {
		return nil, "", err
	}
	return s.store.ListWebhookDeliveries(ctx, f)
}

// Retry makes a delivery due now, whatever its state: one more attempt,
// and retries on the usual schedule while its event is younger than
// auth.WebhookRetryPeriod. ENOTFOUND if there is no such delivery.
func (s *Service) Retry(ctx context.Context, endpointID, deliveryID, actor string) (*auth.WebhookDelivery, error) {
	d, err := s.store.GetWebhookDelivery(ctx, endpointID, deliveryID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	d.State, d.NextAttemptAt = auth.DeliveryPending, now
	ev := auth.AuditEvent{Time: now, Type: auth.EventWebhookDeliveryRetried, Actor: actor, KeyID: endpointID, Count: 1,
		Details: map[string]string{"delivery_id": d.ID, "event_id": d.EventID}}
	if err := s.store.UpdateWebhookDelivery(ctx, d, ev); err != nil {
		return nil, fmt.Errorf("webhook: retry: %w", err)
	}
	return d, nil
}

// event is the audit event of a change to e: the host it points at and
// what it wants. Never its secret, nor its whole URL, whose path or query
// may carry a token of the receiver's (as chat services' webhook URLs do).
func event(typ string, now time.Time, actor string, e *auth.WebhookEndpoint, extra map[string]string) auth.AuditEvent {
	host := ""
	if u, err := url.Parse(e.URL); err == nil {
		host = u.Host
	}
	d := map[string]string{"host": host, "events": strings.Join(e.Events, ",")}
	for k, v := range extra {
		d[k] = v
	}
	return auth.AuditEvent{Time: now, Type: typ, Actor: actor, KeyID: e.ID, Count: 1, Details: d}
}
