package client

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// SecretPrefix starts every client secret (gate_cs_...).
const SecretPrefix = "gate_cs_"

// Config configures a Registry. Store and Hasher are required.
type Config struct {
	// Store keeps the clients. Its DeleteClient also ends what the client
	// holds (codes, refresh tokens, consents, access tokens).
	Store auth.ClientStore
	// Hasher keys the hashes of client secrets.
	Hasher *secret.Hasher
	Now    auth.Now // default auth.SystemNow
	// Changes is the node's change feed when several nodes share the
	// store (see feed.go); nil for a store only this node writes.
	Changes ChangeFeed
	// FirstParty are the IDs of Gatehouse's own clients (the dashboard's).
	// Only EnsureFirstParty writes them: Update, RotateSecret and Delete
	// refuse them, because such a client skips consent, so whoever could
	// add a redirect URI to it would receive the authorization codes of
	// everyone signing in with it.
	FirstParty []string
	// Registrations keeps the initial access tokens of dynamic client
	// registration (registration.go); nil for a registry without them.
	Registrations auth.RegistrationStore
	// AllowLoopbackLogoutURIs accepts back-channel logout URIs on
	// loopback hosts: oauth.backchannel_logout.allow_loopback, the
	// setting that lets the logout notifier deliver to them
	// (CheckBackchannelLogoutURI).
	AllowLoopbackLogoutURIs bool
}

// Registry registers, changes and finds OAuth clients. Its methods are safe
// for concurrent use. Every change is audited in the same transaction, and
// forgets the client in this node's cache at once.
type Registry struct {
	store  auth.ClientStore
	hasher *secret.Hasher
	now    auth.Now
	cache  cache
	// firstParty is Config.FirstParty.
	firstParty map[string]bool
	regs       auth.RegistrationStore
	// allowLoopbackLogout is Config.AllowLoopbackLogoutURIs.
	allowLoopbackLogout bool
}

// New checks cfg and returns a Registry.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil || cfg.Hasher == nil {
		return nil, errors.New("client: Store and Hasher are required")
	}
	if cfg.Now == nil {
		cfg.Now = auth.SystemNow
	}
	r := &Registry{store: cfg.Store, hasher: cfg.Hasher, now: cfg.Now, firstParty: make(map[string]bool, len(cfg.FirstParty)), regs: cfg.Registrations,
		allowLoopbackLogout: cfg.AllowLoopbackLogoutURIs}
	for _, id := range cfg.FirstParty {
		if !ValidID(id) {
			return nil, fmt.Errorf("client: first-party client %q is not a client ID", id)
		}
		r.firstParty[id] = true
	}
	if cfg.Changes != nil {
		r.follow(cfg.Changes)
	}
	return r, nil
}

