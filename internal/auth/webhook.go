package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Webhook event types: what an endpoint subscribes to and what the "type" of
// a delivered body says. Each comes from one or more audit event types; see
// WebhookEvent.
const (
	WebhookKeyCreated          = "key.created"
	WebhookKeyUpdated          = "key.updated"
	WebhookKeyRotated          = "key.rotated"
	WebhookKeyRevoked          = "key.revoked"
	WebhookKeyExpired          = "key.expired"
	WebhookKeyLeaked           = "key.leaked"
	WebhookKeyUsageExceeded    = "key.usage_exceeded"
	WebhookClientCreated       = "client.created"
	WebhookClientUpdated       = "client.updated"
	WebhookClientDeleted       = "client.deleted"
	WebhookClientSecretRotated = "client.secret_rotated"
	WebhookUserCreated         = "user.created"
	WebhookUserDisabled        = "user.disabled"
	WebhookSigningKeyRotated   = "signing_key.rotated"
	WebhookRouteChanged        = "route.changed"
	WebhookRefreshTokenReuse   = "refresh_token.reuse_detected"
	// Second factors: one to one with their audit events.
	WebhookTOTPEnrolled           = EventTOTPEnrolled
	WebhookTOTPRemoved            = EventTOTPRemoved
	WebhookRecoveryCodesGenerated = EventRecoveryCodesGenerated
	WebhookRecoveryCodeUsed       = EventRecoveryCodeUsed
	WebhookOTPFailed              = EventOTPFailed
	WebhookPasskeyRegistered      = EventPasskeyRegistered
	WebhookPasskeyRemoved         = EventPasskeyRemoved
	WebhookPasskeyFailed          = EventPasskeyFailed
)

// Webhook event types of passwords: set by an administrator or through a
// reset link, and a reset link made.
const (
	WebhookUserPasswordReset            = "user.password_reset"
	WebhookUserPasswordResetLinkCreated = "user.password_reset_link_created"
)

// Webhook event types of users' links to upstream identity providers.
const (
	WebhookUserProviderLinked   = "user.provider_linked"
	WebhookUserProviderUnlinked = "user.provider_unlinked"
)

// WebhookUserFactorsReset is an administrator's removal of a user's second
// factors.
const WebhookUserFactorsReset = EventUserFactorsReset

// Audit event types of the webhook endpoints' own life. None of them is a
// webhook event: an endpoint's changes are the operator's business, and a
// disabled endpoint could not be told anyway.
const (
	EventWebhookCreated         = "webhook.created"
	EventWebhookUpdated         = "webhook.updated"
	EventWebhookDeleted         = "webhook.deleted"
	EventWebhookSecretRotated   = "webhook.secret_rotated"
	EventWebhookDisabled        = "webhook.disabled" // by the dispatcher, after failing for WebhookDisableAfter
	EventWebhookDeliveryRetried = "webhook.delivery_retried"
)

// webhookEventTypes lists the webhook event types, in the order the docs
// list them.
var webhookEventTypes = []string{
	WebhookKeyCreated, WebhookKeyUpdated, WebhookKeyRotated, WebhookKeyRevoked,
	WebhookKeyExpired, WebhookKeyLeaked, WebhookKeyUsageExceeded,
	WebhookClientCreated, WebhookClientUpdated, WebhookClientDeleted, WebhookClientSecretRotated,
	WebhookUserCreated, WebhookUserDisabled, WebhookSigningKeyRotated, WebhookRouteChanged,
	WebhookUserPasswordReset, WebhookUserPasswordResetLinkCreated,
	WebhookRefreshTokenReuse,
	WebhookTOTPEnrolled, WebhookTOTPRemoved, WebhookRecoveryCodesGenerated, WebhookRecoveryCodeUsed, WebhookOTPFailed,
	WebhookPasskeyRegistered, WebhookPasskeyRemoved, WebhookPasskeyFailed,
	WebhookUserProviderLinked, WebhookUserProviderUnlinked,
	WebhookUserFactorsReset,
}

// WebhookEventTypes returns every webhook event type an endpoint may
// subscribe to.
func WebhookEventTypes() []string { return slices.Clone(webhookEventTypes) }

