// Package passkey registers and checks WebAuthn credentials (passkeys and
// security keys) through github.com/go-webauthn/webauthn: several named
// passkeys per user, sign-in with a passkey alone (a discoverable
// credential names the user) or as a second factor after a password.
//
// The relying party is the issuer: its host is the RP ID and its origin
// the one origin a ceremony may come from. The server's half of each
// ceremony (the challenge) lives in the store under the keyed hash of an
// opaque state value the browser carries from begin to finish, so any
// node can finish a ceremony another began, and only once.
package passkey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// DefaultCeremonyTTL is how long a ceremony may take from begin to finish.
const DefaultCeremonyTTL = 5 * time.Minute

// MaxPasskeys is the most passkeys one user may register.
const MaxPasskeys = 20

// maxResponse bounds the authenticator response a finish accepts.
const maxResponse = 64 << 10

// statePrefix starts every ceremony state value (a secret.Generate value).
const statePrefix = "pkc_"

// Store is what the service keeps: passkeys, ceremonies, audit events.
type Store interface {
	auth.PasskeyStore
	auth.AuditStore
}

// Users finds the user a passkey belongs to (*account.Service does).
type Users interface {
	// Get returns the user, or ENOTFOUND.
	Get(ctx context.Context, id string) (*auth.User, error)
}

// Config configures a Service. Issuer, Store, Users and Hasher are
// required.
type Config struct {
	// Issuer is the server's public base URL: its host is the relying
	// party ID, its origin the origin of every ceremony.
	Issuer string
	// RPName is the name authenticators show for the server; "Gatehouse"
	// if empty.
	RPName string
	Store  Store
	Users  Users
	// Hasher keys the hashes ceremony states are stored under.
	Hasher *secret.Hasher
	// CeremonyTTL is how long a ceremony may take; 0: DefaultCeremonyTTL.
	CeremonyTTL time.Duration
	// Limiter throttles failed ceremonies per account and per address,
	// with the one-time codes' budget (*account.FactorLimiter); nil: not
	// throttled. See FinishLoginFrom and FinishRegistrationFrom.
	Limiter Limiter
	Now     auth.Now     // nil: auth.SystemNow
	Logger  *slog.Logger // nil: discard
}

