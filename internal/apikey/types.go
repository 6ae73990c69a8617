package apikey

import (
	"net/netip"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Code is the outcome of a verification, as the verify endpoint reports it.
type Code string

// Verification outcomes. Only CodeValid means the request may go on.
const (
	CodeValid             Code = "VALID"
	CodeInvalid           Code = "INVALID" // malformed, bad checksum, unknown key, or an environment the node refuses
	CodeExpired           Code = "EXPIRED"
	CodeRevoked           Code = "REVOKED"
	CodeInsufficientScope Code = "INSUFFICIENT_SCOPE"
	CodeRateLimited       Code = "RATE_LIMITED"
	CodeUsageExceeded     Code = "USAGE_EXCEEDED" // the key's credits cannot pay for the request
	CodeIPNotAllowed      Code = "IP_NOT_ALLOWED" // the caller's address is outside the key's allowed networks
)

// MaxCost bounds Request.Cost: no single request should be worth more.
const MaxCost = 1_000_000

// Request is one verification, as Check takes it.
type Request struct {
	Key    string   // as presented
	Scopes []string // every one of them is needed
	// Route is the gateway route the key was presented to, for the usage
	// counts; "" elsewhere.
	Route string
	// Cost is the credits a successful verification spends from a key
	// that has credits: 0 means 1, at most MaxCost. Keys without credits
	// ignore it.
	Cost int
	// IP is the caller's address, for keys restricted to networks; the
	// zero Addr means unknown, which such keys refuse.
	IP netip.Addr
}

// Result is what Verify learned about a presented key.
type Result struct {
	Code Code
	// Key is the stored record (read-only: callers must not modify it); nil
	// when the key is malformed or unknown.
	Key       *auth.APIKey
	RateLimit RateLimitState
	Credits   CreditState

	// Between Authorize and Settle: the key's cache entry (for its
	// last-used time) and the time of the verification.
	entry *entry
	at    time.Time
}

// CreditState is what a verification learned of the key's credits.
type CreditState struct {
	Metered   bool  // the key has credits; the rest is meaningful only then
	Remaining int64 // after this request
}

// Valid reports whether the key may be used.
func (r Result) Valid() bool { return r.Code == CodeValid }

// RateLimitState describes the key's token bucket after this request, for
// the RateLimit-* headers. Limit is 0 when the key has no limit.
type RateLimitState struct {
	Limit      int           // bucket size
	Remaining  int           // whole tokens left
	Reset      time.Duration // until the bucket is full again
	RetryAfter time.Duration // until the next request can pass; 0 unless limited
}

// CreateParams describes a new key. The service validates every field.
type CreateParams struct {
	Owner          string
	Name           string
	Scopes         []string
	Metadata       map[string]string
	ExpiresAt      time.Time // zero: never
	RateLimit      auth.RateLimit
	RotationPeriod time.Duration
	Actor          string // who creates it, for the audit log (admin key ID or auth.ActorSystem)
	// Credits, when set, is the key's usage quota: Remaining to start
	// with and an optional refill (RefilledAt and Version are set by the
	// service).
	Credits *auth.Credits
	// AllowedIPs, when set, restricts the callers' addresses (see
	// auth.ParseAllowedIPs for the rules).
	AllowedIPs []netip.Prefix
	// Environment is one of auth.KeyEnvironments; "" means the service's
	// default (Service.Environment). The key's prefix follows from it
	// (Service.EnvironmentPrefix).
	Environment string
}

// UpdateParams changes a key without rotating it. Nil members are left
// as they are; the service validates the result as Create does.
type UpdateParams struct {
	Name      *string
	Scopes    *[]string
	Metadata  *map[string]string
	RateLimit *auth.RateLimit
	ExpiresAt *time.Time // the zero time: never
	Credits   *CreditsUpdate
	// AllowedIPs replaces the networks; an empty list lifts the restriction.
	AllowedIPs *[]netip.Prefix
	Actor      string // who changes it, for the audit log
}

// CreditsUpdate changes a key's credits, member by member.
type CreditsUpdate struct {
	Remove bool // take the key's credits away; the other members must be nil
	// Remaining resets the credits left (and starts the count over on
	// every node). Required when the key has no credits yet, unless
	// Refill is given, whose amount it then defaults to.
	Remaining *int64
	Refill    *auth.CreditRefill // Amount 0: no refill
}