// ValidWebhookEventType reports whether typ is a webhook event type.
func ValidWebhookEventType(typ string) bool { return slices.Contains(webhookEventTypes, typ) }

// Token family revocation reasons that mean a spent credential came back:
// someone holds a copy of it. See internal/oauth (token_refresh.go,
// token_code.go).
const (
	ReasonRefreshTokenReused = "refresh_token_reused"
	ReasonAuthCodeReused     = "authorization_code_reused"
)

// WebhookEvent maps an audit event to the webhook event it stands for, if
// any: its type and its data. It is the one mapping both backends apply
// when they write the outbox, in the transaction of the change.
//
// The data holds the IDs and the details the audit log already holds (which
// never include a secret), plus the actor. It runs on every store write, so
// it costs nothing for the audit events it does not map.
func WebhookEvent(ev AuditEvent) (typ string, data map[string]any, ok bool) {
	switch ev.Type {
	case EventKeyCreated, EventKeyUpdated, EventKeyRotated, EventKeyRevoked,
		EventKeyExpired, EventKeyLeaked, EventKeyUsageExceeded:
		typ = ev.Type
		data = webhookData(ev, 2)
		if ev.KeyID != "" {
			data["key_id"] = ev.KeyID
		}
	case EventClientCreated, EventClientUpdated, EventClientDeleted, EventClientSecretRotated:
		typ = ev.Type
		data = webhookData(ev, 2)
		if ev.KeyID != "" {
			data["client_id"] = ev.KeyID
		}
	case EventUserCreated, EventUserDisabled:
		typ = ev.Type
		data = webhookData(ev, 1)
	case EventTOTPEnrolled, EventTOTPRemoved, EventRecoveryCodesGenerated, EventRecoveryCodeUsed, EventOTPFailed:
		typ = ev.Type
		data = webhookData(ev, 0)
	case EventUserFactorsReset:
		typ = ev.Type
		data = webhookData(ev, 0)
	case EventUserPasswordReset, EventUserPasswordResetLinkCreated, EventUserProviderLinked, EventUserProviderUnlinked:
		typ = ev.Type
		data = webhookData(ev, 1)
	case EventSigningKeyCreated:
		typ = WebhookSigningKeyRotated
		data = webhookData(ev, 1)
	case EventRouteCreated, EventRouteUpdated, EventRouteDeleted:
		typ = WebhookRouteChanged
		data = webhookData(ev, 2)
		data["change"] = strings.TrimPrefix(ev.Type, "route.")
	case EventFamilyRevoked:
		// An explicit revocation by the client is not a security event;
		// a reused refresh token or authorization code is.
		if ev.Reason != ReasonRefreshTokenReused && ev.Reason != ReasonAuthCodeReused {
			return "", nil, false
		}
		typ = WebhookRefreshTokenReuse
		data = webhookData(ev, 2)
		data["reason"] = ev.Reason
		if ev.KeyID != "" {
			data["client_id"] = ev.KeyID
		}
	case EventPasskeyRegistered, EventPasskeyRemoved, EventPasskeyFailed:
		typ = ev.Type
		data = webhookData(ev, 1)
		if ev.Reason != "" {
			data["reason"] = ev.Reason
		}
	default:
		return "", nil, false
	}
	return typ, data, true
}

// WebhookOutbox returns the outbox events of the audit events that map to
// webhook events (see WebhookEvent), each with a new ID. Both backends call
// it where they append audit events, and insert its result in the same
// transaction. Audit events that map to nothing cost a type switch.
func WebhookOutbox(events []AuditEvent) ([]WebhookOutboxEvent, error) {
	var out []WebhookOutboxEvent
	for _, ev := range events {
		typ, data, ok := WebhookEvent(ev)
		if !ok {
			continue
		}
		at := ev.Time
		if at.IsZero() {
			at = SystemNow()
		}
		id, err := NewID("msg_", at)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(data)
		if err != nil {
			return nil, fmt.Errorf("auth: encode webhook data: %w", err)
		}
		out = append(out, WebhookOutboxEvent{ID: id, Type: typ, Time: at, Data: b})
	}
	return out, nil
}

