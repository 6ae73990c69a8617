package federation

import "errors"

// Reasons an upstream sign-in is refused; audited as the event's Reason.
const (
	ReasonNoPending         = "no_pending_sign_in"   // no (or an unreadable) flow cookie
	ReasonExpired           = "expired"              // the flow took longer than FlowTTL
	ReasonStateMismatch     = "state_mismatch"       // CSRF or a response meant for another flow
	ReasonIssuerMismatch    = "issuer_mismatch"      // RFC 9207: a response from another provider (mix-up)
	ReasonUpstreamError     = "upstream_error"       // the upstream answered with an error (the user declined)
	ReasonExchangeFailed    = "code_exchange_failed" // the token endpoint refused the code
	ReasonInvalidIDToken    = "invalid_id_token"     // signature, iss, aud, exp or azp
	ReasonNonceMismatch     = "nonce_mismatch"       // an ID token of another flow (replay, injection)
	ReasonInvalidIdentity   = "invalid_identity"     // no usable subject, userinfo of another subject
	ReasonUnavailable       = "upstream_unavailable" // discovery, keys or userinfo could not be read
	ReasonNotLinked         = "not_linked"           // unknown identity and no account may be created
	ReasonLinkedElsewhere   = "linked_elsewhere"     // the identity is linked to another account
	ReasonAccountDisabled   = "account_disabled"
	ReasonWrongSession      = "wrong_session" // a link flow finished in another session
	ReasonProviderChanged   = "provider_changed"
	ReasonUsernameExhausted = "username_unavailable"
)

// Error is a refused upstream sign-in: Reason says why (for the audit
// log), Message what the user may be told.
type Error struct {
	Reason  string
	Message string
	detail  string // for the log only
}

func (e *Error) Error() string {
	if e.detail != "" {
		return "federation: " + e.Reason + ": " + e.detail
	}
	return "federation: " + e.Reason
}

// refused returns an *Error with the generic message.
func refused(reason, detail string) *Error {
	return &Error{Reason: reason, Message: "Signing in through the provider did not succeed. Please try again.", detail: detail}
}

// ReasonOf returns the Reason of an *Error in err's chain, or "".
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// MessageOf returns what a user may be told about err: the Message of an
// *Error in its chain, or a generic message.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "Signing in through the provider did not succeed. Please try again."
}
