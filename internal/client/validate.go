package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Input is what the admin API and the CLI set on a client. Create and
// Update take every field; zero values pick the defaults documented per
// field.
type Input struct {
	Name string
	// Owner is the team or service the client belongs to, under the rule
	// of API-key owners (auth.CheckOwner); "" for none. It is bookkeeping
	// only: no OAuth decision reads it.
	Owner  string
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

	// RequireDPoP refuses the client's token requests without a DPoP
	// proof (RFC 9449 5.2, dpop_bound_access_tokens).
	RequireDPoP bool
	// RequirePAR accepts the client's authorization requests only through
	// pushed authorization requests (RFC 9126 6); it needs the
	// authorization_code grant.
	RequirePAR bool
	// BackchannelLogoutURI receives logout tokens (OpenID Connect
	// Back-Channel Logout 1.0 2.2): https, no fragment; on a loopback
	// host (http or https) only with Config.AllowLoopbackLogoutURIs
	// (CheckBackchannelLogoutURI). It needs the authorization_code grant.
	BackchannelLogoutURI string
	// ApplicationType is web (the default) or native (OIDC Dynamic Client
	// Registration 2).
	ApplicationType string
	// ExchangeIssuers are other issuers whose tokens the client may
	// exchange, and AllowImpersonation lets it exchange without being
	// named as the actor; both need the token-exchange grant.
	ExchangeIssuers    []string
	AllowImpersonation bool
	// MFA is the client's second-factor policy: auth.MFAOptional,
	// auth.MFARequired, or "" for the server's (identity.mfa). It is for
	// clients that sign users in (the authorization_code or device_code
	// grant).
	MFA string
	// Metadata is registration metadata kept but not acted on (RFC 7591
	// 2: client_uri, contacts, ...), a JSON object of at most 16 KiB; nil
	// for none.
	Metadata []byte
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
	maxExchangeIssuers = 20
	maxMetadataBytes   = 16 << 10
	minTokenTTL        = time.Minute
	maxRefreshTokenTTL = 365 * 24 * time.Hour
)

// MaxAccessTokenTTL is the longest access-token lifetime a client may have:
// the revocation endpoint accepts tokens expired less than this long ago.
const MaxAccessTokenTTL = 24 * time.Hour

// fromInput validates in and returns the client it describes, without ID,
// secret or times. Every error is EINVALID with a message that says which
// rule was broken.
func fromInput(in Input, allowLoopbackLogout bool) (*auth.Client, error) {
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		return nil, auth.Errorf(auth.EINVALID, "The name is required.")
	case len(name) > maxClientName:
		return nil, auth.Errorf(auth.EINVALID, "The name is longer than %d bytes.", maxClientName)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return nil, auth.Errorf(auth.EINVALID, "The name has control characters or invalid UTF-8.")
	}
	if err := auth.CheckOwner(in.Owner); err != nil {
		return nil, err
	}
	c := &auth.Client{Name: name, Owner: in.Owner, Public: in.Public, AuthMethod: in.AuthMethod}

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
	if err := checkTTL("access token lifetime", in.AccessTokenTTL, MaxAccessTokenTTL); err != nil {
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
	if err := extensions(c, in, allowLoopbackLogout); err != nil {
		return nil, err
	}
	return c, nil
}

// extensions validates the settings of the OAuth extensions (DPoP, PAR,
// back-channel logout, token exchange, the second-factor policy,
// registration metadata) onto c,
// whose grant types are already checked.
func extensions(c *auth.Client, in Input, allowLoopbackLogout bool) error {
	has := func(g string) bool { return slices.Contains(c.GrantTypes, g) }
	c.RequireDPoP = in.RequireDPoP
	if in.RequirePAR && !has(auth.GrantAuthorizationCode) {
		return auth.Errorf(auth.EINVALID, "Pushed authorization requests are for clients with the authorization_code grant.")
	}
	c.RequirePAR = in.RequirePAR
	if in.BackchannelLogoutURI != "" {
		if !has(auth.GrantAuthorizationCode) {
			return auth.Errorf(auth.EINVALID, "A back-channel logout URI is for clients with the authorization_code grant.")
		}
		if err := CheckBackchannelLogoutURI(in.BackchannelLogoutURI, allowLoopbackLogout); err != nil {
			return auth.Errorf(auth.EINVALID, "Invalid back-channel logout URI %q: %s.", truncate(in.BackchannelLogoutURI, 100), err.Error())
		}
		c.BackchannelLogoutURI = in.BackchannelLogoutURI
	}
	switch in.ApplicationType {
	case "", auth.ApplicationWeb:
		c.ApplicationType = auth.ApplicationWeb
	case auth.ApplicationNative:
		c.ApplicationType = auth.ApplicationNative
	default:
		return auth.Errorf(auth.EINVALID, "Unknown application type %q: want web or native.", truncate(in.ApplicationType, 60))
	}
	if (len(in.ExchangeIssuers) > 0 || in.AllowImpersonation) && !has(auth.GrantTokenExchange) {
		return auth.Errorf(auth.EINVALID, "Exchange issuers and impersonation are for clients with the token-exchange grant.")
	}
	if len(in.ExchangeIssuers) > maxExchangeIssuers {
		return auth.Errorf(auth.EINVALID, "A client may trust at most %d exchange issuers.", maxExchangeIssuers)
	}
	for _, iss := range in.ExchangeIssuers {
		if err := checkIssuerURI(iss); err != nil {
			return auth.Errorf(auth.EINVALID, "Invalid exchange issuer %q: %s.", truncate(iss, 100), err.Error())
		}
		if !slices.Contains(c.ExchangeIssuers, iss) {
			c.ExchangeIssuers = append(c.ExchangeIssuers, iss)
		}
	}
	c.AllowImpersonation = in.AllowImpersonation
	if err := auth.CheckMFAPolicy(in.MFA); err != nil {
		return err
	}
	if in.MFA != "" && !has(auth.GrantAuthorizationCode) && !has(auth.GrantDeviceCode) {
		return auth.Errorf(auth.EINVALID, "A second-factor policy is for clients that sign users in (the authorization_code or device_code grant).")
	}
	c.MFA = in.MFA
	if len(in.Metadata) > 0 {
		if len(in.Metadata) > maxMetadataBytes {
			return auth.Errorf(auth.EINVALID, "The registration metadata is over %d bytes.", maxMetadataBytes)
		}
		var obj map[string]any
		if err := json.Unmarshal(in.Metadata, &obj); err != nil || obj == nil {
			return auth.Errorf(auth.EINVALID, "The registration metadata is not a JSON object.")
		}
		c.Metadata = slices.Clone(in.Metadata)
	}
	return nil
}

