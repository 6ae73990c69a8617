package oauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
)

// lookupClient returns the client with that ID, from a short-lived cache of
// this node or from the store: the token endpoint looks the client up on
// every request. The returned client is shared: callers must not change
// it. ENOTFOUND if there is no such client.
func (s *Server) lookupClient(ctx context.Context, id string) (*auth.Client, error) {
	if !validClientID(id) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Client not found.")
	}
	now := s.now()
	if c, ok := s.tokens.clients.get(id, now); ok {
		return c, nil
	}
	// The generation is taken before the read: if the client changes on
	// this node while the read is in flight, what was read may predate the
	// change and is not cached.
	gen := s.tokens.clients.generation()
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	s.tokens.clients.putIfCurrent(c, now, gen)
	return c, nil
}

// ClientExists reports whether the client is registered, from the same
// short-lived cache as the token endpoint. The gateway asks it for every
// access token with a client_id: a client-credentials token is on no
// revocation list, so deleting its client must refuse it another way.
func (s *Server) ClientExists(ctx context.Context, id string) (bool, error) {
	_, err := s.lookupClient(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case auth.ErrorCode(err) == auth.ENOTFOUND:
		return false, nil
	default:
		return false, fmt.Errorf("oauth: look up client: %w", err)
	}
}

// validClientID checks the shape of a client ID before any store work:
// IDs are "cli_" and a few dozen URL-safe characters.
func validClientID(id string) bool {
	if len(id) <= len(ClientIDPrefix) || len(id) > 64 || !strings.HasPrefix(id, ClientIDPrefix) {
		return false
	}
	for i := len(ClientIDPrefix); i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ClientIDPrefix starts every client ID.
const ClientIDPrefix = "cli_"

// clientCacheTTL bounds how long an entry is used. Without a change feed
// (one node) this node's own changes invalidate its entry at once; with
// one, another node's change (a rotated secret, a deleted client) drops it
// when the feed reports it, and the cache answers only while the feed
// vouches for it (client_feed.go).
const clientCacheTTL = 10 * time.Second

// clientCacheSize bounds the cache; when full it is emptied, which costs
// at most one store read per client.
const clientCacheSize = 4096

// clientCache is a small map of recently used clients.
type clientCache struct {
	mu      sync.RWMutex
	entries map[string]clientEntry
	gen     uint64         // counts invalidations, so reads older than one are not cached
	trust   *changes.Trust // with a change feed: whether entries may answer now; nil: always
}

type clientEntry struct {
	c       *auth.Client
	expires time.Time
}

func (cc *clientCache) get(id string, now time.Time) (*auth.Client, bool) {
	if cc.trust != nil && !cc.trust.Trusted() {
		return nil, false
	}
	cc.mu.RLock()
	e, ok := cc.entries[id]
	cc.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.c, true
}

func (cc *clientCache) put(c *auth.Client, now time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.putLocked(c, now)
}

// generation returns the number of invalidations so far; pass it to
// putIfCurrent with a client read from the store after this call.
func (cc *clientCache) generation() uint64 {
	cc.mu.RLock()
	defer cc.mu.RUnlock()
	return cc.gen
}

// putIfCurrent caches c unless an invalidation happened since gen was
// taken: c may then be the client as it was before an update, a secret
// rotation or a deletion, which must stop working at once.
func (cc *clientCache) putIfCurrent(c *auth.Client, now time.Time, gen uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.gen == gen {
		cc.putLocked(c, now)
	}
}

func (cc *clientCache) putLocked(c *auth.Client, now time.Time) {
	if cc.entries == nil || len(cc.entries) >= clientCacheSize {
		cc.entries = make(map[string]clientEntry)
	}
	cc.entries[c.ID] = clientEntry{c: c, expires: now.Add(clientCacheTTL)}
}

func (cc *clientCache) invalidate(id string) {
	cc.mu.Lock()
	delete(cc.entries, id)
	cc.gen++
	cc.mu.Unlock()
}

// forgetAll empties the cache, and keeps reads in flight from caching what
// they read.
func (cc *clientCache) forgetAll() {
	cc.mu.Lock()
	cc.entries = nil
	cc.gen++
	cc.mu.Unlock()
}

// MatchRedirectURI reports whether uri is one of c's registered redirect
// URIs. The comparison is exact (RFC 9700 4.1.3: no normalisation, no
// wildcards, no prefix matching), with one exception for public (native)
// clients, RFC 8252 7.3: a registered http://127.0.0.1/path or
// http://[::1]/path matches the same URI with any port, since the app
// picks a free port at run time. "localhost" gets no exception (RFC 8252
// 8.3 advises against it).
func MatchRedirectURI(c *auth.Client, uri string) bool {
	for _, r := range c.RedirectURIs {
		if r == uri {
			return true
		}
	}
	if !c.Public {
		return false
	}
	got, ok := stripLoopbackPort(uri)
	if !ok {
		return false
	}
	for _, r := range c.RedirectURIs {
		if want, ok := stripLoopbackPort(r); ok && want == got {
			return true
		}
	}
	return false
}

// stripLoopbackPort returns uri without its port when it is an http URI
// of the IPv4 or IPv6 loopback literal, and ok false for anything else.
func stripLoopbackPort(uri string) (string, bool) {
	var host string
	switch {
	case strings.HasPrefix(uri, "http://127.0.0.1"):
		host = "http://127.0.0.1"
	case strings.HasPrefix(uri, "http://[::1]"):
		host = "http://[::1]"
	default:
		return "", false
	}
	rest := uri[len(host):]
	if strings.HasPrefix(rest, ":") {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		port := rest[1:n]
		if len(port) == 0 || len(port) > 5 || port[0] == '0' {
			return "", false
		}
		if v := atoiDigits(port); v > 65535 {
			return "", false
		}
		rest = rest[n:]
	}
	// The host must end here, so that 127.0.0.1.example.com or
	// 127.0.0.1@evil never pass for a loopback address.
	if rest != "" && rest[0] != '/' && rest[0] != '?' {
		return "", false
	}
	return host + rest, true
}

func atoiDigits(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		v = v*10 + int(s[i]-'0')
	}
	return v
}

