package admin

import (
	"maps"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/problem"
)

// This file is the wire format of the admin API and the verify endpoint: the
// server encodes these structs and the Client decodes them, so the JSON is
// defined once, here (and described for other languages in openapi.json).
//
// Conventions:
//   - Times are RFC 3339 strings in UTC; optional times are left out when unset.
//   - Durations are Go duration strings ("720h", "90m", "0s").
//   - Optional members are left out rather than sent as null; lists and maps
//     in responses are always present ([] and {} when empty).

// Key is an API key record as the API shows it. It never carries the hash,
// and carries the plaintext only inside CreatedKey.
type Key struct {
	ID     string `json:"id"`
	Prefix string `json:"prefix"`
	Hint   string `json:"hint"` // last 4 characters of the key
	// Environment is "live" or "test", as the prefix says (sk_test_...).
	Environment string `json:"environment"`

	Owner    string            `json:"owner"`
	Name     string            `json:"name"`
	Scopes   []string          `json:"scopes"`
	Metadata map[string]string `json:"metadata"`

	RateLimit      *RateLimit `json:"rate_limit,omitempty"`      // absent: unlimited
	RotationPeriod string     `json:"rotation_period,omitempty"` // absent: no rotation policy
	Credits        *Credits   `json:"credits,omitempty"`         // absent: no usage quota
	// AllowedIPs are the networks callers must come from; [] for any.
	AllowedIPs []string `json:"allowed_ips"`

	// Status is one of "active", "rotating", "expired", "revoked", computed
	// by the server at the time of the response.
	Status        string    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	LastUsedAt    time.Time `json:"last_used_at,omitzero"`
	RotationDueAt time.Time `json:"rotation_due_at,omitzero"`
	RotationDue   bool      `json:"rotation_due"`
	RotatedFrom   string    `json:"rotated_from,omitempty"`
	RotatedTo     string    `json:"rotated_to,omitempty"`
}

// RateLimit is a token bucket: Burst requests at once, refilled at Rate per
// second.
type RateLimit struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// Credits is a key's usage quota: each successful verification spends
// one (or the cost the verify request names); at 0 the key is refused with
// USAGE_EXCEEDED until the next refill. Remaining is the store's figure:
// with Redis counting, it may be a few seconds behind.
type Credits struct {
	Remaining int64         `json:"remaining"`
	Refill    *CreditRefill `json:"refill,omitempty"` // absent: never refilled
}

// CreditRefill sets the credits back to Amount at the start (UTC) of each
// day or month.
type CreditRefill struct {
	Amount   int64  `json:"amount"`
	Interval string `json:"interval"` // "day" or "month"
}

// CreditsRequest is the "credits" member of a CreateKeyRequest.
type CreditsRequest struct {
	Remaining *int64        `json:"remaining,omitempty"` // required
	Refill    *CreditRefill `json:"refill,omitempty"`    // absent: never refilled
}

// CreatedKey is a new key record together with its plaintext, which the
// server returns exactly once and cannot show again.
type CreatedKey struct {
	Key
	Secret string `json:"key"`
}

// CreateKeyRequest is the body of POST /admin/v1/keys. Owner is required.
// The transport checks the formats of the duration and time strings; the
// key service enforces every other rule (lengths, characters, limits).
type CreateKeyRequest struct {
	Owner    string            `json:"owner"`
	Name     string            `json:"name,omitempty"`
	Scopes   []string          `json:"scopes,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Environment is "live" or "test"; absent: the server's default (test
	// with --dev). The key's prefix follows from it.
	Environment string `json:"environment,omitempty"`

	// At most one of ExpiresIn (a Go duration from now, e.g. "720h") and
	// ExpiresAt (RFC 3339). Neither: the key never expires.
	ExpiresIn string `json:"expires_in,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`

	RateLimit      *RateLimit `json:"rate_limit,omitempty"`      // absent: unlimited
	RotationPeriod string     `json:"rotation_period,omitempty"` // Go duration; absent: none
	// Credits is the usage quota; absent: none. Remaining is required.
	Credits *CreditsRequest `json:"credits,omitempty"`
	// AllowedIPs restricts callers to these networks (CIDR notation, or
	// single addresses); absent or empty: any address.
	AllowedIPs []string `json:"allowed_ips,omitempty"`
}

