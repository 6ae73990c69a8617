package auth

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Passkey is a WebAuthn credential a user registered (a passkey, or a
// security key used as one): the public key and what the relying party
// must remember about the authenticator behind it. A user may have
// several, each with a name of their choosing.
type Passkey struct {
	ID     string // "pk_..."; names the passkey on the account page
	UserID string
	Name   string // the user's label, at most MaxPasskeyName characters
	// CredentialID is the credential's ID as the authenticator made it:
	// public, unique across all users.
	CredentialID []byte
	PublicKey    []byte // COSE_Key
	// AttestationType and AttestationFormat are what the registration
	// conveyed ("none" for most passkeys); Attestation is the raw
	// attestation (the library's record, as JSON), kept so the credential
	// can be checked against metadata later.
	AttestationType   string
	AttestationFormat string
	Attestation       []byte
	Transports        []string // "internal", "hybrid", "usb", ...; sorted as given
	AAGUID            []byte   // the authenticator model; 16 bytes, zero for none
	Attachment        string   // "platform" or "cross-platform"; "" when not reported

	// SignCount is the authenticator's signature counter at its last use
	// (0 for authenticators that keep none, as synced passkeys do).
	SignCount uint32
	// BackupEligible (never changes) says the passkey may be synced
	// between devices; BackupState that it is.
	BackupEligible bool
	BackupState    bool
	// UserVerified is uvInitialized: the authenticator has verified the
	// user (PIN or biometric) with this credential.
	UserVerified bool
	// CloneWarning is set when an assertion came with a signature counter
	// that did not move forward: two copies of the key may exist. A
	// passkey with the warning no longer signs in.
	CloneWarning bool

	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used to sign in
}

// MaxPasskeyName is the longest passkey name, in characters.
const MaxPasskeyName = 64

// CheckPasskeyName returns the name trimmed, or EINVALID if it is empty,
// longer than MaxPasskeyName characters, or holds control characters.
func CheckPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", Errorf(EINVALID, "Give the passkey a name.")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxPasskeyName:
		return "", Errorf(EINVALID, "A passkey name has at most %d characters.", MaxPasskeyName)
	case strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return "", Errorf(EINVALID, "A passkey name cannot hold control characters.")
	}
	return name, nil
}

// CheckStorable returns EINVALID if p lacks its IDs or key, or holds text
// no backend can store.
func (p *Passkey) CheckStorable() error {
	switch {
	case p == nil:
		return Errorf(EINVALID, "Passkey is missing.")
	case p.ID == "" || p.UserID == "":
		return Errorf(EINVALID, "Passkey ID and user are required.")
	case len(p.CredentialID) == 0 || len(p.PublicKey) == 0:
		return Errorf(EINVALID, "Passkey credential ID and public key are required.")
	case !storable(p.ID, p.UserID, p.Name, p.AttestationType, p.AttestationFormat, p.Attachment) || !storable(p.Transports...):
		return Errorf(EINVALID, "Passkey text must be valid UTF-8 without NUL characters.")
	}
	return nil
}

// PasskeyUse is what one sign-in with a passkey changes on it.
type PasskeyUse struct {
	SignCount    uint32
	BackupState  bool
	UserVerified bool
	CloneWarning bool
	At           time.Time // becomes LastUsedAt
}

// Passkey ceremony kinds.
const (
	CeremonyRegistration = "registration"
	CeremonyLogin        = "login"
)

// PasskeyCeremony is the server's half of a WebAuthn ceremony between its
// begin and its finish: the challenge and what it was issued for. The
// browser holds an opaque state value whose keyed hash is Hash; it is
// used once, on any node, and only before ExpiresAt.
type PasskeyCeremony struct {
	Hash []byte
	Kind string // CeremonyRegistration or CeremonyLogin
	// UserID is the user the ceremony is for: the registering user, or
	// the user of a second-factor sign-in; "" for a sign-in with a
	// discoverable passkey, where the passkey names the user.
	UserID    string
	Data      []byte // the ceremony's session data, opaque to the store
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CheckStorable returns EINVALID if c lacks its hash, kind, data or expiry.
func (c *PasskeyCeremony) CheckStorable() error {
	switch {
	case c == nil:
		return Errorf(EINVALID, "Ceremony is missing.")
	case len(c.Hash) == 0 || len(c.Data) == 0 || c.ExpiresAt.IsZero():
		return Errorf(EINVALID, "Ceremony hash, data and expiry are required.")
	case c.Kind != CeremonyRegistration && c.Kind != CeremonyLogin:
		return Errorf(EINVALID, "Ceremony kind must be %q or %q.", CeremonyRegistration, CeremonyLogin)
	case !storable(c.UserID):
		return Errorf(EINVALID, "Ceremony text must be valid UTF-8 without NUL characters.")
	}
	return nil
}

// PasskeyStore keeps passkeys and the state of their ceremonies.
type PasskeyStore interface {
	// CreatePasskey inserts p and appends the events in one transaction.
	// ECONFLICT if its ID or credential ID exists; EINVALID if p is not
	// storable.
	CreatePasskey(ctx context.Context, p *Passkey, events ...AuditEvent) error
	// GetPasskeyByCredentialID returns the passkey with that credential
	// ID, or ENOTFOUND.
	GetPasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	// ListPasskeys returns the passkeys of a user, oldest first.
	ListPasskeys(ctx context.Context, userID string) ([]*Passkey, error)
	// RenamePasskey sets the name of the user's passkey id and appends the
	// events. ENOTFOUND if the user has no such passkey.
	RenamePasskey(ctx context.Context, userID, id, name string, events ...AuditEvent) error
	// DeletePasskey removes the user's passkey id and appends the events.
	// ENOTFOUND if the user has no such passkey.
	DeletePasskey(ctx context.Context, userID, id string, events ...AuditEvent) error
	// RecordPasskeyUse applies a sign-in to passkey id if its stored sign
	// count is still ifSignCount (the value the sign-in was checked
	// against), and appends the events: of two sign-ins checked against
	// the same count — two copies of one key — only one is recorded.
	// ENOTFOUND if it is gone; ECONFLICT if its count changed since.
	RecordPasskeyUse(ctx context.Context, id string, ifSignCount uint32, use PasskeyUse, events ...AuditEvent) error

	// CreatePasskeyCeremony stores c, and forgets ceremonies that expired
	// before c.CreatedAt. ECONFLICT if its hash exists.
	CreatePasskeyCeremony(ctx context.Context, c *PasskeyCeremony) error
	// ConsumePasskeyCeremony removes the ceremony with that hash and
	// returns it: of concurrent calls, on any node, one gets it. ENOTFOUND
	// if there is none, or it has expired at now (it is removed then too).
	ConsumePasskeyCeremony(ctx context.Context, hash []byte, now time.Time) (*PasskeyCeremony, error)
}