// webhookData starts an event's data with its details and actor, with room
// for extra members.
func webhookData(ev AuditEvent, extra int) map[string]any {
	data := make(map[string]any, len(ev.Details)+1+extra)
	for k, v := range ev.Details {
		data[k] = v
	}
	if ev.Actor != "" {
		data["actor"] = ev.Actor
	}
	return data
}

// WebhookOutboxEvent is one webhook event written to the outbox in the
// transaction of the change it describes, waiting for the dispatcher to
// turn it into deliveries.
type WebhookOutboxEvent struct {
	ID   string // "msg_...": the webhook-id of every delivery of it
	Type string
	Time time.Time
	Data []byte // the JSON object of the body's "data"
}

// Webhook delivery states.
const (
	DeliveryPending   = "pending"   // waiting for its next attempt
	DeliverySucceeded = "succeeded" // a 2xx answer
	DeliveryFailed    = "failed"    // given up: WebhookRetryPeriod passed, or the endpoint is disabled or gone
)

// Webhook delivery timing: retries go on for WebhookRetryPeriod after the
// first attempt, and an endpoint that has failed every attempt for
// WebhookDisableAfter is disabled.
const (
	WebhookRetryPeriod   = 72 * time.Hour
	WebhookDisableAfter  = 72 * time.Hour
	WebhookSecretOverlap = 24 * time.Hour // the previous secret keeps signing after a rotation
	// WebhookDeliveryRetention is how long finished deliveries stay
	// listed before the dispatcher deletes them.
	WebhookDeliveryRetention = 30 * 24 * time.Hour
)

// Limits on an endpoint's fields.
const (
	MaxWebhookURLLength         = 2048
	MaxWebhookDescriptionLength = 512
	MaxWebhookEndpoints         = 100
)