// Service registers passkeys and signs users in with them.
type Service struct {
	cfg    Config
	wa     *webauthn.WebAuthn
	rpID   string
	origin string
	now    auth.Now
	logger *slog.Logger
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Users == nil || cfg.Hasher == nil {
		return nil, errors.New("passkey: Store, Users and Hasher are required")
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("passkey: Issuer must be an http or https URL")
	}
	if cfg.RPName == "" {
		cfg.RPName = "Gatehouse"
	}
	if cfg.CeremonyTTL <= 0 {
		cfg.CeremonyTTL = DefaultCeremonyTTL
	}
	s := &Service{cfg: cfg, rpID: u.Hostname(), origin: u.Scheme + "://" + u.Host, now: cfg.Now, logger: cfg.Logger}
	if s.now == nil {
		s.now = auth.SystemNow
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.wa, err = webauthn.New(&webauthn.Config{
		RPID:          s.rpID,
		RPDisplayName: cfg.RPName,
		RPOrigins:     []string{s.origin},
		// Passkeys: a discoverable credential where the authenticator can
		// keep one, and the user verified (PIN, biometric) where it can.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: cfg.CeremonyTTL, TimeoutUVD: cfg.CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: cfg.CeremonyTTL, TimeoutUVD: cfg.CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: relying party for %s: %w", s.rpID, err)
	}
	return s, nil
}

// RPID is the relying party ID: the issuer's host.
func (s *Service) RPID() string { return s.rpID }

// Registered reports whether the user has a passkey that may sign in.
func (s *Service) Registered(ctx context.Context, userID string) (bool, error) {
	list, err := s.cfg.Store.ListPasskeys(ctx, userID)
	if err != nil {
		return false, err
	}
	for _, p := range list {
		if !p.CloneWarning {
			return true, nil
		}
	}
	return false, nil
}

// List returns the user's passkeys, oldest first.
func (s *Service) List(ctx context.Context, userID string) ([]*auth.Passkey, error) {
	return s.cfg.Store.ListPasskeys(ctx, userID)
}

// Rename gives the user's passkey id a new name. EINVALID for a bad name;
// ENOTFOUND if the user has no such passkey.
func (s *Service) Rename(ctx context.Context, u *auth.User, id, name string) error {
	name, err := auth.CheckPasskeyName(name)
	if err != nil {
		return err
	}
	return s.cfg.Store.RenamePasskey(ctx, u.ID, id, name,
		s.event(auth.EventPasskeyRenamed, u.ID, "", map[string]string{"passkey_id": id, "name": name}))
}

// Remove deletes the user's passkey id. ENOTFOUND if the user has no such
// passkey.
func (s *Service) Remove(ctx context.Context, u *auth.User, id string) error {
	p, err := s.find(ctx, u.ID, id)
	if err != nil {
		return err
	}
	return s.cfg.Store.DeletePasskey(ctx, u.ID, id,
		s.event(auth.EventPasskeyRemoved, u.ID, "", map[string]string{"passkey_id": id, "name": p.Name}))
}

// find returns the user's passkey id, or ENOTFOUND.
func (s *Service) find(ctx context.Context, userID, id string) (*auth.Passkey, error) {
	list, err := s.cfg.Store.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, p := range list {
		if p.ID == id {
			return p, nil
		}
	}
	return nil, auth.Errorf(auth.ENOTFOUND, "Passkey not found.")
}

// event is an audit event about the user's passkeys (a "user." type, so
// the audit log finds it by the user).
func (s *Service) event(typ, userID, reason string, details map[string]string) auth.AuditEvent {
	d := map[string]string{"user_id": userID}
	for k, v := range details {
		d[k] = v
	}
	actor := userID
	if typ == auth.EventPasskeyFailed {
		actor = auth.ActorSystem
	}
	return auth.AuditEvent{Time: s.now(), Type: typ, Actor: actor, Reason: reason, Count: 1, Details: d}
}

// begin stores a ceremony's session data and returns the state the
// browser carries to its finish.
func (s *Service) begin(ctx context.Context, kind, userID string, data *webauthn.SessionData) (string, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("passkey: encode session: %w", err)
	}
	state, hash, err := s.cfg.Hasher.New(statePrefix)
	if err != nil {
		return "", err
	}
	now := s.now()
	if err := s.cfg.Store.CreatePasskeyCeremony(ctx, &auth.PasskeyCeremony{
		Hash: hash, Kind: kind, UserID: userID, Data: b, CreatedAt: now, ExpiresAt: now.Add(s.cfg.CeremonyTTL),
	}); err != nil {
		return "", err
	}
	return state, nil
}

// errExpired is the error of a state that is malformed, unknown, used or
// expired: the browser should start again.
func errExpired() error {
	return auth.Errorf(auth.EUNAUTHORIZED, "The passkey request expired or was already used. Please try again.")
}

// finish consumes the ceremony of a state, of that kind, and returns it
// with its session data. A malformed state is refused before any store
// work.
func (s *Service) finish(ctx context.Context, kind, state string) (*auth.PasskeyCeremony, *webauthn.SessionData, error) {
	if !secret.Valid(statePrefix, state) {
		return nil, nil, errExpired()
	}
	sum := s.cfg.Hasher.Sum(state)
	c, err := s.cfg.Store.ConsumePasskeyCeremony(ctx, sum[:], s.now())
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, nil, errExpired()
	} else if err != nil {
		return nil, nil, err
	}
	if c.Kind != kind {
		return nil, nil, errExpired()
	}
	var data webauthn.SessionData
	if err := json.Unmarshal(c.Data, &data); err != nil {
		return nil, nil, fmt.Errorf("passkey: decode session: %w", err)
	}
	return c, &data, nil
}

// waUser is a user as the webauthn library sees them.
type waUser struct {
	u     *auth.User
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string {
	return w.u.Username
}
func (w *waUser) WebAuthnDisplayName() string {
	if w.u.Name != "" {
		return w.u.Name
	}
	return w.u.Username
}
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// credential is a stored passkey as the library's credential record.
func credential(p *auth.Passkey) webauthn.Credential {
	var flags protocol.AuthenticatorFlags = protocol.FlagUserPresent
	if p.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	c := webauthn.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey,
		AttestationType: p.AttestationType, AttestationFormat: p.AttestationFormat,
		Flags: webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{
			AAGUID: p.AAGUID, SignCount: p.SignCount, CloneWarning: p.CloneWarning,
			Attachment: protocol.AuthenticatorAttachment(p.Attachment),
		},
	}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	if len(p.Attestation) > 0 {
		// Kept for a later check against metadata; a record that does not
		// decode costs that check, not the sign-in.
		_ = json.Unmarshal(p.Attestation, &c.Attestation)
	}
	return c
}

// descriptors returns the credential descriptors of passkeys, leaving out
// those under a clone warning.
func descriptors(list []*auth.Passkey) []protocol.CredentialDescriptor {
	var out []protocol.CredentialDescriptor
	for _, p := range list {
		if p.CloneWarning {
			continue
		}
		c := credential(p)
		out = append(out, c.Descriptor())
	}
	return out
}

// describe is the detail of a library error worth logging: its type,
// details and developer information (never shown to the user).
func describe(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Type + ": " + pe.Details + " " + pe.DevInfo
	}
	return err.Error()
}
