package admin

import (
	"slices"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
)

// OAuthClient is an OAuth client as the API shows it: never the secret's
// hash; the secret itself only inside CreatedClient, once.
type OAuthClient struct {
	ClientID                string         `json:"client_id"`
	Name                    string         `json:"name"`
	Owner                   string         `json:"owner,omitempty"` // "" (absent): none
	Public                  bool           `json:"public"`
	TokenEndpointAuthMethod string         `json:"token_endpoint_auth_method"`
	SecretHint              string         `json:"client_secret_hint,omitempty"`
	JWKS                    jsontext.Value `json:"jwks,omitempty"`
	RedirectURIs            []string       `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string       `json:"post_logout_redirect_uris"`
	GrantTypes              []string       `json:"grant_types"`
	Scopes                  []string       `json:"scopes"`
	Audiences               []string       `json:"audiences"`
	// Lifetimes as Go durations; absent: the server's default.
	AccessTokenTTL     string `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL    string `json:"refresh_token_ttl,omitempty"`
	RefreshTokenMaxTTL string `json:"refresh_token_max_ttl,omitempty"`
	// The extensions' settings, named as in dynamic registration (RFC
	// 9449 5.2, RFC 9126 6, OIDC Back-Channel Logout 2.2, OIDC Dynamic
	// Client Registration 2).
	RequireDPoP          bool     `json:"dpop_bound_access_tokens"`
	RequirePAR           bool     `json:"require_pushed_authorization_requests"`
	BackchannelLogoutURI string   `json:"backchannel_logout_uri,omitempty"`
	ApplicationType      string   `json:"application_type,omitempty"`
	ExchangeIssuers      []string `json:"exchange_issuers"`
	AllowImpersonation   bool     `json:"allow_impersonation"`
	// MFA is the client's second-factor policy, optional or required;
	// absent: the server's (identity.mfa).
	MFA string `json:"mfa,omitempty"`
	// Metadata is what dynamic registration keeps without acting on it
	// (client_uri, contacts, ...); absent for none.
	Metadata        jsontext.Value `json:"metadata,omitempty"`
	Registered      bool           `json:"dynamically_registered,omitempty"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
	SecretRotatedAt time.Time      `json:"client_secret_rotated_at,omitzero"`
}

// CreatedClient is a client with its secret, returned by creation and by
// secret rotation: the only time the secret is shown. Public clients and
// private_key_jwt clients have none.
type CreatedClient struct {
	OAuthClient
	ClientSecret string `json:"client_secret,omitempty"`
}

// ClientRequest is the body of POST /admin/v1/clients and of
// PUT /admin/v1/clients/{id} (which replaces every setting).
type ClientRequest struct {
	Name                    string         `json:"name"`
	Owner                   string         `json:"owner,omitempty"` // absent: none (PUT clears it)
	Public                  bool           `json:"public,omitempty"`
	TokenEndpointAuthMethod string         `json:"token_endpoint_auth_method,omitempty"` // default: client_secret_basic, or none for public clients
	JWKS                    jsontext.Value `json:"jwks,omitempty"`                       // for private_key_jwt
	RedirectURIs            []string       `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs  []string       `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes              []string       `json:"grant_types,omitempty"`
	Scopes                  []string       `json:"scopes,omitempty"`
	Audiences               []string       `json:"audiences,omitempty"`
	AccessTokenTTL          string         `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL         string         `json:"refresh_token_ttl,omitempty"`
	RefreshTokenMaxTTL      string         `json:"refresh_token_max_ttl,omitempty"`
	RequireDPoP             bool           `json:"dpop_bound_access_tokens,omitempty"`
	RequirePAR              bool           `json:"require_pushed_authorization_requests,omitempty"`
	BackchannelLogoutURI    string         `json:"backchannel_logout_uri,omitempty"`
	ApplicationType         string         `json:"application_type,omitempty"` // web (default) or native
	ExchangeIssuers         []string       `json:"exchange_issuers,omitempty"`
	AllowImpersonation      bool           `json:"allow_impersonation,omitempty"`
	MFA                     string         `json:"mfa,omitempty"`      // optional or required; absent: the server's (PUT clears it)
	Metadata                jsontext.Value `json:"metadata,omitempty"` // a JSON object kept as given
}

// ClientList is one page of GET /admin/v1/clients.
type ClientList struct {
	Items      []OAuthClient `json:"items"`
	NextCursor string        `json:"next_cursor"`
}

