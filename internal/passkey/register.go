package passkey

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// BeginRegistration starts registering a passkey for u: it returns the
// PublicKeyCredentialCreationOptions for navigator.credentials.create (as
// {"publicKey": ...}, binary members in base64url) and the state to give
// to FinishRegistration. The user's passkeys are excluded, so one
// authenticator is not registered twice. EINVALID when the user has
// MaxPasskeys already.
func (s *Service) BeginRegistration(ctx context.Context, u *auth.User) (optionsJSON []byte, state string, err error) {
	list, err := s.cfg.Store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return nil, "", err
	}
	if len(list) >= MaxPasskeys {
		return nil, "", auth.Errorf(auth.EINVALID, "You have %d passkeys, the most an account may have. Remove one to add another.", MaxPasskeys)
	}
	var exclude []protocol.CredentialDescriptor
	for _, p := range list {
		c := credential(p)
		exclude = append(exclude, c.Descriptor())
	}
	creation, data, err := s.wa.BeginRegistration(&waUser{u: u}, webauthn.WithExclusions(exclude),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin registration: %w", err)
	}
	if optionsJSON, err = json.Marshal(creation); err != nil {
		return nil, "", fmt.Errorf("passkey: encode creation options: %w", err)
	}
	if state, err = s.begin(ctx, auth.CeremonyRegistration, u.ID, data); err != nil {
		return nil, "", err
	}
	return optionsJSON, state, nil
}

// FinishRegistration checks the authenticator's response to the
// registration begun with state (a PublicKeyCredential in its JSON form)
// for u, and stores the passkey under name ("Passkey N" when empty). The
// state is spent whatever the outcome. EUNAUTHORIZED for an unknown,
// used or expired state, or one begun for another user; EINVALID for a
// bad name or a response that does not verify; ECONFLICT when the
// credential is registered already.
func (s *Service) FinishRegistration(ctx context.Context, u *auth.User, state, name string, responseJSON []byte) (*auth.Passkey, error) {
	if strings.TrimSpace(name) != "" {
		var err error
		if name, err = auth.CheckPasskeyName(name); err != nil {
			return nil, err
		}
	}
	c, data, err := s.finish(ctx, auth.CeremonyRegistration, state)
	if err != nil {
		return nil, err
	}
	if c.UserID != u.ID {
		return nil, errExpired()
	}
	fail := func(reason string, cause error) error {
		s.logger.InfoContext(ctx, "passkey registration refused", "user_id", u.ID, "reason", reason, "detail", describe(cause))
		if err := s.cfg.Store.AppendAuditEvents(ctx, s.event(auth.EventPasskeyFailed, u.ID, reason, map[string]string{"ceremony": auth.CeremonyRegistration})); err != nil {
			s.logger.WarnContext(ctx, "passkey: audit", "err", err)
		}
		return auth.Errorf(auth.EINVALID, "The passkey could not be registered. Please try again.")
	}
	if len(responseJSON) > maxResponse {
		return nil, fail("response_too_large", fmt.Errorf("%d bytes", len(responseJSON)))
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(responseJSON)
	if err != nil {
		return nil, fail("malformed_response", err)
	}
	cred, err := s.wa.CreateCredential(&waUser{u: u}, *data, parsed)
	if err != nil {
		return nil, fail("attestation_invalid", err)
	}
	list, err := s.cfg.Store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if name == "" || strings.TrimSpace(name) == "" {
		name = fmt.Sprintf("Passkey %d", len(list)+1)
	}
	now := s.now()
	id, err := auth.NewID("pk_", now)
	if err != nil {
		return nil, err
	}
	attestation, err := json.Marshal(cred.Attestation)
	if err != nil {
		return nil, fmt.Errorf("passkey: encode attestation: %w", err)
	}
	p := &auth.Passkey{
		ID: id, UserID: u.ID, Name: name,
		CredentialID: cred.ID, PublicKey: cred.PublicKey,
		AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat, Attestation: attestation,
		AAGUID: cred.Authenticator.AAGUID, Attachment: string(cred.Authenticator.Attachment),
		SignCount:      cred.Authenticator.SignCount,
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		UserVerified: cred.Flags.UserVerified,
		CreatedAt:    now,
	}
	for _, t := range cred.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	slices.Sort(p.Transports)
	p.Transports = slices.Compact(p.Transports)
	err = s.cfg.Store.CreatePasskey(ctx, p, s.event(auth.EventPasskeyRegistered, u.ID, "", map[string]string{
		"passkey_id": p.ID, "name": p.Name, "backup_eligible": fmt.Sprint(p.BackupEligible),
	}))
	if auth.ErrorCode(err) == auth.ECONFLICT {
		return nil, auth.Errorf(auth.ECONFLICT, "This passkey is registered already.")
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// AMR returns the authentication methods a passkey proves (RFC 8176): swk
// for a synced (backup-eligible) passkey, hwk for one bound to its
// authenticator; with "user" when the authenticator verified the user,
// which makes it two factors on its own ("mfa").
func AMR(backupEligible, userVerified bool) []string {
	amr := []string{auth.AMRHardwareKey}
	if backupEligible {
		amr = []string{auth.AMRSoftwareKey}
	}
	if userVerified {
		amr = append(amr, auth.AMRUser)
	}
	return auth.NormalizeAMR(amr)
}
