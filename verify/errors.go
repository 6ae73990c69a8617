package verify

import (
	"errors"
	"time"
)

// Reason is why a credential was refused. It is meant for logs and metric
// labels, never for a response body: telling a caller that its forged token
// had an unknown kid rather than a bad signature only helps the forger.
type Reason string

// The reasons a credential is refused.
const (
	ReasonMissing           Reason = "missing"
	ReasonMalformed         Reason = "malformed" // also: forbidden header, alg not allowed
	ReasonExpired           Reason = "expired"
	ReasonNotYetValid       Reason = "not_yet_valid"
	ReasonBadSignature      Reason = "bad_signature"
	ReasonUnknownKID        Reason = "unknown_kid"
	ReasonWrongIssuer       Reason = "wrong_issuer"
	ReasonWrongAudience     Reason = "wrong_audience"
	ReasonWrongType         Reason = "wrong_type"
	ReasonRevoked           Reason = "revoked"
	ReasonInsufficientScope Reason = "insufficient_scope"
	ReasonKeysUnavailable   Reason = "keys_unavailable" // no key set loaded yet: 503, not 401
	ReasonRateLimited       Reason = "rate_limited"     // API keys
	ReasonUsageExceeded     Reason = "usage_exceeded"   // API keys: their credits (usage quota) are spent
	ReasonIPNotAllowed      Reason = "ip_not_allowed"   // API keys: the caller's address is outside the key's networks

	// ReasonInsufficientUserAuthentication: a valid token whose sign-in
	// did not use a second factor where one is required (Claims.CheckMFA),
	// or an API key there, which proves no sign-in at all (RFC 9470 3).
	ReasonInsufficientUserAuthentication Reason = "insufficient_user_authentication"

	// DPoP (RFC 9449): a proof that fails a check; one seen before; one
	// without the nonce the server asks for; and a token bound to a key
	// presented without a proof of that key (as Bearer, or with another
	// key's proof), or an unbound token in the DPoP scheme.
	ReasonInvalidDPoPProof Reason = "invalid_dpop_proof"
	ReasonDPoPReplayed     Reason = "dpop_replayed"
	ReasonUseDPoPNonce     Reason = "use_dpop_nonce"
	ReasonDPoPBinding      Reason = "dpop_binding"
)

// Error is the refusal of a credential. Its message names the reason and a
// fixed detail; it never contains the credential or any part of it, so it
// is safe to log.
type Error struct {
	Reason Reason
	// RetryAfter is, for ReasonRateLimited, how long until a request can
	// pass; WriteError sends it as Retry-After (whole seconds, at least 1).
	RetryAfter time.Duration

	detail string   // a constant text, never derived from the credential
	scopes []string // insufficient_scope: the scopes that were required
}

func (e *Error) Error() string {
	if e.detail == "" {
		return "verify: " + string(e.Reason)
	}
	return "verify: " + string(e.Reason) + ": " + e.detail
}

// ReasonOf returns the reason of the *Error in err's chain, "" for nil, and
// ReasonMalformed for any other error (fail closed: an error that is not a
// refusal is still not an acceptance).
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonMalformed
}

func refuse(r Reason, detail string) *Error { return &Error{Reason: r, detail: detail} }