// parseScope parses a scope parameter with auth.ParseScope (RFC 6749 3.3,
// the one scope grammar): scope tokens separated by single spaces. It
// returns the tokens sorted and deduplicated, nil for "". Anything else is
// invalid_scope.
func parseScope(scope string) ([]string, error) {
	out, err := auth.ParseScope(scope)
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, auth.ErrScopeTooLong):
		return nil, errInvalidScope("The scope parameter is too long.")
	case errors.Is(err, auth.ErrScopeSpacing):
		return nil, errInvalidScope("The scope parameter must be scope tokens separated by single spaces.")
	case errors.Is(err, auth.ErrScopeTooMany):
		return nil, errInvalidScope("The scope parameter has too many scopes.")
	default:
		return nil, errInvalidScope("The scope parameter has a character scope tokens may not contain.")
	}
}

// grantScopes parses the requested scope string and checks that the client
// may ask for every scope in it (invalid_scope otherwise). The result is
// sorted and unique; an empty request grants no scope, the safe default of
// RFC 6749 3.3.
func (s *Server) grantScopes(c *auth.Client, requested string) ([]string, error) {
	scopes, err := parseScope(requested)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return nil, errInvalidScope("The client may not request the scope %q.", sc)
		}
	}
	return scopes, nil
}

// maxResources bounds the resource parameters of one request.
const maxResources = 16

