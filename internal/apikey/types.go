package apikey

import (
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
)

// Request is one verification, as Check takes it.
type Request struct {
	Key    string   // as presented
	Scopes []string // every one of them is needed
	// Route is the gateway route the key was presented to, for the usage
	// counts; "" elsewhere.
	Route string
}

// Result is what Verify learned about a presented key.
type Result struct {
	Code Code
	// Key is the stored record (read-only: callers must not modify it); nil
	// when the key is malformed or unknown.
	Key       *auth.APIKey
	RateLimit RateLimitState
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
	// Environment is one of auth.KeyEnvironments; "" means the service's
	// default (Service.Environment). The key's prefix follows from it
	// (Service.EnvironmentPrefix).
	Environment string
}