// User is a local user account as the API shows it, never its password hash.
type User struct {
	ID                string    `json:"id"`
	Username          string    `json:"username"`
	Email             string    `json:"email,omitempty"`
	EmailVerified     bool      `json:"email_verified"`
	Name              string    `json:"name,omitempty"`
	Role              string    `json:"role"`   // "admin" or "developer"
	Owners            []string  `json:"owners"` // sorted; [] for none
	Disabled          bool      `json:"disabled"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	PasswordChangedAt time.Time `json:"password_changed_at,omitzero"`
	DisabledAt        time.Time `json:"disabled_at,omitzero"`
}

// CreateUserRequest is the body of POST /admin/v1/users.
type CreateUserRequest struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	Name          string `json:"name,omitempty"`
	// Role is "admin" or "developer" (the default when empty).
	Role string `json:"role,omitempty"`
	// Owners are the key and client owners the user may manage.
	Owners []string `json:"owners,omitempty"`
}

// UserPatch is the body of PATCH /admin/v1/users/{id}: an absent member
// keeps the setting; "owners": null (or []) removes every owner. A role
// cannot be null: a user always has one.
type UserPatch struct {
	Role   Nullable[string]   `json:"role,omitzero"`
	Owners Nullable[[]string] `json:"owners,omitzero"`
}

// ResetPasswordRequest is the body of POST /admin/v1/users/{id}/reset-password.
type ResetPasswordRequest struct {
	Password string `json:"password"`
}

// UserList is one page of GET /admin/v1/users.
type UserList struct {
	Items      []User `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// Consent is a user's remembered consent to a client.
type Consent struct {
	UserID    string    `json:"user_id"`
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	GrantedAt time.Time `json:"granted_at"`
}

// ConsentList is every consent of a user.
type ConsentList struct {
	Items []Consent `json:"items"`
}

// SigningKey is the public description of a signing key.
type SigningKey struct {
	KID         string    `json:"kid"`
	Algorithm   string    `json:"alg"`
	Status      string    `json:"status"` // current, next or retired
	CreatedAt   time.Time `json:"created_at"`
	ActivatesAt time.Time `json:"activates_at"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// SigningKeyList is every signing key still published.
type SigningKeyList struct {
	Items []SigningKey `json:"items"`
}

func clientFromRecord(c *auth.Client) OAuthClient {
	out := OAuthClient{
		ClientID:                c.ID,
		Name:                    c.Name,
		Owner:                   c.Owner,
		Public:                  c.Public,
		TokenEndpointAuthMethod: c.AuthMethod,
		SecretHint:              c.SecretHint,
		RedirectURIs:            listOrEmpty(c.RedirectURIs),
		PostLogoutRedirectURIs:  listOrEmpty(c.PostLogoutRedirectURIs),
		GrantTypes:              listOrEmpty(c.GrantTypes),
		Scopes:                  listOrEmpty(c.Scopes),
		Audiences:               listOrEmpty(c.Audiences),
		AccessTokenTTL:          durationOrEmpty(c.AccessTokenTTL),
		RefreshTokenTTL:         durationOrEmpty(c.RefreshTokenTTL),
		RefreshTokenMaxTTL:      durationOrEmpty(c.RefreshTokenMaxTTL),
		CreatedAt:               c.CreatedAt.UTC(),
		UpdatedAt:               c.UpdatedAt.UTC(),
		SecretRotatedAt:         utcOrZero(c.SecretRotatedAt),
		RequireDPoP:             c.RequireDPoP,
		RequirePAR:              c.RequirePAR,
		BackchannelLogoutURI:    c.BackchannelLogoutURI,
		ApplicationType:         c.ApplicationType,
		ExchangeIssuers:         listOrEmpty(c.ExchangeIssuers),
		AllowImpersonation:      c.AllowImpersonation,
		MFA:                     c.MFA,
		Registered:              len(c.RegistrationTokenHash) > 0,
	}
	if len(c.JWKS) > 0 {
		out.JWKS = jsontext.Value(slices.Clone(c.JWKS))
	}
	if len(c.Metadata) > 0 {
		out.Metadata = jsontext.Value(slices.Clone(c.Metadata))
	}
	return out
}

func userFromRecord(u *auth.User) User {
	return User{
		ID:                u.ID,
		Username:          u.Username,
		Email:             u.Email,
		EmailVerified:     u.EmailVerified,
		Name:              u.Name,
		Role:              u.Role,
		Owners:            listOrEmpty(u.Owners),
		Disabled:          u.Disabled(),
		CreatedAt:         u.CreatedAt.UTC(),
		UpdatedAt:         u.UpdatedAt.UTC(),
		PasswordChangedAt: utcOrZero(u.PasswordChangedAt),
		DisabledAt:        utcOrZero(u.DisabledAt),
	}
}

func consentFromRecord(c *auth.Consent) Consent {
	return Consent{UserID: c.UserID, ClientID: c.ClientID, Scopes: listOrEmpty(c.Scopes), GrantedAt: c.GrantedAt.UTC()}
}

func signingKeyFromInfo(k signing.KeyInfo) SigningKey {
	return SigningKey{
		KID:         k.ID,
		Algorithm:   k.Algorithm,
		Status:      k.Status,
		CreatedAt:   k.CreatedAt.UTC(),
		ActivatesAt: k.ActivatesAt.UTC(),
		RetiredAt:   utcOrZero(k.RetiredAt),
		ExpiresAt:   utcOrZero(k.ExpiresAt),
	}
}

func listOrEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func durationOrEmpty(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