// WebhookEndpoint is a URL that receives the webhook events it subscribes
// to. Its secrets are sealed (encrypted with a key derived from the server
// secret): the dispatcher needs them in the clear to sign, so they cannot
// be hashed.
type WebhookEndpoint struct {
	ID          string
	URL         string
	Events      []string // webhook event types, sorted, no duplicates
	Description string

	Secret []byte // sealed signing secret
	// PreviousSecret, sealed, signs alongside Secret until
	// PreviousSecretExpiresAt, so receivers can switch without a gap.
	PreviousSecret          []byte
	PreviousSecretExpiresAt time.Time

	// DisabledAt is set when the endpoint gets no deliveries: by an
	// operator, or by the dispatcher after it failed for
	// WebhookDisableAfter. DisabledReason says which.
	DisabledAt     time.Time
	DisabledReason string
	// FailingSince is the time of the first failed attempt since the last
	// success; zero while the endpoint answers.
	FailingSince time.Time

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Enabled reports whether the endpoint receives deliveries.
func (e *WebhookEndpoint) Enabled() bool { return e.DisabledAt.IsZero() }

// Subscribes reports whether the endpoint wants events of type typ.
func (e *WebhookEndpoint) Subscribes(typ string) bool {
	_, found := slices.BinarySearch(e.Events, typ)
	return found
}

// CheckStorable returns EINVALID if e cannot be stored exactly as it is.
func (e *WebhookEndpoint) CheckStorable() error {
	switch {
	case e == nil:
		return Errorf(EINVALID, "Webhook endpoint is missing.")
	case e.ID == "":
		return Errorf(EINVALID, "Webhook endpoint ID is required.")
	case len(e.Secret) == 0:
		return Errorf(EINVALID, "Webhook endpoint secret is required.")
	case !storable(e.ID, e.URL, e.Description, e.DisabledReason) || !storable(e.Events...):
		return Errorf(EINVALID, "Webhook endpoint text must be valid UTF-8 without NUL characters.")
	}
	return nil
}

// Clone returns a copy of e that shares no memory with it.
func (e *WebhookEndpoint) Clone() *WebhookEndpoint {
	c := *e
	c.Events = slices.Clone(e.Events)
	c.Secret = slices.Clone(e.Secret)
	c.PreviousSecret = slices.Clone(e.PreviousSecret)
	return &c
}

// CheckWebhookURL returns EINVALID unless raw is an absolute http or https
// URL with a host, no user information and no fragment, at most
// MaxWebhookURLLength long. Unless allowPrivate, a host that is a literal
// IP address must be public (see PublicAddr); host names are checked when
// the dispatcher connects, since what they resolve to can change.
func CheckWebhookURL(raw string, allowPrivate bool) error {
	if len(raw) > MaxWebhookURLLength {
		return Errorf(EINVALID, "The webhook URL is longer than %d bytes.", MaxWebhookURLLength)
	}
	if !storable(raw) {
		return Errorf(EINVALID, "The webhook URL must be valid UTF-8 without NUL characters.")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return Errorf(EINVALID, "The webhook URL must be an absolute http or https URL.")
	}
	if u.User != nil {
		return Errorf(EINVALID, "The webhook URL must not hold user information (user:password@).")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return Errorf(EINVALID, "The webhook URL must not have a fragment.")
	}
	host := u.Hostname()
	if host == "" {
		return Errorf(EINVALID, "The webhook URL must name a host.")
	}
	if allowPrivate {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && !PublicAddr(a) {
		return Errorf(EINVALID, "The webhook URL points at a loopback, private, link-local or otherwise internal address; only public destinations are allowed (webhooks.allow_private allows others).")
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return Errorf(EINVALID, "The webhook URL points at localhost; only public destinations are allowed (webhooks.allow_private allows others).")
	}
	return nil
}

// internalPrefixes are the address ranges a webhook must not reach unless
// private destinations are allowed: a webhook URL is chosen by whoever holds
// an admin key, and must not turn the server into a way into its own
// network or its cloud's metadata service.
var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),        // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),       // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),    // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("127.0.0.0/8"),      // loopback
	netip.MustParsePrefix("169.254.0.0/16"),   // link-local, cloud metadata (169.254.169.254)
	netip.MustParsePrefix("172.16.0.0/12"),    // RFC 1918
	netip.MustParsePrefix("192.0.0.0/24"),     // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),     // documentation (TEST-NET-1)
	netip.MustParsePrefix("192.168.0.0/16"),   // RFC 1918
	netip.MustParsePrefix("198.18.0.0/15"),    // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),  // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),   // documentation (TEST-NET-3)
	netip.MustParsePrefix("168.63.129.16/32"), // Azure platform (wire server, DNS, health probes)
	netip.MustParsePrefix("224.0.0.0/4"),      // multicast
	netip.MustParsePrefix("240.0.0.0/4"),      // reserved, and 255.255.255.255 broadcast
	// IPv6 forms that embed an IPv4 address, which may be an internal one,
	// are refused whole: a public service has no reason to be reached so.
	// (IPv4-mapped ::ffff:0:0/96 is unmapped by PublicAddr first.)
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated); also :: and ::1
	netip.MustParsePrefix("::ffff:0:0:0/96"), // SIIT, IPv4-translated
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/32"),       // Teredo
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4
	netip.MustParsePrefix("fc00::/7"),        // unique local (ULA), AWS metadata fd00:ec2::254
	netip.MustParsePrefix("fe80::/10"),       // link-local
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("ff00::/8"),        // multicast
}

