package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
)

// ProviderService is what the API needs to manage upstream identity
// providers (*federation.Service).
type ProviderService interface {
	Create(ctx context.Context, actor string, in federation.Input) (*auth.Provider, error)
	Update(ctx context.Context, actor string, in federation.Input) (*auth.Provider, error)
	Get(ctx context.Context, name string) (*auth.Provider, error)
	List(ctx context.Context) ([]*auth.Provider, error)
	Delete(ctx context.Context, actor, name string) error
	RedirectURI(name string) string
}

var _ ProviderService = (*federation.Service)(nil)

const providersPath = "/admin/v1/providers"

func errNoProviders() error {
	return auth.Errorf(auth.ENOTFOUND, "Upstream identity providers are not served on this node.")
}

func providerInput(req ProviderRequest) federation.Input {
	return federation.Input{
		Name: req.Name, DisplayName: req.DisplayName, Kind: req.Kind, Issuer: req.Issuer, ClientID: req.ClientID,
		ClientSecret: req.ClientSecret, AuthMethod: req.AuthMethod, Scopes: req.Scopes, ClaimMapping: req.ClaimMapping,
		AuthorizationURL: req.AuthorizationURL, TokenURL: req.TokenURL, UserinfoURL: req.UserinfoURL,
		EmailsURL: req.EmailsURL, UsernameClaim: req.UsernameClaim, CreateUsers: req.CreateUsers, Enabled: req.Enabled,
		TrustEmail: req.TrustEmail,
	}
}

func (s *Server) providerView(p *auth.Provider) Provider {
	mapping := p.ClaimMapping
	if mapping == nil {
		mapping = map[string]string{}
	}
	return Provider{
		Name: p.Name, DisplayName: p.DisplayName, Kind: p.Kind, Issuer: p.Issuer, ClientID: p.ClientID,
		ClientSecretSet: len(p.ClientSecret) > 0, AuthMethod: p.AuthMethod, Scopes: append([]string{}, p.Scopes...),
		ClaimMapping: mapping, AuthorizationURL: p.AuthorizationURL, TokenURL: p.TokenURL, UserinfoURL: p.UserinfoURL,
		EmailsURL: p.EmailsURL, UsernameClaim: p.UsernameClaim, CreateUsers: p.CreateUsers, Enabled: p.Enabled, TrustEmail: p.TrustEmail,
		RedirectURI: s.providers.RedirectURI(p.Name), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}

// handleCreateProvider serves POST /admin/v1/providers: 201 with the
// provider and the redirect URI to register at the upstream.
func (s *Server) handleCreateProvider(w http.ResponseWriter, r *http.Request) error {
	if s.providers == nil {
		return errNoProviders()
	}
	var req ProviderRequest
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &req); err != nil {
		return err
	}
	p, err := s.providers.Create(r.Context(), actorOf(r), providerInput(req))
	if err != nil {
		return fmt.Errorf("admin: create provider: %w", err)
	}
	w.Header().Set("Location", providersPath+"/"+url.PathEscape(p.Name))
	s.writeJSON(w, r, http.StatusCreated, s.providerView(p))
	return nil
}

// handleListProviders serves GET /admin/v1/providers.
func (s *Server) handleListProviders(w http.ResponseWriter, r *http.Request) error {
	if s.providers == nil {
		return errNoProviders()
	}
	ps, err := s.providers.List(r.Context())
	if err != nil {
		return fmt.Errorf("admin: list providers: %w", err)
	}
	out := ProviderList{Items: make([]Provider, 0, len(ps))}
	for _, p := range ps {
		out.Items = append(out.Items, s.providerView(p))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// handleGetProvider serves GET /admin/v1/providers/{name}.
func (s *Server) handleGetProvider(w http.ResponseWriter, r *http.Request) error {
	if s.providers == nil {
		return errNoProviders()
	}
	name, err := pathValue(r, "name", "provider name")
	if err != nil {
		return err
	}
	p, err := s.providers.Get(r.Context(), name)
	if err != nil {
		return fmt.Errorf("admin: get provider: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, s.providerView(p))
	return nil
}

// handleUpdateProvider serves PATCH /admin/v1/providers/{name}: the
// members given replace the stored ones.
func (s *Server) handleUpdateProvider(w http.ResponseWriter, r *http.Request) error {
	if s.providers == nil {
		return errNoProviders()
	}
	name, err := pathValue(r, "name", "provider name")
	if err != nil {
		return err
	}
	var req ProviderRequest
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &req); err != nil {
		return err
	}
	if req.Name != "" && req.Name != name {
		return auth.Errorf(auth.EINVALID, "A provider cannot be renamed.")
	}
	req.Name = name
	p, err := s.providers.Update(r.Context(), actorOf(r), providerInput(req))
	if err != nil {
		return fmt.Errorf("admin: update provider: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, s.providerView(p))
	return nil
}

// handleDeleteProvider serves DELETE /admin/v1/providers/{name}: the
// provider and every link of a user to it go.
func (s *Server) handleDeleteProvider(w http.ResponseWriter, r *http.Request) error {
	if s.providers == nil {
		return errNoProviders()
	}
	name, err := pathValue(r, "name", "provider name")
	if err != nil {
		return err
	}
	if err := s.providers.Delete(r.Context(), actorOf(r), name); err != nil {
		return fmt.Errorf("admin: delete provider: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// CreateProvider creates an upstream identity provider.
func (c *Client) CreateProvider(ctx context.Context, req ProviderRequest) (*Provider, error) {
	var out Provider
	if err := c.do(ctx, http.MethodPost, providersPath, nil, &req, true, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListProviders lists the upstream identity providers.
func (c *Client) ListProviders(ctx context.Context) ([]Provider, error) {
	var out ProviderList
	if err := c.do(ctx, http.MethodGet, providersPath, nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return slices.Clip(out.Items), nil
}

// GetProvider returns one upstream identity provider.
func (c *Client) GetProvider(ctx context.Context, name string) (*Provider, error) {
	path, err := idPath(providersPath, name)
	if err != nil {
		return nil, err
	}
	var out Provider
	if err := c.do(ctx, http.MethodGet, path, nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateProvider changes the members of req that are set.
func (c *Client) UpdateProvider(ctx context.Context, name string, req ProviderRequest) (*Provider, error) {
	path, err := idPath(providersPath, name)
	if err != nil {
		return nil, err
	}
	var out Provider
	if err := c.do(ctx, http.MethodPatch, path, nil, &req, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteProvider removes an upstream identity provider and its links.
func (c *Client) DeleteProvider(ctx context.Context, name string) error {
	path, err := idPath(providersPath, name)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil, true, nil, http.StatusNoContent)
}