// Create registers a client. For a confidential client using
// client_secret_basic or client_secret_post it returns the secret
// (gate_cs_...), which is stored only as a keyed hash and never shown
// again; "" for public and private_key_jwt clients. EINVALID (with a
// message that says which rule was broken) for bad input.
func (r *Registry) Create(ctx context.Context, actor string, in Input) (*auth.Client, string, error) {
	c, err := fromInput(in, r.allowLoopbackLogout)
	if err != nil {
		return nil, "", err
	}
	now := r.now()
	c.CreatedAt, c.UpdatedAt = now, now
	var plaintext string
	if usesSecret(c.AuthMethod) {
		var hash []byte
		plaintext, hash, err = r.hasher.New(SecretPrefix)
		if err != nil {
			return nil, "", err
		}
		c.SecretHash, c.SecretHint, c.SecretRotatedAt = hash, plaintext[len(plaintext)-4:], now
	}
	// An ID collision (two nodes in one millisecond with equal random
	// bits) is retried with a new ID.
	for attempt := 0; ; attempt++ {
		if c.ID, err = auth.NewID(IDPrefix, now); err != nil {
			return nil, "", err
		}
		err = r.store.CreateClient(ctx, c, event(auth.EventClientCreated, now, actor, c))
		if err == nil || auth.ErrorCode(err) != auth.ECONFLICT || attempt == 2 {
			break
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("client: create: %w", err)
	}
	return c, plaintext, nil
}

// Changeable returns EFORBIDDEN for a first-party client (Config.FirstParty),
// which only EnsureFirstParty may write, and nil for any other ID.
func (r *Registry) Changeable(id string) error {
	if r.firstParty[id] {
		return auth.Errorf(auth.EFORBIDDEN, "The client %s is managed by Gatehouse itself (set at every start from the issuer URL); it cannot be changed, rotated or deleted.", id)
	}
	return nil
}

// Update replaces the settings of a client with in. A client cannot switch
// between public and confidential (EINVALID). Moving to private_key_jwt
// drops its secret; moving from private_key_jwt to a secret method leaves
// it without a secret until RotateSecret issues one. ENOTFOUND if there is
// no such client; EFORBIDDEN for a first-party client. A dynamically
// registered client keeps its registration access token.
func (r *Registry) Update(ctx context.Context, actor, id string, in Input) (*auth.Client, error) {
	return r.update(ctx, actor, id, in, func(old, c *auth.Client) error {
		// The registration access token is not a setting: an update keeps it.
		c.RegistrationTokenHash = old.RegistrationTokenHash
		return nil
	})
}

// update is Update with keep, which sets on the new client c what in does
// not say, from old, or refuses the update.
func (r *Registry) update(ctx context.Context, actor, id string, in Input, keep func(old, c *auth.Client) error) (*auth.Client, error) {
	if err := r.Changeable(id); err != nil {
		return nil, err
	}
	old, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if in.Public != old.Public {
		return nil, auth.Errorf(auth.EINVALID, "A client cannot change between public and confidential; register a new client.")
	}
	c, err := fromInput(in, r.allowLoopbackLogout)
	if err != nil {
		return nil, err
	}
	now := r.now()
	c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, now
	if usesSecret(c.AuthMethod) {
		c.SecretHash, c.SecretHint, c.SecretRotatedAt = old.SecretHash, old.SecretHint, old.SecretRotatedAt
	}
	if err := keep(old, c); err != nil {
		return nil, err
	}
	ev := event(auth.EventClientUpdated, now, actor, c)
	ev.Details["changed"] = strings.Join(changed(old, c), ",")
	err = r.store.UpdateClient(ctx, c, old.UpdatedAt, ev)
	r.cache.forget(id)
	if err != nil {
		return nil, fmt.Errorf("client: update: %w", err)
	}
	return c, nil
}

// RotateSecret replaces the secret of a client that authenticates with one
// and returns the new secret; the old one stops working at once. EINVALID
// for public and private_key_jwt clients; ENOTFOUND if there is no such
// client; EFORBIDDEN for a first-party client.
func (r *Registry) RotateSecret(ctx context.Context, actor, id string) (*auth.Client, string, error) {
	if err := r.Changeable(id); err != nil {
		return nil, "", err
	}
	old, err := r.Get(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if !usesSecret(old.AuthMethod) {
		return nil, "", auth.Errorf(auth.EINVALID, "The client authenticates with %s and has no secret.", old.AuthMethod)
	}
	plaintext, hash, err := r.hasher.New(SecretPrefix)
	if err != nil {
		return nil, "", err
	}
	c := *old
	now := r.now()
	c.SecretHash, c.SecretHint, c.SecretRotatedAt, c.UpdatedAt = hash, plaintext[len(plaintext)-4:], now, now
	err = r.store.UpdateClient(ctx, &c, old.UpdatedAt, event(auth.EventClientSecretRotated, now, actor, &c))
	r.cache.forget(id)
	if err != nil {
		return nil, "", fmt.Errorf("client: rotate secret: %w", err)
	}
	return &c, plaintext, nil
}

// Delete removes a client with its codes, refresh tokens and consents; its
// unexpired access tokens go on the revocation list. ENOTFOUND if there is
// no such client; EFORBIDDEN for a first-party client.
func (r *Registry) Delete(ctx context.Context, actor, id string) error {
	if err := r.Changeable(id); err != nil {
		return err
	}
	if !ValidID(id) {
		return auth.Errorf(auth.ENOTFOUND, "Client not found.")
	}
	now := r.now()
	err := r.store.DeleteClient(ctx, id, now, auth.AuditEvent{
		Time: now, Type: auth.EventClientDeleted, Actor: actor, KeyID: id, Count: 1,
		Details: map[string]string{"client_id": id},
	})
	r.cache.forget(id)
	if err != nil {
		return fmt.Errorf("client: delete: %w", err)
	}
	return nil
}

// Get returns a client from the store (not the cache). ENOTFOUND if there
// is no such client.
func (r *Registry) Get(ctx context.Context, id string) (*auth.Client, error) {
	if !ValidID(id) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Client not found.")
	}
	c, err := r.store.GetClient(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("client: get: %w", err)
	}
	return c, nil
}

// List returns one page of clients in ID order and the cursor of the next
// page ("" on the last).
func (r *Registry) List(ctx context.Context, f auth.ClientFilter) ([]*auth.Client, string, error) {
	if f.Limit < 0 {
		return nil, "", auth.Errorf(auth.EINVALID, "The limit must not be negative.")
	}
	if f.After != "" && !ValidID(f.After) {
		return nil, "", auth.Errorf(auth.EINVALID, "The cursor is not a client ID.")
	}
	cs, next, err := r.store.ListClients(ctx, f)
	if err != nil {
		return nil, "", fmt.Errorf("client: list: %w", err)
	}
	return cs, next, nil
}

// Lookup returns the client with that ID, from a short-lived cache of this
// node or from the store: the token endpoint looks the client up on every
// request. The returned client is shared: callers must not change it.
// ENOTFOUND if there is no such client.
func (r *Registry) Lookup(ctx context.Context, id string) (*auth.Client, error) {
	if !ValidID(id) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Client not found.")
	}
	now := r.now()
	if c, ok := r.cache.get(id, now); ok {
		return c, nil
	}
	// The generation is taken before the read: if the client changes on
	// this node while the read is in flight, what was read may predate the
	// change and is not cached.
	gen := r.cache.generation()
	c, err := r.store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	r.cache.putIfCurrent(c, now, gen)
	return c, nil
}