// PublicAddr reports whether a is an address a webhook may be delivered to
// without webhooks.allow_private: not loopback, private, link-local,
// unspecified, CGNAT, multicast or reserved, in IPv4, IPv6 or IPv4-mapped
// IPv6 form.
func PublicAddr(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range internalPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// NormalizeWebhookEvents checks that events is a non-empty list of webhook
// event types and returns it sorted without duplicates. EINVALID names the
// first unknown type.
func NormalizeWebhookEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, Errorf(EINVALID, "At least one event type is required; known types: %s.", strings.Join(webhookEventTypes, ", "))
	}
	if len(events) > 4*len(webhookEventTypes) {
		return nil, Errorf(EINVALID, "Too many event types.")
	}
	out := make([]string, 0, len(events))
	for _, ev := range events {
		if !ValidWebhookEventType(ev) {
			if len(ev) > 64 || !storable(ev) {
				return nil, Errorf(EINVALID, "Unknown event type; known types: %s.", strings.Join(webhookEventTypes, ", "))
			}
			return nil, Errorf(EINVALID, "Unknown event type %q; known types: %s.", ev, strings.Join(webhookEventTypes, ", "))
		}
		out = append(out, ev)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// CheckWebhookDescription returns EINVALID for a description that is too
// long or holds text no backend can store.
func CheckWebhookDescription(d string) error {
	if len(d) > MaxWebhookDescriptionLength {
		return Errorf(EINVALID, "The description is longer than %d bytes.", MaxWebhookDescriptionLength)
	}
	if !storable(d) {
		return Errorf(EINVALID, "The description must be valid UTF-8 without NUL characters.")
	}
	return nil
}

// WebhookDelivery is one event on its way to one endpoint, with the
// outcome of its last attempt.
type WebhookDelivery struct {
	ID         string // "dlv_..."
	EndpointID string
	EventID    string // the webhook-id header: the same for every endpoint and attempt
	EventType  string
	EventTime  time.Time
	Payload    []byte // the body, {"type","timestamp","data"}, fixed when dispatched

	State         string // DeliveryPending, DeliverySucceeded or DeliveryFailed
	Attempts      int
	NextAttemptAt time.Time // when State is DeliveryPending
	LastAttemptAt time.Time
	StatusCode    int           // of the last attempt; 0 if no answer
	Latency       time.Duration // of the last attempt
	LastError     string        // a short excerpt: the error, or the start of a non-2xx answer's body

	CreatedAt time.Time
}

// CheckStorable returns EINVALID if d cannot be stored exactly as it is.
func (d *WebhookDelivery) CheckStorable() error {
	switch {
	case d == nil:
		return Errorf(EINVALID, "Webhook delivery is missing.")
	case d.ID == "" || d.EndpointID == "" || d.EventID == "":
		return Errorf(EINVALID, "Webhook delivery IDs are required.")
	case !storable(d.ID, d.EndpointID, d.EventID, d.EventType, d.State, d.LastError):
		return Errorf(EINVALID, "Webhook delivery text must be valid UTF-8 without NUL characters.")
	}
	return nil
}

// Clone returns a copy of d that shares no memory with it.
func (d *WebhookDelivery) Clone() *WebhookDelivery {
	c := *d
	c.Payload = slices.Clone(d.Payload)
	return &c
}

// WebhookDeliveryFilter selects deliveries of one endpoint, newest first.
type WebhookDeliveryFilter struct {
	EndpointID string
	Before     string // cursor: deliveries with an ID less than this; "" for the newest
	Limit      int    // capped at MaxPageSize
}

// WebhookStore keeps webhook endpoints, the outbox and deliveries, and the
// lease that lets one node at a time deliver. The outbox itself is written
// by every method that appends audit events (see WebhookEvent), in the
// same transaction.
type WebhookStore interface {
	// CreateWebhookEndpoint inserts e and appends the events. ECONFLICT if
	// the ID exists.
	CreateWebhookEndpoint(ctx context.Context, e *WebhookEndpoint, events ...AuditEvent) error
	// GetWebhookEndpoint returns the endpoint, or ENOTFOUND.
	GetWebhookEndpoint(ctx context.Context, id string) (*WebhookEndpoint, error)
	// ListWebhookEndpoints returns every endpoint, by ID.
	ListWebhookEndpoints(ctx context.Context) ([]*WebhookEndpoint, error)
	// UpdateWebhookEndpoint, in one transaction, reads the endpoint with
	// that ID (no other write to it can interleave, so a change made
	// meanwhile — a disabling, a rotation — is never undone), calls update
	// with that record, writes back every field but ID and CreatedAt,
	// appends the events update returns, and returns the endpoint as
	// stored. update returns an error (returned as is, nothing written) to
	// refuse. ENOTFOUND if the endpoint does not exist.
	UpdateWebhookEndpoint(ctx context.Context, id string, update func(e *WebhookEndpoint) ([]AuditEvent, error)) (*WebhookEndpoint, error)
	// DeleteWebhookEndpoint removes the endpoint and its deliveries and
	// appends the events. ENOTFOUND if it does not exist.
	DeleteWebhookEndpoint(ctx context.Context, id string, events ...AuditEvent) error

	// ListWebhookOutbox returns up to limit events not yet dispatched,
	// oldest first.
	ListWebhookOutbox(ctx context.Context, limit int) ([]WebhookOutboxEvent, error)
	// DispatchWebhookEvents, in one transaction, removes the outbox events
	// eventIDs and inserts the deliveries made of them. ECONFLICT (and
	// nothing changed) if any of the events is no longer in the outbox:
	// another node dispatched it.
	DispatchWebhookEvents(ctx context.Context, eventIDs []string, deliveries []*WebhookDelivery) error

	// DueWebhookDeliveries returns up to limit pending deliveries whose
	// NextAttemptAt is not after now, the earliest first, and at most
	// perEndpoint of each endpoint: an endpoint with a backlog does not
	// crowd the others out of a poll. Deliveries of the endpoints in skip
	// are left out before the limit applies: the dispatcher passes the
	// endpoints it is still busy with, whose deliveries it would only
	// skip, so they cannot fill the batch while another endpoint waits.
	DueWebhookDeliveries(ctx context.Context, now time.Time, limit, perEndpoint int, skip []string) ([]*WebhookDelivery, error)
	// DeferWebhookDeliveries makes every pending delivery of the endpoint
	// due before until due at until, and returns how many it moved: after
	// an attempt failed, the endpoint's backlog waits for its retry
	// instead of being attempted (and failing) poll after poll.
	DeferWebhookDeliveries(ctx context.Context, endpointID string, until time.Time) (int, error)
	// GetWebhookDelivery returns the delivery of that endpoint, or
	// ENOTFOUND.
	GetWebhookDelivery(ctx context.Context, endpointID, id string) (*WebhookDelivery, error)
	// ListWebhookDeliveries returns one page of an endpoint's deliveries,
	// newest first, and the cursor of the next page ("" on the last).
	ListWebhookDeliveries(ctx context.Context, f WebhookDeliveryFilter) ([]*WebhookDelivery, string, error)
	// UpdateWebhookDelivery replaces the outcome fields of the stored
	// delivery (State, Attempts, NextAttemptAt, LastAttemptAt, StatusCode,
	// Latency, LastError) with d's and appends the events. ENOTFOUND if it
	// does not exist.
	UpdateWebhookDelivery(ctx context.Context, d *WebhookDelivery, events ...AuditEvent) error
	// RecordWebhookAttempt writes the outcome fields of d as
	// UpdateWebhookDelivery does, but only if the stored delivery is still
	// pending with attempts attempts (as the dispatcher read it before the
	// attempt), and reports whether it did. false, nothing written, when
	// another attempt was recorded meanwhile (by this node from an older
	// copy, or by the node that held the lease before), an operator's
	// retry or a disabling changed it, or it is gone: a stale outcome must
	// never overwrite a newer one, least of all a success.
	RecordWebhookAttempt(ctx context.Context, d *WebhookDelivery, attempts int) (bool, error)
	// DeleteFinishedWebhookDeliveries deletes up to limit deliveries that
	// are not pending and were created before before, and returns how
	// many it deleted.
	DeleteFinishedWebhookDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
	// SetWebhookEndpointHealth sets FailingSince, DisabledAt and
	// DisabledReason of an enabled endpoint (and nothing else) and appends
	// the events. ENOTFOUND if it does not exist; ECONFLICT, changing
	// nothing, if it is disabled: the dispatcher never undoes an
	// operator's concurrent disabling.
	SetWebhookEndpointHealth(ctx context.Context, id string, failingSince, disabledAt time.Time, disabledReason string, events ...AuditEvent) error

	// AcquireWebhookLease makes holder the holder of the named lease until
	// now+ttl, if it holds it already or the lease has expired, and
	// reports whether it does.
	AcquireWebhookLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseWebhookLease gives up the lease if holder holds it.
	ReleaseWebhookLease(ctx context.Context, name, holder string) error
}
