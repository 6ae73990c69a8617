package client

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// Prefixes of the credentials of dynamic client registration (RFC 7591,
// RFC 7592).
const (
	// InitialTokenPrefix starts every initial access token (gate_iat_...),
	// which an admin issues to allow registrations.
	InitialTokenPrefix = "gate_iat_"
	// InitialTokenIDPrefix starts the public ID of an initial access token.
	InitialTokenIDPrefix = "iat_"
	// RegistrationTokenPrefix starts every registration access token
	// (gate_rat_...), with which a registered client manages itself.
	RegistrationTokenPrefix = "gate_rat_"
)

// Bounds of initial access tokens.
const (
	DefaultInitialTokenTTL = 24 * time.Hour
	MinInitialTokenTTL     = time.Minute
	MaxInitialTokenTTL     = 365 * 24 * time.Hour
	MaxInitialTokenUses    = 1_000_000
)

// ActorOpenRegistration is the actor of a registration made without an
// initial access token (open registration of a public native client).
const ActorOpenRegistration = "open_registration"

// RedirectURIError is the error of a registration whose redirect URIs
// break a rule: RFC 7591 3.2.2 gives it an error code of its own
// (invalid_redirect_uri). It wraps the auth.Error (EINVALID) that says
// which rule.
type RedirectURIError struct{ Err error }

func (e *RedirectURIError) Error() string { return e.Err.Error() }
func (e *RedirectURIError) Unwrap() error { return e.Err }

// Registration is what a dynamic registration adds to a client's settings.
type Registration struct {
	// InitialTokenHash is the keyed hash of the initial access token that
	// allows the registration (see InitialToken); nil for an open
	// registration.
	InitialTokenHash []byte
}

// Credentials are the secrets a registration or a registration update
// issues, each shown this once.
type Credentials struct {
	Secret            string // the client secret; "" for clients without one, and on update
	RegistrationToken string // the new registration access token
}

func (r *Registry) registrations() (auth.RegistrationStore, error) {
	if r.regs == nil {
		return nil, errors.New("client: the registry has no registration store")
	}
	return r.regs, nil
}

