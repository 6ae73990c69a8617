package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Second factors at sign-in: the services the login flow asks, and the
// one policy that decides when a sign-in needs a second factor. The pages
// and the pending state are in login_factor.go, the passkey ceremonies in
// login_passkey.go.

// TOTPVerifier is what the login flow needs of the one-time code service
// (internal/mfa): whether a user has a TOTP authenticator, and a check of
// a code (a TOTP code or a recovery code).
type TOTPVerifier interface {
	// Enrolled reports whether the user has a confirmed TOTP authenticator.
	Enrolled(ctx context.Context, userID string) (bool, error)
	// VerifyCode checks a TOTP or recovery code of the user, sent from the
	// client address addr, and returns the amr value it proves
	// (auth.AMROTP). EUNAUTHORIZED for a wrong (or reused) code;
	// ERATELIMITED, with account.RetryAfter's delay, when the user or the
	// address sent too many wrong ones; the service throttles and audits.
	VerifyCode(ctx context.Context, userID, code, addr string) (string, error)
}

// PasskeyAuthenticator is what the login flow needs of the passkey service
// (internal/passkey).
type PasskeyAuthenticator interface {
	// Registered reports whether the user has at least one passkey.
	Registered(ctx context.Context, userID string) (bool, error)
	// BeginLogin starts an assertion ceremony for the user ("" for a
	// discoverable credential: the authenticator names the user). It
	// returns the WebAuthn options as JSON ({"publicKey": {...}}), for
	// navigator.credentials.get, and the handle of the ceremony's
	// server-side state, single-use and shared by every node.
	BeginLogin(ctx context.Context, userID string) ([]byte, string, error)
	// FinishLogin checks the authenticator's response (the
	// PublicKeyCredential as JSON) against the ceremony state and returns
	// the user it proves and the amr values of the assertion (hwk or swk,
	// user when the authenticator verified the user). EUNAUTHORIZED when
	// it does not check out, or the state is unknown, used or expired.
	FinishLogin(ctx context.Context, state string, response []byte) (string, []string, error)
}

// mfaStep is what a sign-in needs after what it has proved so far.
type mfaStep int

const (
	mfaNone  mfaStep = iota // nothing more: go on
	mfaAsk                  // ask for one of the user's second factors
	mfaEnrol                // the policy needs a second factor the user has not set up: enrol
	mfaNoWay                // the policy needs a second factor and the server offers none
)

func (m mfaStep) String() string {
	return [...]string{"none", "ask", "enrol", "unavailable"}[m]
}

// mfaSituation is what decideMFA looks at.
type mfaSituation struct {
	// required: the server's or client's policy, or the request's
	// acr_values, call for two factors.
	required bool
	// proved: the methods the sign-in (or session) has proved so far.
	proved []string
	// fresh: the password was just checked (a sign-in, not a session
	// going on): a user with a second factor is asked for it even when the
	// policy is optional.
	fresh bool
	// hasFactor: the user has a second factor set up (TOTP or a passkey).
	hasFactor bool
	// canEnrol: the server can set up a second factor (TOTP).
	canEnrol bool
}

// decideMFA is the one rule for second factors. A sign-in that already
// proved two factors (a user-verifying passkey, or a step-up) needs
// nothing more. After a password, a user who has a second factor is asked
// for it, whatever the policy: a second factor that can be skipped
// protects nothing. A session signed in with one factor goes on, unless
// the policy (or the request) requires two: then a user with a factor
// steps up, one without enrols.
func decideMFA(s mfaSituation) mfaStep {
	if auth.HasMFA(s.proved) {
		return mfaNone
	}
	if !s.required && !(s.fresh && s.hasFactor) {
		return mfaNone
	}
	switch {
	case s.hasFactor:
		return mfaAsk
	case s.canEnrol:
		return mfaEnrol
	case s.required:
		return mfaNoWay
	}
	return mfaNone
}

// mfaEnabled reports whether the server can check any second factor.
func (s *Server) mfaEnabled() bool { return s.cfg.TOTP != nil || s.cfg.Passkeys != nil }

// mfaRequired reports whether the request needs two factors: the client's
// policy, or the server's when the client has none, or a request naming
// auth.ACRMFA in acr_values or in the claims parameter's acr.
func (s *Server) mfaRequired(req *authzRequest) bool {
	policy := req.client.MFA
	if policy == "" {
		policy = s.cfg.MFA
	}
	return policy == auth.MFARequired || req.wantsMFA
}

// userFactors reports which second factors the user has set up.
func (s *Server) userFactors(ctx context.Context, userID string) (totp, passkey bool, err error) {
	if s.cfg.TOTP != nil {
		if totp, err = s.cfg.TOTP.Enrolled(ctx, userID); err != nil {
			return false, false, fmt.Errorf("oauth: TOTP enrolment: %w", err)
		}
	}
	if s.cfg.Passkeys != nil {
		if passkey, err = s.cfg.Passkeys.Registered(ctx, userID); err != nil {
			return false, false, fmt.Errorf("oauth: passkeys: %w", err)
		}
	}
	return totp, passkey, nil
}

// acrValuesSupported are the classes discovery lists: ACRMFA only when the
// server can check a second factor.
func (s *Server) acrValuesSupported() []string {
	if s.mfaEnabled() {
		return []string{auth.ACRPassword, auth.ACRMFA}
	}
	return []string{auth.ACRPassword}
}

// checkMFAConfig refuses a server-wide policy other than optional and
// required, and a required one without a second factor to check.
func checkMFAConfig(cfg *Config) error {
	if cfg.MFA == "" {
		cfg.MFA = auth.MFAOptional
	}
	if err := auth.CheckMFAPolicy(cfg.MFA); err != nil {
		return fmt.Errorf("oauth: MFA: %w", err)
	}
	if cfg.MFA == auth.MFARequired && cfg.TOTP == nil {
		return errors.New("oauth: MFA is required but no TOTP service is configured to enrol users")
	}
	return nil
}

// acrRequest reads what the request asks of the sign-in's class: acr_values
// (voluntary, OIDC Core 3.1.2.1) and the claims parameter's acr member
// (5.5.1.1). Both are lists of classes any of which will do: the request
// steps up only when one of them names ACRMFA and not ACRPassword
// (onlyMFA). An essential acr whose values are all unknown to the server
// fails with unmet_authentication_requirements. acrAsked reports whether
// the client asked about acr at all.
func acrRequest(acrValues string, acr *claimRequest, acrAsked bool) (wantsMFA bool, err error) {
	values := acr.stringValues()
	wantsMFA = onlyMFA(strings.Fields(acrValues)) || onlyMFA(values)
	if acrAsked && acr != nil && acr.Essential && len(values) > 0 &&
		!slices.Contains(values, auth.ACRPassword) && !slices.Contains(values, auth.ACRMFA) {
		return false, newError(CodeUnmetAuthenticationRequirements, "The server cannot satisfy the essential acr values requested.")
	}
	return wantsMFA, nil
}

// onlyMFA reports whether a list of acceptable classes can be met by a
// sign-in with two factors only: it names ACRMFA and not ACRPassword
// (which a sign-in with two factors meets as well, ACR aside).
func onlyMFA(classes []string) bool {
	return slices.Contains(classes, auth.ACRMFA) && !slices.Contains(classes, auth.ACRPassword)
}
