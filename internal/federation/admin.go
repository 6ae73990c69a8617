package federation

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Limits on a provider's configuration.
const (
	maxURLLength    = 2048
	maxClaimLength  = 128
	maxScopes       = 32
	maxScopeLength  = 128
	maxSecretLength = 1024
	maxDisplayName  = 64
	maxClientID     = 512
)

// Input is a provider as an administrator writes it. On update, a nil
// pointer leaves the field as it is.
type Input struct {
	Name             string
	DisplayName      *string
	Kind             *string
	Issuer           *string
	ClientID         *string
	ClientSecret     *string // stored sealed; "" removes it
	AuthMethod       *string
	Scopes           *[]string
	ClaimMapping     *map[string]string
	AuthorizationURL *string
	TokenURL         *string
	UserinfoURL      *string
	EmailsURL        *string
	UsernameClaim    *string
	CreateUsers      *bool
	Enabled          *bool
	TrustEmail       *bool
}

// Create validates in and stores a new provider (enabled and creating
// users unless in says otherwise). EINVALID for a bad field, ECONFLICT if
// the name is taken.
func (s *Service) Create(ctx context.Context, actor string, in Input) (*auth.Provider, error) {
	now := s.now()
	p := &auth.Provider{Name: in.Name, Kind: auth.ProviderOIDC, CreateUsers: true, Enabled: true, CreatedAt: now}
	if err := s.apply(p, in, now); err != nil {
		return nil, err
	}
	if err := s.cfg.Store.CreateProvider(ctx, p, providerEvent(auth.EventProviderCreated, actor, p, now)); err != nil {
		return nil, err
	}
	return p, nil
}

// Update applies the non-nil fields of in to the provider named in.Name.
// ENOTFOUND if there is none; EINVALID for a bad field.
func (s *Service) Update(ctx context.Context, actor string, in Input) (*auth.Provider, error) {
	p, err := s.Get(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.apply(p, in, now); err != nil {
		return nil, err
	}
	if err := s.cfg.Store.UpdateProvider(ctx, p, providerEvent(auth.EventProviderUpdated, actor, p, now)); err != nil {
		return nil, err
	}
	s.forget(p.Name)
	return p, nil
}

// Get returns the provider, or ENOTFOUND.
func (s *Service) Get(ctx context.Context, name string) (*auth.Provider, error) {
	if !auth.ValidProviderName(name) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Provider not found.")
	}
	return s.cfg.Store.GetProvider(ctx, name)
}

// List returns every provider in name order.
func (s *Service) List(ctx context.Context) ([]*auth.Provider, error) {
	return s.cfg.Store.ListProviders(ctx)
}

// Delete removes the provider and every link to it. ENOTFOUND if there is
// none.
func (s *Service) Delete(ctx context.Context, actor, name string) error {
	if !auth.ValidProviderName(name) {
		return auth.Errorf(auth.ENOTFOUND, "Provider not found.")
	}
	ev := auth.AuditEvent{Time: s.now(), Type: auth.EventProviderDeleted, Actor: actor, KeyID: name, Count: 1}
	if err := s.cfg.Store.DeleteProvider(ctx, name, ev); err != nil {
		return err
	}
	s.forget(name)
	return nil
}

func providerEvent(typ, actor string, p *auth.Provider, now time.Time) auth.AuditEvent {
	return auth.AuditEvent{Time: now, Type: typ, Actor: actor, KeyID: p.Name, Count: 1, Details: map[string]string{
		"kind": p.Kind, "issuer": p.Issuer, "client_id": p.ClientID, "enabled": fmt.Sprint(p.Enabled),
	}}
}