// Exists reports whether the client is registered, from the same
// short-lived cache as Lookup. The gateway asks it for every access token
// with a client_id: a client-credentials token is on no revocation list, so
// deleting its client must refuse it another way.
func (r *Registry) Exists(ctx context.Context, id string) (bool, error) {
	_, err := r.Lookup(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case auth.ErrorCode(err) == auth.ENOTFOUND:
		return false, nil
	default:
		return false, fmt.Errorf("client: look up: %w", err)
	}
}

// Forget drops the client from this node's cache, so that the next Lookup
// reads the store: for a change made elsewhere (another node's update,
// rotation or deletion, reported by a change feed). This node's own changes
// call it themselves.
func (r *Registry) Forget(id string) { r.cache.forget(id) }

// ForgetAll empties this node's cache: for when changes made elsewhere may
// have been missed (a change feed that lost its connection).
func (r *Registry) ForgetAll() { r.cache.forgetAll() }

// ValidSecret reports whether s is a well-formed client secret (prefix,
// length, alphabet, checksum), so that garbage is refused before the store
// is asked for the client.
func ValidSecret(s string) bool { return secret.Valid(SecretPrefix, s) }

// SecretMatches reports whether presented is c's current secret: a
// well-formed client secret whose keyed hash equals the stored one,
// compared in constant time. A client without a secret matches nothing.
func (r *Registry) SecretMatches(c *auth.Client, presented string) bool {
	if len(c.SecretHash) == 0 || !ValidSecret(presented) {
		return false
	}
	sum := r.hasher.Sum(presented)
	return subtle.ConstantTimeCompare(sum[:], c.SecretHash) == 1
}

func event(typ string, now time.Time, actor string, c *auth.Client) auth.AuditEvent {
	return auth.AuditEvent{
		Time: now, Type: typ, Actor: actor, KeyID: c.ID, Count: 1,
		Details: map[string]string{"client_id": c.ID, "name": c.Name, "owner": c.Owner, "auth_method": c.AuthMethod},
	}
}

// changed names the settings that differ between old and c, in a fixed
// order, so that client.updated says what an update changed.
func changed(old, c *auth.Client) []string {
	var out []string
	for _, f := range []struct {
		name string
		same bool
	}{
		{"name", old.Name == c.Name},
		{"owner", old.Owner == c.Owner},
		{"auth_method", old.AuthMethod == c.AuthMethod},
		{"jwks", bytes.Equal(old.JWKS, c.JWKS)},
		{"redirect_uris", slices.Equal(old.RedirectURIs, c.RedirectURIs)},
		{"post_logout_redirect_uris", slices.Equal(old.PostLogoutRedirectURIs, c.PostLogoutRedirectURIs)},
		{"grant_types", slices.Equal(old.GrantTypes, c.GrantTypes)},
		{"scopes", slices.Equal(old.Scopes, c.Scopes)},
		{"audiences", slices.Equal(old.Audiences, c.Audiences)},
		{"access_token_ttl", old.AccessTokenTTL == c.AccessTokenTTL},
		{"refresh_token_ttl", old.RefreshTokenTTL == c.RefreshTokenTTL},
		{"refresh_token_max_ttl", old.RefreshTokenMaxTTL == c.RefreshTokenMaxTTL},
		{"require_dpop", old.RequireDPoP == c.RequireDPoP},
		{"require_par", old.RequirePAR == c.RequirePAR},
		{"backchannel_logout_uri", old.BackchannelLogoutURI == c.BackchannelLogoutURI},
		{"application_type", old.ApplicationType == c.ApplicationType},
		{"exchange_issuers", slices.Equal(old.ExchangeIssuers, c.ExchangeIssuers)},
		{"allow_impersonation", old.AllowImpersonation == c.AllowImpersonation},
		{"mfa", old.MFA == c.MFA},
		{"metadata", bytes.Equal(old.Metadata, c.Metadata)},
	} {
		if !f.same {
			out = append(out, f.name)
		}
	}
	return out
}
