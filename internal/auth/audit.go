package auth

import (
	"context"
	"math"
	"strings"
	"time"
)

// Audit event types.
const (
	EventKeyCreated            = "key.created"
	EventKeyRotated            = "key.rotated"
	EventKeyRevoked            = "key.revoked"
	EventKeyExpired            = "key.expired"
	EventKeyVerificationFailed = "key.verification_failed" // aggregated: Count failures of one Reason
	EventKeyUpdated            = "key.updated"             // attributes changed without rotation (Details: what changed)
	EventKeyLeaked             = "key.leaked"              // reported found in public (Details: url, source)
	EventKeyUsageExceeded      = "key.usage_exceeded"      // its credits ran out for the period

	EventClientCreated       = "client.created"
	EventClientUpdated       = "client.updated"
	EventClientSecretRotated = "client.secret_rotated"
	EventClientDeleted       = "client.deleted"
	EventUserCreated         = "user.created"
	EventUserUpdated         = "user.updated"
	EventUserDisabled        = "user.disabled"
	EventUserPasswordReset   = "user.password_reset"
	// A user's own changes on the account pages (/account).
	EventUserPasswordChanged = "user.password_changed"
	EventUserSessionRevoked  = "user.session_revoked"
	EventSigningKeyCreated   = "signing_key.created"
	EventSigningKeyRetired   = "signing_key.retired"
	EventConsentGranted      = "consent.granted"
	EventConsentRevoked      = "consent.revoked"
	EventTokenRevoked        = "token.revoked"
	EventFamilyRevoked       = "token.family_revoked" // reuse of a code or refresh token, or an explicit revocation
	// Second factors of the mfa service (Details: user_id).
	EventTOTPEnrolled           = "user.totp_enrolled"
	EventTOTPRemoved            = "user.totp_removed"
	EventRecoveryCodesGenerated = "user.recovery_codes_generated" // Details: count
	EventRecoveryCodeUsed       = "user.recovery_code_used"       // Details: remaining
	EventOTPFailed              = "user.otp_failed"               // a wrong one-time code (Details: address, during)

	EventPasskeyRegistered = "user.passkey_registered" // Details: user_id, passkey_id, name, backup_eligible
	EventPasskeyRenamed    = "user.passkey_renamed"    // Details: user_id, passkey_id, name
	EventPasskeyRemoved    = "user.passkey_removed"    // Details: user_id, passkey_id, name
	EventPasskeyFailed     = "user.passkey_failed"     // a ceremony of a known user failed (Reason; Details: user_id, passkey_id if known)
)

// Audit event types of upstream identity providers (KeyID: the provider's
// name) and of the links of users to them (Details: user_id, provider).
const (
	EventProviderCreated          = "provider.created"
	EventProviderUpdated          = "provider.updated"
	EventProviderDeleted          = "provider.deleted"
	EventUserProviderLinked       = "user.provider_linked"
	EventUserProviderUnlinked     = "user.provider_unlinked"
	EventUserProviderSignInFailed = "user.provider_failed" // Reason: what was refused; user_id when known
)

// ActorSystem is the Actor of events Gatehouse records on its own.
const ActorSystem = "system"

// Password-reset link events: a link made by an administrator; one
// redeemed is EventUserPasswordReset with Details["method"] "link"; a link
// presented used or expired is EventUserPasswordResetLinkFailed.
const (
	EventUserPasswordResetLinkCreated = "user.password_reset_link_created"
	EventUserPasswordResetLinkFailed  = "user.password_reset_link_failed"
)

// EventUserFactorsReset is an administrator's removal of a user's second
// factors (Actor: the admin; Details: user_id, removed, count); the user's
// sessions end with it.
const EventUserFactorsReset = "user.factors_reset"

// AuditEvent is one entry of the append-only audit log.
type AuditEvent struct {
	ID      int64 // assigned by the store, increasing
	Time    time.Time
	Type    string
	Actor   string // ID of the admin key that acted, or ActorSystem
	KeyID   string // the key concerned; "" when unknown (e.g. failures of unknown keys)
	Reason  string // for failures: the verification code
	Count   int64  // how many occurrences this event stands for; 1 for single events
	Details map[string]string
}

// Target is the ID of the object the event is about, by which the audit
// log is filtered: KeyID when set (keys, and the clients and webhook
// endpoints whose events record their ID there), else the detail that
// names the object for the event's family ("" when there is none, as for
// a failure of an unknown key). The storage backends keep it in a column
// at append time and back-filled the events stored before it; a change to
// this function needs a migration that rewrites that column.
func (e AuditEvent) Target() string {
	if e.KeyID != "" {
		return e.KeyID
	}
	family, _, ok := strings.Cut(e.Type, ".")
	if !ok {
		return ""
	}
	switch family {
	case "client", "consent", "token":
		return e.Details["client_id"]
	case "user":
		return e.Details["user_id"]
	case "signing_key":
		return e.Details["kid"]
	case "route":
		return e.Details["name"]
	}
	return ""
}

// AuditFilter selects events in ListAuditEvents, in ascending ID order
// unless Newest is set.
type AuditFilter struct {
	KeyID string // exact match; empty for all
	Type  string // exact match; empty for all
	// Actor and Target keep the events of that actor, and of that target
	// (AuditEvent.Target), by exact match; empty for all.
	Actor  string
	Target string
	// Since and Until keep the events with Since <= Time < Until; a zero
	// bound is open.
	Since, Until time.Time
	// After is the cursor: events with an ID greater than this, or with
	// Newest, events with an ID less than this (0: from the newest).
	After int64
	Limit int // at most this many; capped at MaxPageSize
	// Newest lists in descending ID order, so the first page holds the most
	// recent events without reading the older ones; the next cursor is then
	// the smallest ID of the page.
	Newest bool
}

// Before is the exclusive upper bound of the IDs a Newest page lists: After,
// or for the first page (After <= 0) a bound above every ID, so backends
// keep one cursor condition in both directions.
func (f AuditFilter) Before() int64 {
	if f.After <= 0 {
		return math.MaxInt64
	}
	return f.After
}

// CheckAuditFilter refuses (EINVALID) a filter holding text no backend can
// compare.
func CheckAuditFilter(f AuditFilter) error {
	return CheckText("audit filter", f.KeyID, f.Type, f.Actor, f.Target)
}

// AuditStore keeps the audit log. It has no way to change or delete events.
type AuditStore interface {
	// AppendAuditEvents appends events in one transaction.
	AppendAuditEvents(ctx context.Context, events ...AuditEvent) error

	// ListAuditEvents returns one page of events and the cursor of the next
	// page (0 on the last page).
	ListAuditEvents(ctx context.Context, f AuditFilter) (events []AuditEvent, next int64, err error)
}

// Store is everything a storage backend provides.
type Store interface {
	APIKeyStore
	AuditStore
	OAuthStore
	RouteStore
	WebhookStore
	UsageStore
	DashboardSessionStore
	NodeStore
	PasswordResetStore
	RegistrationStore
	MFAStore
	PasskeyStore
	ProviderStore
	// Ping reports whether the backend can serve requests (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