// apply validates in's fields onto p.
func (s *Service) apply(p *auth.Provider, in Input, now time.Time) error {
	if !auth.ValidProviderName(p.Name) {
		return auth.Errorf(auth.EINVALID, "The name must have 1 to %d lower-case letters, digits and hyphens.", auth.MaxProviderNameLength)
	}
	set(&p.DisplayName, in.DisplayName)
	set(&p.Kind, in.Kind)
	set(&p.Issuer, in.Issuer)
	set(&p.ClientID, in.ClientID)
	set(&p.AuthMethod, in.AuthMethod)
	set(&p.AuthorizationURL, in.AuthorizationURL)
	set(&p.TokenURL, in.TokenURL)
	set(&p.UserinfoURL, in.UserinfoURL)
	set(&p.EmailsURL, in.EmailsURL)
	set(&p.UsernameClaim, in.UsernameClaim)
	set(&p.CreateUsers, in.CreateUsers)
	set(&p.Enabled, in.Enabled)
	set(&p.TrustEmail, in.TrustEmail)
	if in.Scopes != nil {
		p.Scopes = slices.Clone(*in.Scopes)
	}
	if in.ClaimMapping != nil {
		p.ClaimMapping = map[string]string{}
		for k, v := range *in.ClaimMapping {
			p.ClaimMapping[k] = v
		}
	}
	if p.AuthMethod == "" {
		p.AuthMethod = auth.AuthMethodSecretBasic
	}
	if len(p.Scopes) == 0 && p.Kind == auth.ProviderOIDC {
		p.Scopes = []string{"openid", "email", "profile"}
	}
	if err := check(p); err != nil {
		return err
	}
	if in.ClientSecret != nil {
		if len(*in.ClientSecret) > maxSecretLength {
			return auth.Errorf(auth.EINVALID, "The client secret must be at most %d bytes.", maxSecretLength)
		}
		p.ClientSecret = nil
		if *in.ClientSecret != "" {
			p.ClientSecret = s.cfg.Sealer.Seal(secretKID(p.Name), []byte(*in.ClientSecret))
		}
	}
	p.UpdatedAt = now
	return nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// check validates a provider's fields.
func check(p *auth.Provider) error {
	switch p.Kind {
	case auth.ProviderOIDC, auth.ProviderOAuth2:
	default:
		return auth.Errorf(auth.EINVALID, "The kind must be %q or %q.", auth.ProviderOIDC, auth.ProviderOAuth2)
	}
	if len(p.DisplayName) > maxDisplayName || strings.ContainsFunc(p.DisplayName, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return auth.Errorf(auth.EINVALID, "The display name must be at most %d characters of text.", maxDisplayName)
	}
	if err := CheckURL("issuer", p.Issuer); err != nil {
		return err
	}
	if p.ClientID == "" || len(p.ClientID) > maxClientID {
		return auth.Errorf(auth.EINVALID, "The client ID is required (at most %d bytes).", maxClientID)
	}
	if p.AuthMethod != auth.AuthMethodSecretBasic && p.AuthMethod != auth.AuthMethodSecretPost {
		return auth.Errorf(auth.EINVALID, "The client authentication method must be %q or %q.", auth.AuthMethodSecretBasic, auth.AuthMethodSecretPost)
	}
	for what, u := range map[string]string{
		"authorization URL": p.AuthorizationURL, "token URL": p.TokenURL,
		"userinfo URL": p.UserinfoURL, "emails URL": p.EmailsURL,
	} {
		if u == "" {
			continue
		}
		if err := CheckURL(what, u); err != nil {
			return err
		}
	}
	if p.Kind == auth.ProviderOAuth2 && (p.AuthorizationURL == "" || p.TokenURL == "" || p.UserinfoURL == "") {
		return auth.Errorf(auth.EINVALID, "An oauth2 provider needs an authorization URL, a token URL and a userinfo URL.")
	}
	if p.Kind == auth.ProviderOIDC && !slices.Contains(p.Scopes, "openid") {
		return auth.Errorf(auth.EINVALID, "The scopes of an OpenID Connect provider must include openid.")
	}
	if len(p.Scopes) > maxScopes {
		return auth.Errorf(auth.EINVALID, "At most %d scopes.", maxScopes)
	}
	for _, sc := range p.Scopes {
		if !validScope(sc) {
			return auth.Errorf(auth.EINVALID, "The scope %q is not a valid scope token.", sc)
		}
	}
	if err := CheckClaimMapping(p.ClaimMapping); err != nil {
		return err
	}
	if p.UsernameClaim != "" && !validClaimName(p.UsernameClaim) {
		return auth.Errorf(auth.EINVALID, "The username claim is not a valid claim name.")
	}
	return nil
}

// validScope reports whether sc is a scope token (RFC 6749 3.3).
func validScope(sc string) bool {
	if sc == "" || len(sc) > maxScopeLength {
		return false
	}
	for i := 0; i < len(sc); i++ {
		c := sc[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// CheckURL refuses (EINVALID) a URL that is not absolute https, or http to
// a loopback host, or that carries credentials or a fragment: what the
// server sends users and secrets to must not be readable on the path.
func CheckURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxURLLength || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return auth.Errorf(auth.EINVALID, "The %s must be an absolute URL without credentials or fragment.", what)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); strings.EqualFold(h, "localhost") || isLoopbackIP(h) {
			return nil
		}
	}
	return auth.Errorf(auth.EINVALID, "The %s must use https (http only to a loopback host).", what)
}

func isLoopbackIP(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