// resolveAudiences turns the resource parameters of a request (RFC 8707)
// into the audiences of its tokens. Each must be an absolute URI without a
// fragment and one of the client's audiences (invalid_target otherwise).
// With none, the client's first audience is used; a client with no
// audiences gets the issuer as its only audience.
func (s *Server) resolveAudiences(c *auth.Client, resources []string) ([]string, error) {
	allowed := c.Audiences
	if len(allowed) == 0 {
		allowed = []string{s.issuer}
	}
	if len(resources) == 0 {
		return []string{allowed[0]}, nil
	}
	if len(resources) > maxResources {
		return nil, errInvalidTarget("Too many resource parameters.")
	}
	out := make([]string, 0, len(resources))
	for _, r := range resources {
		if !absoluteURI(r) {
			return nil, errInvalidTarget("A resource must be an absolute URI without a fragment.")
		}
		if !slices.Contains(allowed, r) {
			return nil, errInvalidTarget("The client may not request the resource %q.", r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// absoluteURI reports whether s is an absolute URI (with a scheme) without
// a fragment, as RFC 8707 2 requires of resource indicators.
func absoluteURI(s string) bool {
	if s == "" || len(s) > 2048 || strings.Contains(s, "#") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.IsAbs() && (u.Host != "" || u.Opaque != "")
}

// ClientInput is what the admin API and the CLI set on a client. Create and
// Update take every field; zero values pick the defaults documented per
// field.
type ClientInput struct {
	Name   string
	Public bool
	// AuthMethod is how the client authenticates at the token endpoint:
	// client_secret_basic (the default for confidential clients),
	// client_secret_post, private_key_jwt (requires JWKS), or none (the
	// only method, and the default, of public clients).
	AuthMethod string
	// JWKS is a JWK Set of the client's public keys, for private_key_jwt:
	// RSA (2048 bits or more), EC P-256 or Ed25519 keys; private or
	// symmetric keys are refused.
	JWKS []byte

	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// GrantTypes are from authorization_code, refresh_token and
	// client_credentials. Empty picks authorization_code and refresh_token
	// for a client with redirect URIs, and client_credentials for a
	// confidential client without.
	GrantTypes []string
	Scopes     []string
	// Audiences are the resource indicators (absolute URIs) the client may
	// ask tokens for; the first is the default.
	Audiences []string

	AccessTokenTTL     time.Duration // zero: the server default; else 1m..24h
	RefreshTokenTTL    time.Duration // idle lifetime; zero: the server default; else 1m..1 year
	RefreshTokenMaxTTL time.Duration // absolute lifetime; zero: the server default; else 1m..1 year
}

// Limits on client registrations.
const (
	maxClientName      = 200
	maxRedirectURIs    = 20
	maxURILength       = 2000
	maxClientScopes    = 100
	maxScopeTokenLen   = 128
	maxClientAudiences = 20
	maxJWKSBytes       = 64 << 10
	maxJWKSKeys        = 10
	minTokenTTL        = time.Minute
	maxAccessTokenTTL  = 24 * time.Hour
	maxRefreshTokenTTL = 365 * 24 * time.Hour
)

// CreateClient registers a client. For a confidential client using
// client_secret_basic or client_secret_post it returns the secret
// (gate_cs_...), which is stored only as a keyed hash and never shown
// again; "" for public and private_key_jwt clients. EINVALID (with a
// message that says which rule was broken) for bad input.
func (s *Server) CreateClient(ctx context.Context, actor string, in ClientInput) (*auth.Client, string, error) {
	c, err := s.clientFromInput(in)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	c.CreatedAt, c.UpdatedAt = now, now
	var secret string
	if usesSecret(c.AuthMethod) {
		var hash []byte
		secret, hash, err = s.newSecret(PrefixClientSecret)
		if err != nil {
			return nil, "", err
		}
		c.SecretHash, c.SecretHint, c.SecretRotatedAt = hash, secret[len(secret)-4:], now
	}
	// An ID collision (two nodes in one millisecond with equal random
	// bits) is retried with a new ID.
	for attempt := 0; ; attempt++ {
		if c.ID, err = auth.NewID(ClientIDPrefix, now); err != nil {
			return nil, "", err
		}
		err = s.store.CreateClient(ctx, c, clientEvent(auth.EventClientCreated, now, actor, c))
		if err == nil || auth.ErrorCode(err) != auth.ECONFLICT || attempt == 2 {
			break
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("oauth: create client: %w", err)
	}
	return c, secret, nil
}

// UpdateClient replaces the settings of a client with in. A client cannot
// switch between public and confidential (EINVALID). Moving to
// private_key_jwt drops its secret; moving from private_key_jwt to a
// secret method leaves it without a secret until RotateClientSecret
// issues one. ENOTFOUND if there is no such client.
func (s *Server) UpdateClient(ctx context.Context, actor, id string, in ClientInput) (*auth.Client, error) {
	old, err := s.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if in.Public != old.Public {
		return nil, auth.Errorf(auth.EINVALID, "A client cannot change between public and confidential; register a new client.")
	}
	c, err := s.clientFromInput(in)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, now
	if usesSecret(c.AuthMethod) {
		c.SecretHash, c.SecretHint, c.SecretRotatedAt = old.SecretHash, old.SecretHint, old.SecretRotatedAt
	}
	err = s.store.UpdateClient(ctx, c, old.UpdatedAt, clientEvent(auth.EventClientUpdated, now, actor, c))
	s.tokens.clients.invalidate(id)
	if err != nil {
		return nil, fmt.Errorf("oauth: update client: %w", err)
	}
	return c, nil
}

// RotateClientSecret replaces the secret of a client that authenticates
// with one and returns the new secret; the old one stops working at once.
// EINVALID for public and private_key_jwt clients; ENOTFOUND if there is
// no such client.
func (s *Server) RotateClientSecret(ctx context.Context, actor, id string) (*auth.Client, string, error) {
	old, err := s.GetClient(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if !usesSecret(old.AuthMethod) {
		return nil, "", auth.Errorf(auth.EINVALID, "The client authenticates with %s and has no secret.", old.AuthMethod)
	}
	secret, hash, err := s.newSecret(PrefixClientSecret)
	if err != nil {
		return nil, "", err
	}
	c := *old
	now := s.now()
	c.SecretHash, c.SecretHint, c.SecretRotatedAt, c.UpdatedAt = hash, secret[len(secret)-4:], now, now
	err = s.store.UpdateClient(ctx, &c, old.UpdatedAt, clientEvent(auth.EventClientSecretRotated, now, actor, &c))
	s.tokens.clients.invalidate(id)
	if err != nil {
		return nil, "", fmt.Errorf("oauth: rotate client secret: %w", err)
	}
	return &c, secret, nil
}

// DeleteClient removes a client with its codes, refresh tokens and
// consents; its unexpired access tokens go on the revocation list.
// ENOTFOUND if there is no such client.
func (s *Server) DeleteClient(ctx context.Context, actor, id string) error {
	if !validClientID(id) {
		return auth.Errorf(auth.ENOTFOUND, "Client not found.")
	}
	now := s.now()
	err := s.store.DeleteClient(ctx, id, now, auth.AuditEvent{
		Time: now, Type: auth.EventClientDeleted, Actor: actor, KeyID: id, Count: 1,
		Details: map[string]string{"client_id": id},
	})
	s.tokens.clients.invalidate(id)
	if err != nil {
		return fmt.Errorf("oauth: delete client: %w", err)
	}
	return nil
}

// GetClient returns a client from the store (not the cache). ENOTFOUND if
// there is no such client.
func (s *Server) GetClient(ctx context.Context, id string) (*auth.Client, error) {
	if !validClientID(id) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Client not found.")
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("oauth: get client: %w", err)
	}
	return c, nil
}

// ListClients returns one page of clients in ID order and the cursor of
// the next page ("" on the last).
func (s *Server) ListClients(ctx context.Context, f auth.ClientFilter) ([]*auth.Client, string, error) {
	if f.Limit < 0 {
		return nil, "", auth.Errorf(auth.EINVALID, "The limit must not be negative.")
	}
	if f.After != "" && !validClientID(f.After) {
		return nil, "", auth.Errorf(auth.EINVALID, "The cursor is not a client ID.")
	}
	cs, next, err := s.store.ListClients(ctx, f)
	if err != nil {
		return nil, "", fmt.Errorf("oauth: list clients: %w", err)
	}
	return cs, next, nil
}

func usesSecret(method string) bool {
	return method == auth.AuthMethodSecretBasic || method == auth.AuthMethodSecretPost
}

func clientEvent(typ string, now time.Time, actor string, c *auth.Client) auth.AuditEvent {
	return auth.AuditEvent{
		Time: now, Type: typ, Actor: actor, KeyID: c.ID, Count: 1,
		Details: map[string]string{"client_id": c.ID, "name": c.Name, "auth_method": c.AuthMethod},
	}
}

// clientFromInput validates in and returns the client it describes,
// without ID, secret or times.
func (s *Server) clientFromInput(in ClientInput) (*auth.Client, error) {
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		return nil, auth.Errorf(auth.EINVALID, "The name is required.")
	case len(name) > maxClientName:
		return nil, auth.Errorf(auth.EINVALID, "The name is longer than %d bytes.", maxClientName)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return nil, auth.Errorf(auth.EINVALID, "The name has control characters or invalid UTF-8.")
	}
	c := &auth.Client{Name: name, Public: in.Public, AuthMethod: in.AuthMethod}

	switch {
	case in.Public && (c.AuthMethod == "" || c.AuthMethod == auth.AuthMethodNone):
		c.AuthMethod = auth.AuthMethodNone
	case in.Public:
		return nil, auth.Errorf(auth.EINVALID, "A public client authenticates with none, not %q.", in.AuthMethod)
	case c.AuthMethod == "":
		c.AuthMethod = auth.AuthMethodSecretBasic
	case c.AuthMethod == auth.AuthMethodSecretBasic, c.AuthMethod == auth.AuthMethodSecretPost, c.AuthMethod == auth.AuthMethodPrivateKeyJWT:
	case c.AuthMethod == auth.AuthMethodNone:
		return nil, auth.Errorf(auth.EINVALID, "A confidential client must authenticate: the method none is for public clients.")
	default:
		return nil, auth.Errorf(auth.EINVALID, "Unknown authentication method %q: want client_secret_basic, client_secret_post or private_key_jwt.", in.AuthMethod)
	}
	if c.AuthMethod == auth.AuthMethodPrivateKeyJWT {
		jwks, err := validateJWKS(in.JWKS)
		if err != nil {
			return nil, err
		}
		c.JWKS = jwks
	} else if len(in.JWKS) > 0 {
		return nil, auth.Errorf(auth.EINVALID, "A JWKS is only for clients using private_key_jwt.")
	}

	var err error
	if c.RedirectURIs, err = validateRedirectURIs("redirect URI", in.RedirectURIs, in.Public); err != nil {
		return nil, err
	}
	if c.PostLogoutRedirectURIs, err = validateRedirectURIs("post-logout redirect URI", in.PostLogoutRedirectURIs, in.Public); err != nil {
		return nil, err
	}
	if c.GrantTypes, err = validateGrantTypes(in.GrantTypes, in.Public, len(c.RedirectURIs) > 0); err != nil {
		return nil, err
	}
	if c.Scopes, err = validateScopes(in.Scopes); err != nil {
		return nil, err
	}
	if c.Audiences, err = validateAudiences(in.Audiences); err != nil {
		return nil, err
	}
	if err := checkTTL("access token lifetime", in.AccessTokenTTL, maxAccessTokenTTL); err != nil {
		return nil, err
	}
	if err := checkTTL("refresh token idle lifetime", in.RefreshTokenTTL, maxRefreshTokenTTL); err != nil {
		return nil, err
	}
	if err := checkTTL("refresh token absolute lifetime", in.RefreshTokenMaxTTL, maxRefreshTokenTTL); err != nil {
		return nil, err
	}
	if in.RefreshTokenTTL != 0 && in.RefreshTokenMaxTTL != 0 && in.RefreshTokenMaxTTL < in.RefreshTokenTTL {
		return nil, auth.Errorf(auth.EINVALID, "The refresh token absolute lifetime is shorter than its idle lifetime.")
	}
	c.AccessTokenTTL, c.RefreshTokenTTL, c.RefreshTokenMaxTTL = in.AccessTokenTTL, in.RefreshTokenTTL, in.RefreshTokenMaxTTL
	return c, nil
}

func checkTTL(what string, d, max time.Duration) error {
	if d != 0 && (d < minTokenTTL || d > max) {
		return auth.Errorf(auth.EINVALID, "The %s must be between %s and %s.", what, minTokenTTL, max)
	}
	return nil
}

// validateRedirectURIs checks redirect URIs (RFC 9700 2.1, RFC 8252 7):
// absolute, without fragment, userinfo or wildcard; https, or http only
// on loopback hosts, or (public native clients only) a private-use scheme
// in reverse domain order like com.example.app:/cb.
func validateRedirectURIs(what string, uris []string, public bool) ([]string, error) {
	if len(uris) > maxRedirectURIs {
		return nil, auth.Errorf(auth.EINVALID, "A client may have at most %d %ss.", maxRedirectURIs, what)
	}
	var out []string
	for _, raw := range uris {
		if err := checkRedirectURI(raw, public); err != nil {
			return nil, auth.Errorf(auth.EINVALID, "Invalid %s %q: %s.", what, truncate(raw, 100), err.Error())
		}
		if !slices.Contains(out, raw) {
			out = append(out, raw)
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// checkRedirectURI returns why raw is not an acceptable redirect URI.
func checkRedirectURI(raw string, public bool) error {
	switch {
	case raw == "":
		return errors.New("it is empty")
	case len(raw) > maxURILength:
		return fmt.Errorf("it is longer than %d bytes", maxURILength)
	case strings.ContainsAny(raw, "#"):
		return errors.New("it has a fragment")
	case strings.Contains(raw, "*"):
		return errors.New("wildcards are not allowed")
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= 0x20 || raw[i] >= 0x7f {
			return errors.New("it has spaces, control or non-ASCII characters (percent-encode them)")
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return errors.New("it is not an absolute URI")
	}
	if u.User != nil {
		return errors.New("it has user information")
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" || u.Hostname() == "" {
			return errors.New("it has no host")
		}
	case "http":
		switch u.Hostname() {
		case "127.0.0.1", "::1", "localhost":
		default:
			return errors.New("http is allowed only on loopback hosts (127.0.0.1, [::1], localhost); use https")
		}
		if !strings.HasPrefix(raw, "http://"+u.Host) {
			return errors.New("it is not in canonical form")
		}
	default:
		if !public {
			return errors.New("private-use URI schemes are only for public (native) clients")
		}
		if !strings.Contains(u.Scheme, ".") {
			return errors.New("a private-use URI scheme must be a reversed domain name like com.example.app (RFC 8252 7.1)")
		}
	}
	return nil
}

var knownGrants = []string{auth.GrantAuthorizationCode, auth.GrantClientCredentials, auth.GrantRefreshToken}

func validateGrantTypes(in []string, public, hasRedirects bool) ([]string, error) {
	grants := slices.Clone(in)
	if len(grants) == 0 {
		switch {
		case hasRedirects:
			grants = []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken}
		case !public:
			grants = []string{auth.GrantClientCredentials}
		default:
			return nil, auth.Errorf(auth.EINVALID, "A public client needs a redirect URI for the authorization_code grant.")
		}
	}
	for _, g := range grants {
		if !slices.Contains(knownGrants, g) {
			return nil, auth.Errorf(auth.EINVALID, "Unknown grant type %q: want authorization_code, refresh_token or client_credentials.", truncate(g, 60))
		}
	}
	slices.Sort(grants)
	grants = slices.Compact(grants)
	has := func(g string) bool { return slices.Contains(grants, g) }
	switch {
	case public && has(auth.GrantClientCredentials):
		return nil, auth.Errorf(auth.EINVALID, "The client_credentials grant is only for confidential clients.")
	case has(auth.GrantAuthorizationCode) && !hasRedirects:
		return nil, auth.Errorf(auth.EINVALID, "The authorization_code grant needs at least one redirect URI.")
	case !has(auth.GrantAuthorizationCode) && hasRedirects:
		return nil, auth.Errorf(auth.EINVALID, "Redirect URIs are only for the authorization_code grant.")
	case has(auth.GrantRefreshToken) && !has(auth.GrantAuthorizationCode):
		return nil, auth.Errorf(auth.EINVALID, "The refresh_token grant needs the authorization_code grant.")
	}
	return grants, nil
}

func validateScopes(in []string) ([]string, error) {
	if len(in) > maxClientScopes {
		return nil, auth.Errorf(auth.EINVALID, "A client may have at most %d scopes.", maxClientScopes)
	}
	if len(in) == 0 {
		return slices.Clone(in), nil
	}
	out, bad, ok := auth.CheckScopes(in)
	if !ok {
		if sc := in[bad]; sc == "" || len(sc) > maxScopeTokenLen {
			return nil, auth.Errorf(auth.EINVALID, "A scope must have 1 to %d characters.", maxScopeTokenLen)
		}
		return nil, auth.Errorf(auth.EINVALID, "The scope %q has a character RFC 6749 3.3 does not allow.", truncate(in[bad], 60))
	}
	return out, nil
}

func validateAudiences(in []string) ([]string, error) {
	if len(in) > maxClientAudiences {
		return nil, auth.Errorf(auth.EINVALID, "A client may have at most %d audiences.", maxClientAudiences)
	}
	var out []string
	for _, a := range in {
		if !absoluteURI(a) {
			return nil, auth.Errorf(auth.EINVALID, "The audience %q is not an absolute URI without a fragment.", truncate(a, 100))
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// privateJWKMembers are the members that only private or symmetric keys
// have (RFC 7518 6.2.2, 6.3.2, 6.4, RFC 8037 2).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// validateJWKS checks a client's JWK Set: public signing keys only, of the
// types the client assertions may be signed with, and returns it
// compacted.
func validateJWKS(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, auth.Errorf(auth.EINVALID, "A client using private_key_jwt needs a JWKS.")
	}
	if len(raw) > maxJWKSBytes {
		return nil, auth.Errorf(auth.EINVALID, "The JWKS is larger than %d bytes.", maxJWKSBytes)
	}
	var doc struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, auth.Errorf(auth.EINVALID, "The JWKS is not a JSON JWK Set.")
	}
	if len(doc.Keys) == 0 || len(doc.Keys) > maxJWKSKeys {
		return nil, auth.Errorf(auth.EINVALID, "The JWKS must have 1 to %d keys.", maxJWKSKeys)
	}
	for i, members := range doc.Keys {
		for _, m := range privateJWKMembers {
			if _, ok := members[m]; ok {
				return nil, auth.Errorf(auth.EINVALID, "Key %d of the JWKS is private or symmetric (member %q); register public keys only.", i, m)
			}
		}
		one, _ := json.Marshal(members)
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(one); err != nil {
			return nil, auth.Errorf(auth.EINVALID, "Key %d of the JWKS is not a valid JWK.", i)
		}
		if err := checkClientKey(&k); err != nil {
			return nil, auth.Errorf(auth.EINVALID, "Key %d of the JWKS: %s.", i, err.Error())
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, auth.Errorf(auth.EINVALID, "The JWKS is not valid JSON.")
	}
	return buf.Bytes(), nil
}

// checkClientKey accepts public RSA keys of 2048 bits or more (RS256), EC
// P-256 keys (ES256) and Ed25519 keys (EdDSA), for signing only.
func checkClientKey(k *jose.JSONWebKey) error {
	if !k.Valid() || !k.IsPublic() {
		return errors.New("not a valid public key")
	}
	if k.Use != "" && k.Use != "sig" {
		return errors.New(`its "use" is not "sig"`)
	}
	want := ""
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return errors.New("RSA keys must have at least 2048 bits")
		}
		want = string(jose.RS256)
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return errors.New("EC keys must be on P-256 (ES256)")
		}
		want = string(jose.ES256)
	case ed25519.PublicKey:
		want = string(jose.EdDSA)
	default:
		return errors.New("want an RSA, EC P-256 or Ed25519 public key")
	}
	if k.Algorithm != "" && k.Algorithm != want {
		return fmt.Errorf("its alg must be %s", want)
	}
	return nil
}
