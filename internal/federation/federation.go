// Package federation signs users in through upstream identity providers:
// OpenID Connect providers (discovery, ID tokens verified with the
// provider's JWKS through the verify package) and plain OAuth 2.0
// providers with a userinfo URL (GitHub's shape). It keeps the providers'
// configuration (client secrets sealed at rest), runs the authorization
// code flow with PKCE, state and nonce (RFC 6749, RFC 7636, OIDC Core),
// checks the RFC 9207 iss parameter, and resolves an upstream identity to
// a local account: an existing link, a verified e-mail address when the
// operator allows it, or an account created just in time.
package federation

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// PathPrefix is where a provider's endpoints live, relative to the issuer:
// PathPrefix+name starts a sign-in, PathPrefix+name+"/callback" is the
// redirect URI registered at the upstream.
const PathPrefix = "/oauth2/providers/"

// Store is what the service keeps and reads.
type Store interface {
	auth.ProviderStore
	GetUser(ctx context.Context, id string) (*auth.User, error)
	GetUserByUsername(ctx context.Context, username string) (*auth.User, error)
	AppendAuditEvents(ctx context.Context, events ...auth.AuditEvent) error
}

// Sealer encrypts client secrets and the pending-flow cookie;
// *signing.Sealer (AES-256-GCM with the kid as additional data) is the one
// used, keyed with DeriveSealingKey.
type Sealer interface {
	Seal(kid string, plaintext []byte) []byte
	Open(kid string, sealed []byte) ([]byte, error)
}

// sealingKeyInfo is the HKDF info of the key that seals provider secrets:
// its own label, so that the key is independent of every other key derived
// from the server secret.
const sealingKeyInfo = "gatehouse identity-provider secrets v1"

// DeriveSealingKey derives the 32-byte AES key that seals provider client
// secrets and pending sign-ins from the server secret (HKDF-SHA-256).
func DeriveSealingKey(serverSecret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, serverSecret, nil, sealingKeyInfo, 32)
}

// Config configures a Service.
type Config struct {
	Store  Store
	Sealer Sealer
	// Issuer is this server's issuer: redirect URIs are under it.
	Issuer string
	// HTTPClient calls the upstreams; the default has a 10s timeout and
	// follows no redirect.
	HTTPClient *http.Client
	// LinkVerifiedEmail links an unknown upstream identity to the one
	// local account with the same verified address, when the provider
	// says the address is verified (identity.link_verified_email).
	LinkVerifiedEmail bool
	// InsecureCookies drops Secure and the __Host- prefix (plain-HTTP
	// development only).
	InsecureCookies bool
	// FlowTTL bounds the time from the start of a sign-in at the upstream
	// to its callback; default 10 minutes.
	FlowTTL time.Duration
	// DiscoveryTTL is how long a discovery document is cached; default 1h.
	DiscoveryTTL time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
	// Passkeys tells whether a user has a passkey that signs in
	// (*passkey.Service): a way in, so that Unlink lets a user without a
	// password remove their last provider link. nil: passkeys are not
	// served, and count for nothing.
	Passkeys PasskeyChecker
}

// PasskeyChecker reports whether a user has a passkey that may sign in.
type PasskeyChecker interface {
	Registered(ctx context.Context, userID string) (bool, error)
}

// Service manages providers and runs upstream sign-ins. It is safe for
// concurrent use; Close stops the key-set refreshes it started.
type Service struct {
	cfg Config
	now func() time.Time
	log *slog.Logger

	mu        sync.Mutex
	discovery map[string]cachedMetadata // by issuer
	verifiers map[string]*cachedVerifier
	closed    bool
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Issuer == "" {
		return nil, errors.New("federation: Store, Sealer and Issuer are required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.FlowTTL <= 0 {
		cfg.FlowTTL = 10 * time.Minute
	}
	if cfg.DiscoveryTTL <= 0 {
		cfg.DiscoveryTTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = auth.SystemNow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		cfg: cfg, now: cfg.Now, log: cfg.Logger,
		discovery: map[string]cachedMetadata{},
		verifiers: map[string]*cachedVerifier{},
	}, nil
}

// Close stops the background refresh of the providers' key sets.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for name, v := range s.verifiers {
		v.verifier.Close()
		delete(s.verifiers, name)
	}
}

// RedirectURI is the redirect URI to register at the upstream for the
// provider name: <issuer>/oauth2/providers/<name>/callback.
func (s *Service) RedirectURI(name string) string { return RedirectURI(s.cfg.Issuer, name) }

// RedirectURI is the redirect URI of provider name under issuer.
func RedirectURI(issuer, name string) string { return issuer + PathPrefix + name + "/callback" }

// secretKID binds a sealed client secret to its provider.
func secretKID(name string) string { return "provider-secret:" + name }

// clientSecret opens the provider's sealed client secret ("" for none).
func (s *Service) clientSecret(p *auth.Provider) (string, error) {
	if len(p.ClientSecret) == 0 {
		return "", nil
	}
	b, err := s.cfg.Sealer.Open(secretKID(p.Name), p.ClientSecret)
	if err != nil {
		return "", fmt.Errorf("federation: provider %s: %w", p.Name, err)
	}
	return string(b), nil
}

// Enabled returns the enabled providers in name order, for the login page.
func (s *Service) Enabled(ctx context.Context) ([]*auth.Provider, error) {
	all, err := s.cfg.Store.ListProviders(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, p := range all {
		if p.Enabled {
			out = append(out, p)
		}
	}
	return out, nil
}

// enabled returns the enabled provider name, or ENOTFOUND.
func (s *Service) enabled(ctx context.Context, name string) (*auth.Provider, error) {
	if !auth.ValidProviderName(name) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Provider not found.")
	}
	p, err := s.cfg.Store.GetProvider(ctx, name)
	if err != nil {
		return nil, err
	}
	if !p.Enabled {
		return nil, auth.Errorf(auth.ENOTFOUND, "Provider not found.")
	}
	return p, nil
}

// Label is what the login page calls the provider.
func Label(p *auth.Provider) string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.Name
}
