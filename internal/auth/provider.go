package auth

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"
)

// Kinds of upstream identity provider.
const (
	// ProviderOIDC is an OpenID Connect provider: endpoints from its
	// discovery document, identity from a verified ID token.
	ProviderOIDC = "oidc"
	// ProviderOAuth2 is a plain OAuth 2.0 provider (GitHub's shape): the
	// identity comes from its userinfo URL through the claim mapping.
	ProviderOAuth2 = "oauth2"
)

// Claim mapping keys: the attributes Gatehouse reads from an upstream
// identity, each mapped to the upstream claim (or userinfo member) that
// holds it.
const (
	ClaimSubject       = "sub"
	ClaimEmail         = "email"
	ClaimEmailVerified = "email_verified"
	ClaimName          = "name"
)

// MaxProviderNameLength bounds a provider's name, which appears in URLs.
const MaxProviderNameLength = 32

// Provider is an upstream identity provider users may sign in through.
type Provider struct {
	Name        string // [a-z0-9-], in /oauth2/providers/{name}; the key
	DisplayName string // shown on the login page; "" shows Name
	Kind        string // ProviderOIDC or ProviderOAuth2
	Issuer      string // the upstream's issuer (OIDC: discovery, iss checks)
	ClientID    string
	// ClientSecret is the sealed client secret (signing.Sealer, bound to
	// the provider's name); nil for a public client.
	ClientSecret []byte
	AuthMethod   string   // AuthMethodSecretBasic or AuthMethodSecretPost
	Scopes       []string // asked for at the upstream, in order
	// ClaimMapping maps a Claim* key to the upstream claim that holds it;
	// a key left out takes the kind's default.
	ClaimMapping map[string]string
	// Endpoints; for ProviderOIDC they override discovery when set.
	AuthorizationURL string
	TokenURL         string
	UserinfoURL      string
	// EmailsURL lists the account's addresses with their verification
	// (GitHub's /user/emails shape); "" for none.
	EmailsURL string
	// UsernameClaim is the claim a new account's username is taken from.
	UsernameClaim string
	// CreateUsers creates an account on the first sign-in of an unknown
	// upstream identity (just in time); otherwise such an identity must be
	// linked by a signed-in user first.
	CreateUsers bool
	Enabled     bool
	// TrustEmail lets a sign-in through this provider link to the local
	// account with the same verified address, when the server allows it
	// too (identity.link_verified_email). Off by default: only for a
	// provider whose email_verified the operator trusts (Keycloak's
	// "trust email").
	TrustEmail bool

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Mapped returns the upstream claim that holds key: the provider's mapping,
// else the kind's default.
func (p *Provider) Mapped(key string) string {
	if c := p.ClaimMapping[key]; c != "" {
		return c
	}
	if p.Kind == ProviderOAuth2 {
		switch key {
		case ClaimSubject:
			return "id"
		case ClaimEmailVerified:
			return "" // from EmailsURL only
		}
	}
	return key
}

// Username returns the claim new usernames are taken from.
func (p *Provider) Username() string {
	if p.UsernameClaim != "" {
		return p.UsernameClaim
	}
	if p.Kind == ProviderOAuth2 {
		return "login"
	}
	return "preferred_username"
}

// ValidProviderName reports whether name may name a provider: 1 to
// MaxProviderNameLength lower-case letters, digits and hyphens, starting
// with a letter or digit.
func ValidProviderName(name string) bool {
	if name == "" || len(name) > MaxProviderNameLength || name[0] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// CheckStorable returns EINVALID if p has no valid name, kind or issuer, or
// holds text no backend can store.
func (p *Provider) CheckStorable() error {
	switch {
	case p == nil:
		return Errorf(EINVALID, "Provider is missing.")
	case !ValidProviderName(p.Name):
		return Errorf(EINVALID, "Provider name must have 1 to %d lower-case letters, digits and hyphens.", MaxProviderNameLength)
	case p.Kind != ProviderOIDC && p.Kind != ProviderOAuth2:
		return Errorf(EINVALID, "Provider kind must be %q or %q.", ProviderOIDC, ProviderOAuth2)
	case p.Issuer == "" || p.ClientID == "":
		return Errorf(EINVALID, "Provider issuer and client ID are required.")
	}
	if err := CheckText("Provider", p.Name, p.DisplayName, p.Kind, p.Issuer, p.ClientID, p.AuthMethod,
		p.AuthorizationURL, p.TokenURL, p.UserinfoURL, p.EmailsURL, p.UsernameClaim); err != nil {
		return err
	}
	if err := CheckLists("Provider scope", p.Scopes); err != nil {
		return err
	}
	return CheckLists("Provider claim mapping", slices.Collect(maps.Keys(p.ClaimMapping)), slices.Collect(maps.Values(p.ClaimMapping)))
}

// ProviderLink ties an upstream identity (provider, subject) to a local
// user. A user has at most one link per provider.
type ProviderLink struct {
	Provider   string
	Subject    string // the upstream's stable identifier of the account
	UserID     string
	Email      string // the upstream address when linked, for display
	CreatedAt  time.Time
	LastUsedAt time.Time // last sign-in through it; zero: never
}

// CheckStorable returns EINVALID if l lacks a provider, subject or user, or
// holds text no backend can store.
func (l *ProviderLink) CheckStorable() error {
	switch {
	case l == nil:
		return Errorf(EINVALID, "Provider link is missing.")
	case l.Provider == "" || l.Subject == "" || l.UserID == "":
		return Errorf(EINVALID, "Provider link needs a provider, a subject and a user.")
	}
	return CheckText("Provider link", l.Provider, l.Subject, l.UserID, l.Email)
}

// ProviderStore keeps upstream identity providers and the links of users
// to upstream identities.
type ProviderStore interface {
	// CreateProvider inserts p. ECONFLICT if the name exists.
	CreateProvider(ctx context.Context, p *Provider, events ...AuditEvent) error
	// GetProvider returns the provider, or ENOTFOUND.
	GetProvider(ctx context.Context, name string) (*Provider, error)
	// ListProviders returns every provider in name order.
	ListProviders(ctx context.Context) ([]*Provider, error)
	// UpdateProvider replaces every field of the stored provider with p's
	// (but CreatedAt). ENOTFOUND if it does not exist.
	UpdateProvider(ctx context.Context, p *Provider, events ...AuditEvent) error
	// DeleteProvider removes the provider and, in the same transaction,
	// its links. ENOTFOUND if it does not exist.
	DeleteProvider(ctx context.Context, name string, events ...AuditEvent) error

	// CreateProviderLink inserts l. ENOTFOUND if the provider or the user
	// does not exist; ECONFLICT if the upstream identity is linked already,
	// or the user has a link to that provider.
	CreateProviderLink(ctx context.Context, l *ProviderLink, events ...AuditEvent) error
	// CreateUserWithLink inserts u and l (whose UserID is u.ID) in one
	// transaction: a user created just in time never exists without its
	// link. ECONFLICT (and nothing written) if the username is taken or the
	// upstream identity is linked already.
	CreateUserWithLink(ctx context.Context, u *User, l *ProviderLink, events ...AuditEvent) error
	// GetProviderLink returns the link of the upstream identity, or
	// ENOTFOUND.
	GetProviderLink(ctx context.Context, provider, subject string) (*ProviderLink, error)
	// ListUserProviderLinks returns the links of a user in provider order.
	ListUserProviderLinks(ctx context.Context, userID string) ([]*ProviderLink, error)
	// TouchProviderLink sets LastUsedAt of the link to at if later.
	// Unknown links are ignored.
	TouchProviderLink(ctx context.Context, provider, subject string, at time.Time) error
	// DeleteProviderLink removes the user's link to the provider.
	// ENOTFOUND if there is none.
	DeleteProviderLink(ctx context.Context, provider, userID string, events ...AuditEvent) error
	// ListUsersByEmail returns the users whose address equals email,
	// compared case-insensitively (ASCII), in ID order, at most limit.
	ListUsersByEmail(ctx context.Context, email string, limit int) ([]*User, error)
}

// NormalizeEmail folds an address for comparison as both backends do:
// ASCII letters in lower case, everything else unchanged.
func NormalizeEmail(email string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, email)
}