// KeyPatch is the body of PATCH /admin/v1/keys/{id}, which changes a key
// without rotating it. As for the routes' PATCH, a member present replaces
// the setting and an absent one leaves it; in the manner of JSON merge
// patch (RFC 7396), "credits" is merged member by member into the key's
// credits, and null removes a setting: "credits": null the quota,
// "credits": {"refill": null} the refill, "expires_at": null the expiry,
// "allowed_ips": null the network restriction (as [] does), "metadata":
// null all metadata, "rate_limit": null the limit (as {"rate": 0} does).
// "name" and "scopes" cannot be removed: null is refused with 400. Setting
// "credits.remaining" starts the count over on every node. Every change is
// audited (key.updated, Details "changed").
type KeyPatch struct {
	Name       Nullable[string]            `json:"name,omitzero"`
	Scopes     Nullable[[]string]          `json:"scopes,omitzero"`
	Metadata   Nullable[map[string]string] `json:"metadata,omitzero"`
	RateLimit  Nullable[RateLimit]         `json:"rate_limit,omitzero"`
	ExpiresAt  Nullable[string]            `json:"expires_at,omitzero"` // RFC 3339
	Credits    Nullable[CreditsPatch]      `json:"credits,omitzero"`
	AllowedIPs Nullable[[]string]          `json:"allowed_ips,omitzero"`
}

// CreditsPatch is the "credits" member of a KeyPatch. A key without
// credits needs "remaining", or a refill whose amount it starts with.
type CreditsPatch struct {
	Remaining *int64                 `json:"remaining,omitempty"`
	Refill    Nullable[CreditRefill] `json:"refill,omitzero"`
}

// RotateKeyRequest is the optional body of POST /admin/v1/keys/{id}/rotate.
type RotateKeyRequest struct {
	// Grace is how long the old key keeps working, as a Go duration:
	// "" means DefaultGrace, "0s" ends the old key at once.
	Grace string `json:"grace,omitempty"`
}

// DefaultGrace is the overlap of a rotation whose request names none: long
// enough to roll the new key out to every client of a service.
const DefaultGrace = 24 * time.Hour

// RotatedKey is the response of a rotation: the new key with its plaintext
// (shown once) and the old key as updated (RotatedTo set, expiring at the
// end of the grace period). OldKey is absent only if the old record could
// not be read back after the rotation; the server logs that, and still
// answers, because the new plaintext cannot be shown again.
type RotatedKey struct {
	NewKey CreatedKey `json:"new_key"`
	OldKey *Key       `json:"old_key,omitempty"`
}

