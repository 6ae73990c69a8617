package passkey

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Reasons of user.passkey_failed events.
const (
	ReasonMalformed    = "malformed_response"
	ReasonUnknown      = "unknown_credential"
	ReasonWrongUser    = "wrong_user"
	ReasonInvalid      = "assertion_invalid"
	ReasonCloneWarning = "clone_warning"
	ReasonConcurrent   = "concurrent_use"
	ReasonDisabled     = "user_disabled"
)

// BeginLogin starts a sign-in with a passkey and returns the
// PublicKeyCredentialRequestOptions for navigator.credentials.get (as
// {"publicKey": ...}, binary members in base64url) and the state to give
// to FinishLogin.
//
// With userID "" the sign-in is with a passkey alone: no credential is
// listed, the authenticator offers the discoverable passkeys it holds for
// this server (also through conditional mediation, in the browser's
// autofill) and the chosen one names the user. With a userID it is a
// second factor: only that user's passkeys are allowed; ENOTFOUND if they
// have none that may sign in.
func (s *Service) BeginLogin(ctx context.Context, userID string) (optionsJSON []byte, state string, err error) {
	var (
		assertion *protocol.CredentialAssertion
		data      *webauthn.SessionData
	)
	if userID == "" {
		assertion, data, err = s.wa.BeginDiscoverableLogin()
	} else {
		u, err := s.cfg.Users.Get(ctx, userID)
		if err != nil {
			return nil, "", err
		}
		list, err := s.cfg.Store.ListPasskeys(ctx, userID)
		if err != nil {
			return nil, "", err
		}
		allow := descriptors(list)
		if len(allow) == 0 {
			return nil, "", auth.Errorf(auth.ENOTFOUND, "This account has no passkey.")
		}
		creds := make([]webauthn.Credential, 0, len(list))
		for _, p := range list {
			creds = append(creds, credential(p))
		}
		assertion, data, err = s.wa.BeginLogin(&waUser{u: u, creds: creds}, webauthn.WithAllowedCredentials(allow))
	}
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin login: %w", err)
	}
	if optionsJSON, err = json.Marshal(assertion); err != nil {
		return nil, "", fmt.Errorf("passkey: encode request options: %w", err)
	}
	if state, err = s.begin(ctx, auth.CeremonyLogin, userID, data); err != nil {
		return nil, "", err
	}
	return optionsJSON, state, nil
}

// FinishLogin checks the authenticator's assertion (a PublicKeyCredential
// in its JSON form) for the sign-in begun with state, records the
// passkey's use, and returns the user it signs in and the authentication
// methods it proves (see AMR). The state is spent whatever the outcome.
//
// For a second factor (BeginLogin with a user), the caller must check
// that userID is the user it began for; FinishLogin refuses a passkey of
// anyone else. It returns EUNAUTHORIZED for anything that does not sign
// in — an unknown, used or expired state, a malformed or invalid
// assertion, an unknown passkey, a disabled user, a passkey under a clone
// warning or one whose signature counter went back (which sets the
// warning) — with a message safe to show; failures of a known user are
// audited (user.passkey_failed).
func (s *Service) FinishLogin(ctx context.Context, state string, responseJSON []byte) (userID string, amr []string, err error) {
	c, data, err := s.finish(ctx, auth.CeremonyLogin, state)
	if err != nil {
		return "", nil, err
	}
	refused := auth.Errorf(auth.EUNAUTHORIZED, "The passkey could not be verified.")
	// fail logs a refusal and audits it when the user is known.
	fail := func(reason, user string, p *auth.Passkey, cause error) error {
		s.logger.InfoContext(ctx, "passkey sign-in refused", "reason", reason, "user_id", user, "detail", describe(cause))
		if user == "" {
			return refused
		}
		d := map[string]string{"ceremony": auth.CeremonyLogin}
		if p != nil {
			d["passkey_id"] = p.ID
		}
		if err := s.cfg.Store.AppendAuditEvents(ctx, s.event(auth.EventPasskeyFailed, user, reason, d)); err != nil {
			s.logger.WarnContext(ctx, "passkey: audit", "err", err)
		}
		return refused
	}
	if len(responseJSON) > maxResponse {
		return "", nil, fail(ReasonMalformed, c.UserID, nil, fmt.Errorf("%d bytes", len(responseJSON)))
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(responseJSON)
	if err != nil {
		return "", nil, fail(ReasonMalformed, c.UserID, nil, err)
	}
	p, err := s.cfg.Store.GetPasskeyByCredentialID(ctx, parsed.RawID)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return "", nil, fail(ReasonUnknown, c.UserID, nil, err)
	} else if err != nil {
		return "", nil, err
	}
	if c.UserID != "" && p.UserID != c.UserID {
		// Another user's passkey offered as this user's second factor.
		return "", nil, fail(ReasonWrongUser, c.UserID, nil, fmt.Errorf("passkey %s belongs to another user", p.ID))
	}
	u, err := s.cfg.Users.Get(ctx, p.UserID)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return "", nil, fail(ReasonUnknown, "", nil, err)
	} else if err != nil {
		return "", nil, err
	}
	if u.Disabled() {
		return "", nil, fail(ReasonDisabled, u.ID, p, fmt.Errorf("user disabled"))
	}
	if p.CloneWarning {
		return "", nil, fail(ReasonCloneWarning, u.ID, p, fmt.Errorf("passkey under a clone warning"))
	}
	list, err := s.cfg.Store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return "", nil, err
	}
	wu := &waUser{u: u}
	for _, q := range list {
		wu.creds = append(wu.creds, credential(q))
	}
	var cred *webauthn.Credential
	if c.UserID == "" {
		_, cred, err = s.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(userHandle, []byte(u.ID)) || !bytes.Equal(rawID, p.CredentialID) {
				return nil, fmt.Errorf("the user handle does not name the passkey's user")
			}
			return wu, nil
		}, *data, parsed)
	} else {
		cred, err = s.wa.ValidateLogin(wu, *data, parsed)
	}
	if err != nil {
		return "", nil, fail(ReasonInvalid, u.ID, p, err)
	}
	flags := parsed.Response.AuthenticatorData.Flags
	use := auth.PasskeyUse{
		SignCount: cred.Authenticator.SignCount, BackupState: cred.Flags.BackupState,
		UserVerified: cred.Flags.UserVerified, At: s.now(),
	}
	if cred.Authenticator.CloneWarning {
		// The counter did not move forward: another copy of the key
		// signed in since. The passkey stops signing in; the user sees
		// it flagged on the account page.
		use.SignCount, use.CloneWarning = p.SignCount, true
		err := s.cfg.Store.RecordPasskeyUse(ctx, p.ID, p.SignCount, use)
		if err != nil && auth.ErrorCode(err) != auth.ECONFLICT {
			s.logger.WarnContext(ctx, "passkey: record clone warning", "err", err)
		}
		return "", nil, fail(ReasonCloneWarning, u.ID, p, fmt.Errorf("sign count %d after %d", parsed.Response.AuthenticatorData.Counter, p.SignCount))
	}
	err = s.cfg.Store.RecordPasskeyUse(ctx, p.ID, p.SignCount, use)
	if auth.ErrorCode(err) == auth.ECONFLICT {
		// Another sign-in was checked against the same counter.
		return "", nil, fail(ReasonConcurrent, u.ID, p, err)
	} else if err != nil {
		return "", nil, err
	}
	return u.ID, AMR(flags.HasBackupEligible(), flags.HasUserVerified()), nil
}