// IssueInitialToken issues an initial access token that allows uses
// registrations (1 when zero) until ttl from now (DefaultInitialTokenTTL
// when zero). The token is returned this once; the store keeps its keyed
// hash. EINVALID for uses or ttl out of bounds.
func (r *Registry) IssueInitialToken(ctx context.Context, actor string, uses int, ttl time.Duration) (*auth.InitialAccessToken, string, error) {
	store, err := r.registrations()
	if err != nil {
		return nil, "", err
	}
	if uses == 0 {
		uses = 1
	}
	if ttl == 0 {
		ttl = DefaultInitialTokenTTL
	}
	switch {
	case uses < 1 || uses > MaxInitialTokenUses:
		return nil, "", auth.Errorf(auth.EINVALID, "The uses of an initial access token must be between 1 and %d.", MaxInitialTokenUses)
	case ttl < MinInitialTokenTTL || ttl > MaxInitialTokenTTL:
		return nil, "", auth.Errorf(auth.EINVALID, "The lifetime of an initial access token must be between %s and %s.", MinInitialTokenTTL, MaxInitialTokenTTL)
	}
	plaintext, hash, err := r.hasher.New(InitialTokenPrefix)
	if err != nil {
		return nil, "", err
	}
	now := r.now()
	id, err := auth.NewID(InitialTokenIDPrefix, now)
	if err != nil {
		return nil, "", err
	}
	t := &auth.InitialAccessToken{
		ID: id, Hash: hash, Hint: plaintext[len(plaintext)-4:], CreatedBy: actor,
		Uses: uses, CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	ev := auth.AuditEvent{
		Time: now, Type: auth.EventRegistrationTokenCreated, Actor: actor, KeyID: id, Count: 1,
		Details: map[string]string{"uses": fmt.Sprint(uses), "expires_at": t.ExpiresAt.UTC().Format(time.RFC3339)},
	}
	if err := store.CreateInitialAccessToken(ctx, t, ev); err != nil {
		return nil, "", fmt.Errorf("client: issue initial access token: %w", err)
	}
	return t, plaintext, nil
}

// ListInitialTokens returns one page of initial access tokens in ID order
// and the cursor of the next page ("" on the last).
func (r *Registry) ListInitialTokens(ctx context.Context, f auth.InitialAccessTokenFilter) ([]*auth.InitialAccessToken, string, error) {
	store, err := r.registrations()
	if err != nil {
		return nil, "", err
	}
	if f.Limit < 0 {
		return nil, "", auth.Errorf(auth.EINVALID, "The limit must not be negative.")
	}
	ts, next, err := store.ListInitialAccessTokens(ctx, f)
	if err != nil {
		return nil, "", fmt.Errorf("client: list initial access tokens: %w", err)
	}
	return ts, next, nil
}

// RevokeInitialToken revokes an initial access token: it allows no more
// registrations; the clients registered with it stay. Revoking a revoked
// token returns it unchanged. ENOTFOUND if there is no such token.
func (r *Registry) RevokeInitialToken(ctx context.Context, actor, id string) (*auth.InitialAccessToken, error) {
	store, err := r.registrations()
	if err != nil {
		return nil, err
	}
	if !validInitialTokenID(id) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Initial access token not found.")
	}
	now := r.now()
	t, err := store.RevokeInitialAccessToken(ctx, id, now, auth.AuditEvent{
		Time: now, Type: auth.EventRegistrationTokenRevoked, Actor: actor, KeyID: id, Count: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("client: revoke initial access token: %w", err)
	}
	return t, nil
}

func validInitialTokenID(id string) bool {
	return len(id) > len(InitialTokenIDPrefix) && len(id) <= 64 && id[:len(InitialTokenIDPrefix)] == InitialTokenIDPrefix &&
		secret.IsBase62(id[len(InitialTokenIDPrefix):])
}

// InitialToken returns the initial access token presented, if it may
// allow a registration now. A malformed token is refused before the store
// is asked; unknown, revoked, expired and used-up tokens are all the same
// EUNAUTHORIZED.
func (r *Registry) InitialToken(ctx context.Context, presented string) (*auth.InitialAccessToken, error) {
	store, err := r.registrations()
	if err != nil {
		return nil, err
	}
	invalid := (&auth.InitialAccessToken{}).Usable(r.now())
	if !secret.Valid(InitialTokenPrefix, presented) {
		return nil, invalid
	}
	sum := r.hasher.Sum(presented)
	t, err := store.GetInitialAccessToken(ctx, sum[:])
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, invalid
	}
	if err != nil {
		return nil, fmt.Errorf("client: get initial access token: %w", err)
	}
	if err := t.Usable(r.now()); err != nil {
		return nil, err
	}
	return t, nil
}

// checkRedirects runs the redirect-URI rules of fromInput first, so that a
// registration can tell a bad redirect URI (RedirectURIError) from other
// bad metadata.
func checkRedirects(in Input) error {
	for _, uris := range [][]string{in.RedirectURIs, in.PostLogoutRedirectURIs} {
		if _, err := validateRedirectURIs("redirect URI", uris, in.Public); err != nil {
			return &RedirectURIError{Err: err}
		}
	}
	return nil
}