// KeyList is one page of GET /admin/v1/keys. NextCursor is "" on the last
// page; otherwise pass it as the cursor parameter to get the next one.
type KeyList struct {
	Items      []Key  `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// ListKeysParams are the query parameters of GET /admin/v1/keys.
type ListKeysParams struct {
	Owner       string // exact match
	Limit       int    // 1..500; 0 means the server default (100)
	Cursor      string // next_cursor of the previous page
	RotationDue bool   // only keys whose rotation policy says they are due now
}

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	ID      int64             `json:"id"`
	Time    time.Time         `json:"time"`
	Type    string            `json:"type"`
	Actor   string            `json:"actor"` // admin key ID, or "system"
	KeyID   string            `json:"key_id,omitempty"`
	Reason  string            `json:"reason,omitempty"` // for failures: the verification code
	Count   int64             `json:"count"`
	Details map[string]string `json:"details"`
}

// AuditEventList is one page of GET /admin/v1/audit-events. NextCursor is ""
// on the last page.
type AuditEventList struct {
	Items      []AuditEvent `json:"items"`
	NextCursor string       `json:"next_cursor"`
}

// AuditEventsParams are the query parameters of GET /admin/v1/audit-events.
type AuditEventsParams struct {
	KeyID  string
	Type   string
	Actor  string // who acted: an admin key's ID, a user's ID, or "system"
	Target string // what the event is about (auth.AuditEvent.Target)
	// Since and Until bound the events' times (Since <= time < Until); zero
	// is open.
	Since, Until time.Time
	Limit        int    // 1..500; 0 means the server default (100)
	Cursor       string // next_cursor of the previous page
}

// VerifyRequest is the body of POST /v1/keys/verify.
type VerifyRequest struct {
	Key    string   `json:"key"`
	Scopes []string `json:"scopes,omitempty"` // every one must be held
	// Cost is the credits a successful verification spends from a key
	// with credits: 1 to apikey.MaxCost; absent: 1.
	Cost *int `json:"cost,omitempty"`
	// IP is the address of the calling service's own caller, checked
	// against the key's allowed networks; absent: unknown, which a key
	// restricted to networks refuses (IP_NOT_ALLOWED).
	IP string `json:"ip,omitempty"`
}

// VerifyResponse is the answer of POST /v1/keys/verify. The key members are
// left out when the key is malformed or unknown; RateLimit is left out when
// the key has no limit.
type VerifyResponse struct {
	Valid       bool              `json:"valid"`
	Code        string            `json:"code"` // VALID, INVALID, EXPIRED, REVOKED, INSUFFICIENT_SCOPE, IP_NOT_ALLOWED, RATE_LIMITED, USAGE_EXCEEDED
	KeyID       string            `json:"key_id,omitempty"`
	Environment string            `json:"environment,omitempty"` // live or test
	Owner       string            `json:"owner,omitempty"`
	Scopes      []string          `json:"scopes,omitzero"` // [] when the key has none
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	RateLimit   *RateLimitSummary `json:"ratelimit,omitempty"`
	// Credits is left out for keys without credits, and before they are
	// reached (a refusal for another reason).
	Credits *CreditsSummary `json:"credits,omitempty"`
}

// CreditsSummary is a key's credits after a verification.
type CreditsSummary struct {
	Remaining int64 `json:"remaining"`
}

// RateLimitSummary is the state of a key's bucket after a verification, the
// same figures as the RateLimit-* headers.
type RateLimitSummary struct {
	Limit     int `json:"limit"`     // bucket size
	Remaining int `json:"remaining"` // requests left now
	// Reset is the number of seconds (rounded up) until the bucket is full
	// again, like the RateLimit-Reset header: a delay, not a Unix time, so
	// callers need no synchronised clock.
	Reset int64 `json:"reset"`
}

// Problem is an RFC 9457 problem details object, the body of every error
// response (Content-Type application/problem+json): the one type every
// Gatehouse surface writes.
type Problem = problem.Details

// keyFromRecord turns a stored record into its wire form at time now,
// leaving the hash behind.
func keyFromRecord(k *auth.APIKey, now time.Time) Key {
	out := Key{
		ID:            k.ID,
		Prefix:        k.Prefix,
		Hint:          k.Hint,
		Environment:   k.Environment(),
		Owner:         k.Owner,
		Name:          k.Name,
		Scopes:        slices.Clone(k.Scopes),
		Metadata:      maps.Clone(k.Metadata),
		Status:        k.Status(now),
		CreatedAt:     k.CreatedAt.UTC(),
		ExpiresAt:     utcOrZero(k.ExpiresAt),
		RevokedAt:     utcOrZero(k.RevokedAt),
		LastUsedAt:    utcOrZero(k.LastUsedAt),
		RotationDueAt: utcOrZero(k.RotationDueAt),
		RotationDue:   k.RotationDue(now),
		RotatedFrom:   k.RotatedFrom,
		RotatedTo:     k.RotatedTo,
	}
	// Always [] and {}, never null, so clients in any language can iterate
	// without a check.
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if !k.RateLimit.Unlimited() {
		out.RateLimit = &RateLimit{Rate: k.RateLimit.Rate, Burst: k.RateLimit.Burst}
	}
	if k.RotationPeriod > 0 {
		out.RotationPeriod = k.RotationPeriod.String()
	}
	if c := k.Credits; c != nil {
		out.Credits = &Credits{Remaining: c.Remaining}
		if c.Refill.Amount > 0 {
			out.Credits.Refill = &CreditRefill{Amount: c.Refill.Amount, Interval: c.Refill.Interval}
		}
	}
	out.AllowedIPs = auth.FormatAllowedIPs(k.AllowedIPs)
	return out
}

// AuditEventFromRecord is an audit event in its wire form: the one shape
// of an event wherever one leaves the server (this API, the dashboard's
// export).
func AuditEventFromRecord(e auth.AuditEvent) AuditEvent {
	out := AuditEvent{
		ID:      e.ID,
		Time:    e.Time.UTC(),
		Type:    e.Type,
		Actor:   e.Actor,
		KeyID:   e.KeyID,
		Reason:  e.Reason,
		Count:   e.Count,
		Details: maps.Clone(e.Details),
	}
	if out.Details == nil {
		out.Details = map[string]string{}
	}
	return out
}

// verifyResponse turns a verification result into its wire form.
func verifyResponse(res apikey.Result) VerifyResponse {
	out := VerifyResponse{Valid: res.Valid(), Code: string(res.Code)}
	if k := res.Key; k != nil {
		out.KeyID = k.ID
		out.Environment = k.Environment()
		out.Owner = k.Owner
		out.Scopes = slices.Clone(k.Scopes)
		if out.Scopes == nil {
			out.Scopes = []string{}
		}
		out.ExpiresAt = utcOrZero(k.ExpiresAt)
	}
	if rl := res.RateLimit; rl.Limit > 0 {
		out.RateLimit = &RateLimitSummary{
			Limit:     rl.Limit,
			Remaining: rl.Remaining,
			Reset:     ratelimit.CeilSeconds(rl.Reset),
		}
	}
	if res.Credits.Metered {
		out.Credits = &CreditsSummary{Remaining: res.Credits.Remaining}
	}
	return out
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