// checkReceiverURI returns why raw is not a URI the server may POST to on
// its own (a back-channel logout receiver): https, or http on a loopback
// host, absolute, without fragment or user information.
func checkReceiverURI(raw string) error {
	if err := checkRedirectURI(raw, false); err != nil {
		return err
	}
	if u, _ := url.Parse(raw); u.Scheme != "https" && u.Scheme != "http" {
		return errors.New("it must be an https URL")
	}
	return nil
}

// CheckBackchannelLogoutURI returns why raw may not receive logout tokens
// (OpenID Connect Back-Channel Logout 1.0 2.2), nil if it may: an https
// URL, absolute, without fragment or user information; a loopback host
// (localhost, 127.0.0.0/8, ::1; http or https) only when allowLoopback,
// which is oauth.backchannel_logout.allow_loopback (--dev sets it). It is
// the one rule: the registry applies it when a client is registered or
// changed (Config.AllowLoopbackLogoutURIs), and the logout notifier again
// before every delivery, with the same setting, so a URI accepted at
// registration is one the server delivers to. Its dialer then refuses
// internal addresses whatever a name resolves to.
func CheckBackchannelLogoutURI(raw string, allowLoopback bool) error {
	if err := checkReceiverURI(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	switch {
	case auth.LoopbackHost(u.Hostname()):
		if !allowLoopback {
			return errors.New("it is on a loopback host, which receives logout tokens only with oauth.backchannel_logout.allow_loopback (--dev)")
		}
	case u.Scheme != "https":
		return errors.New("it must be an https URL")
	}
	return nil
}

// checkIssuerURI returns why raw is not an issuer identifier (RFC 8414 2):
// an https URL (http on loopback hosts) without query or fragment.
func checkIssuerURI(raw string) error {
	if err := checkReceiverURI(raw); err != nil {
		return err
	}
	if strings.ContainsAny(raw, "?") {
		return errors.New("an issuer has no query")
	}
	return nil
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

var knownGrants = []string{auth.GrantAuthorizationCode, auth.GrantClientCredentials, auth.GrantRefreshToken, auth.GrantDeviceCode, auth.GrantTokenExchange}

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
			return nil, auth.Errorf(auth.EINVALID, "Unknown grant type %q: want authorization_code, refresh_token, client_credentials, %s or %s.", truncate(g, 60), auth.GrantDeviceCode, auth.GrantTokenExchange)
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
	case public && has(auth.GrantTokenExchange):
		return nil, auth.Errorf(auth.EINVALID, "The token-exchange grant is only for confidential clients.")
	case has(auth.GrantRefreshToken) && !has(auth.GrantAuthorizationCode) && !has(auth.GrantDeviceCode):
		return nil, auth.Errorf(auth.EINVALID, "The refresh_token grant needs the authorization_code or the device_code grant.")
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
		if !ValidAudience(a) {
			return nil, auth.Errorf(auth.EINVALID, "The audience %q is not an absolute URI without a fragment.", truncate(a, 100))
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// usesSecret reports whether clients of that authentication method have a
// secret.
func usesSecret(method string) bool {
	return method == auth.AuthMethodSecretBasic || method == auth.AuthMethodSecretPost
}

// ValidAudience reports whether s may be an audience of a client: an
// absolute URI (with a scheme) without a fragment, as RFC 8707 2 requires
// of the resource indicators that name it in requests.
func ValidAudience(s string) bool {
	if s == "" || len(s) > 2048 || strings.Contains(s, "#") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.IsAbs() && (u.Host != "" || u.Opaque != "")
}
