package admin

import "time"

// Provider is an upstream identity provider as the API shows it: never
// its client secret, only whether one is set. RedirectURI is the redirect
// URI to register at the upstream.
type Provider struct {
	Name             string            `json:"name"`
	DisplayName      string            `json:"display_name,omitempty"`
	Kind             string            `json:"kind"` // oidc or oauth2
	Issuer           string            `json:"issuer"`
	ClientID         string            `json:"client_id"`
	ClientSecretSet  bool              `json:"client_secret_set"`
	AuthMethod       string            `json:"token_endpoint_auth_method"`
	Scopes           []string          `json:"scopes"`
	ClaimMapping     map[string]string `json:"claim_mapping"`
	AuthorizationURL string            `json:"authorization_url,omitempty"`
	TokenURL         string            `json:"token_url,omitempty"`
	UserinfoURL      string            `json:"userinfo_url,omitempty"`
	EmailsURL        string            `json:"emails_url,omitempty"`
	UsernameClaim    string            `json:"username_claim,omitempty"`
	CreateUsers      bool              `json:"create_users"`
	Enabled          bool              `json:"enabled"`
	TrustEmail       bool              `json:"trust_email"`
	RedirectURI      string            `json:"redirect_uri"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
}

// ProviderRequest is the body of POST /admin/v1/providers (name, issuer
// and client_id required) and PATCH /admin/v1/providers/{name} (every
// member optional; an absent one is left as it is). client_secret is
// stored sealed; "" removes it.
type ProviderRequest struct {
	Name             string             `json:"name,omitempty"`
	DisplayName      *string            `json:"display_name,omitempty"`
	Kind             *string            `json:"kind,omitempty"`
	Issuer           *string            `json:"issuer,omitempty"`
	ClientID         *string            `json:"client_id,omitempty"`
	ClientSecret     *string            `json:"client_secret,omitempty"`
	AuthMethod       *string            `json:"token_endpoint_auth_method,omitempty"`
	Scopes           *[]string          `json:"scopes,omitempty"`
	ClaimMapping     *map[string]string `json:"claim_mapping,omitempty"`
	AuthorizationURL *string            `json:"authorization_url,omitempty"`
	TokenURL         *string            `json:"token_url,omitempty"`
	UserinfoURL      *string            `json:"userinfo_url,omitempty"`
	EmailsURL        *string            `json:"emails_url,omitempty"`
	UsernameClaim    *string            `json:"username_claim,omitempty"`
	CreateUsers      *bool              `json:"create_users,omitempty"`
	Enabled          *bool              `json:"enabled,omitempty"`
	TrustEmail       *bool              `json:"trust_email,omitempty"`
}

// ProviderList is GET /admin/v1/providers: every provider, by name.
type ProviderList struct {
	Items []Provider `json:"items"`
}