// Register registers a client dynamically (RFC 7591 3): as Create, plus a
// registration access token (returned in Credentials, stored as a keyed
// hash). With reg.InitialTokenHash the
// registration takes one use of that initial access token, in the same
// transaction (EUNAUTHORIZED when it has none left); without, it is an
// open registration. EINVALID for bad input, as RedirectURIError when a
// redirect URI is at fault.
func (r *Registry) Register(ctx context.Context, actor string, in Input, reg Registration) (*auth.Client, Credentials, error) {
	var creds Credentials
	if err := checkRedirects(in); err != nil {
		return nil, creds, err
	}
	c, err := fromInput(in, r.allowLoopbackLogout)
	if err != nil {
		return nil, creds, err
	}
	var store auth.RegistrationStore
	if reg.InitialTokenHash != nil {
		if store, err = r.registrations(); err != nil {
			return nil, creds, err
		}
	}
	now := r.now()
	c.CreatedAt, c.UpdatedAt = now, now
	if usesSecret(c.AuthMethod) {
		var hash []byte
		creds.Secret, hash, err = r.hasher.New(SecretPrefix)
		if err != nil {
			return nil, creds, err
		}
		c.SecretHash, c.SecretHint, c.SecretRotatedAt = hash, creds.Secret[len(creds.Secret)-4:], now
	}
	if creds.RegistrationToken, c.RegistrationTokenHash, err = r.hasher.New(RegistrationTokenPrefix); err != nil {
		return nil, creds, err
	}
	for attempt := 0; ; attempt++ {
		if c.ID, err = auth.NewID(IDPrefix, now); err != nil {
			return nil, creds, err
		}
		ev := event(auth.EventClientCreated, now, actor, c)
		ev.Details["registration"] = "dynamic"
		if store != nil {
			err = store.RegisterClient(ctx, c, reg.InitialTokenHash, now, ev)
		} else {
			err = r.store.CreateClient(ctx, c, ev)
		}
		if err == nil || auth.ErrorCode(err) != auth.ECONFLICT || attempt == 2 {
			break
		}
	}
	if err != nil {
		return nil, Credentials{}, fmt.Errorf("client: register: %w", err)
	}
	return c, creds, nil
}

// RegistrationTokenMatches reports whether presented is c's registration
// access token: well formed, and its keyed hash equal to the stored one,
// compared in constant time. A client created by an admin has none and
// matches nothing.
func (r *Registry) RegistrationTokenMatches(c *auth.Client, presented string) bool {
	if len(c.RegistrationTokenHash) == 0 || !secret.Valid(RegistrationTokenPrefix, presented) {
		return false
	}
	sum := r.hasher.Sum(presented)
	return subtle.ConstantTimeCompare(sum[:], c.RegistrationTokenHash) == 1
}

// UpdateRegistered replaces the settings of a dynamically registered
// client (RFC 7592 2.2) as Update does, and rotates its registration access token: the new one is returned, the
// old one stops working. The secret is kept; a client moving to a secret
// method without one gets one, returned in Credentials. EFORBIDDEN for a client
// without a registration access token (one an admin created).
func (r *Registry) UpdateRegistered(ctx context.Context, actor, id string, in Input) (*auth.Client, Credentials, error) {
	var creds Credentials
	if err := checkRedirects(in); err != nil {
		return nil, creds, err
	}
	plaintext, hash, err := r.hasher.New(RegistrationTokenPrefix)
	if err != nil {
		return nil, creds, err
	}
	c, err := r.update(ctx, actor, id, in, func(old, c *auth.Client) error {
		if len(old.RegistrationTokenHash) == 0 {
			return auth.Errorf(auth.EFORBIDDEN, "The client was not registered dynamically.")
		}
		c.RegistrationTokenHash = hash
		if usesSecret(c.AuthMethod) && len(c.SecretHash) == 0 {
			// Moving to a secret method: the client cannot call
			// RotateSecret, so the update issues the secret.
			var secretHash []byte
			if creds.Secret, secretHash, err = r.hasher.New(SecretPrefix); err != nil {
				return err
			}
			c.SecretHash, c.SecretHint, c.SecretRotatedAt = secretHash, creds.Secret[len(creds.Secret)-4:], c.UpdatedAt
		}
		return nil
	})
	if err != nil {
		return nil, Credentials{}, err
	}
	creds.RegistrationToken = plaintext
	return c, creds, nil
}
