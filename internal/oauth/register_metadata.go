package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// Error codes of dynamic client registration (RFC 7591 3.2.2).
const (
	CodeInvalidRedirectURI          = "invalid_redirect_uri"
	CodeInvalidClientMetadata       = "invalid_client_metadata"
	CodeInvalidSoftwareStatement    = "invalid_software_statement"
	CodeUnapprovedSoftwareStatement = "unapproved_software_statement"
)

func errInvalidClientMetadata(format string, args ...any) *Error {
	return newError(CodeInvalidClientMetadata, format, args...)
}

func errInvalidSoftwareStatement(format string, args ...any) *Error {
	return newError(CodeInvalidSoftwareStatement, format, args...)
}

// Bounds on registration requests.
const (
	maxRegistrationBody = 64 << 10
	maxContacts         = 10
	maxContactLength    = 320
	maxMetadataText     = 200 // software_id, software_version
	maxMetadataURI      = 2000
)

// clientMetadata is the client metadata of RFC 7591 2 (with OIDC Dynamic
// Client Registration's application_type and post_logout_redirect_uris,
// Back-Channel Logout's backchannel_logout_uri, RFC 9449's
// dpop_bound_access_tokens and RFC 9126's
// require_pushed_authorization_requests), as a registration request and a
// registration update (RFC 7592 2.2) send it. Unknown members are ignored
// (RFC 7591 2).
type clientMetadata struct {
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	Contacts                []string        `json:"contacts,omitempty"`
	TOSURI                  string          `json:"tos_uri,omitempty"`
	PolicyURI               string          `json:"policy_uri,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	SoftwareID              string          `json:"software_id,omitempty"`
	SoftwareVersion         string          `json:"software_version,omitempty"`
	ApplicationType         string          `json:"application_type,omitempty"`
	PostLogoutRedirectURIs  []string        `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI    string          `json:"backchannel_logout_uri,omitempty"`
	DPoPBoundAccessTokens   bool            `json:"dpop_bound_access_tokens,omitempty"`
	RequirePAR              bool            `json:"require_pushed_authorization_requests,omitempty"`
	// DefaultACRValues (OIDC Dynamic Client Registration 2): holding
	// auth.ACRMFA, it makes the client's second-factor policy required
	// (Client.MFA); the response holds it for such a client.
	DefaultACRValues []string `json:"default_acr_values,omitempty"`
}

// registrationRequest is the body of a registration request or update:
// the metadata, the software statement, and the members a client sends
// back in an update (RFC 7592 2.2).
type registrationRequest struct {
	clientMetadata
	SoftwareStatement       string `json:"software_statement,omitempty"`
	ClientID                string `json:"client_id,omitempty"`
	ClientSecret            string `json:"client_secret,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
}

// registrationResponse is the client information response (RFC 7591
// 3.2.1, RFC 7592 3): the client's credentials and every registered
// metadata value.
type registrationResponse struct {
	ClientID         string `json:"client_id"`
	ClientSecret     string `json:"client_secret,omitempty"`
	ClientIDIssuedAt int64  `json:"client_id_issued_at"`
	// ClientSecretExpiresAt is 0 (never) for clients with a secret, and
	// absent otherwise.
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
	clientMetadata
	SoftwareStatement string `json:"software_statement,omitempty"`
}

// storedMetadata is what auth.Client.Metadata holds for a dynamically
// registered client: the metadata the server keeps but does not act on,
// and how it was registered.
type storedMetadata struct {
	ClientURI         string   `json:"client_uri,omitempty"`
	LogoURI           string   `json:"logo_uri,omitempty"`
	Contacts          []string `json:"contacts,omitempty"`
	TOSURI            string   `json:"tos_uri,omitempty"`
	PolicyURI         string   `json:"policy_uri,omitempty"`
	SoftwareID        string   `json:"software_id,omitempty"`
	SoftwareVersion   string   `json:"software_version,omitempty"`
	SoftwareStatement string   `json:"software_statement,omitempty"`
	// Open is set for a client registered without an initial access
	// token: its updates stay within what open registration allows.
	Open bool `json:"open_registration,omitempty"`
}

// decodeRegistration parses a registration request body: a JSON object
// (RFC 7591 3.1). A member of the wrong type is invalid_client_metadata.
func decodeRegistration(body []byte) (map[string]json.RawMessage, error) {
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&members); err != nil || members == nil {
		return nil, errInvalidClientMetadata("The body must be a JSON object of client metadata (RFC 7591 2).")
	}
	if dec.More() {
		return nil, errInvalidClientMetadata("The body must hold one JSON object.")
	}
	return members, nil
}

// parseRegistration turns the members of a request (the software
// statement's claims merged over them) into a registrationRequest.
func parseRegistration(members map[string]json.RawMessage) (*registrationRequest, error) {
	raw, err := json.Marshal(members)
	if err != nil {
		return nil, errInvalidClientMetadata("The client metadata is not valid JSON.")
	}
	var req registrationRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, errInvalidClientMetadata("The client metadata member %q has the wrong type.", truncate(typeErr.Field, 60))
		}
		return nil, errInvalidClientMetadata("The client metadata is not valid JSON.")
	}
	if string(req.JWKS) == "null" {
		req.JWKS = nil
	}
	return &req, nil
}

// unnamedClient is the name of a client registered without client_name.
const unnamedClient = "Unnamed application"

// toInput maps client metadata onto the registry's client.Input, which
// holds every rule on clients (redirect URIs, grants, scopes, keys): this
// only applies RFC 7591's defaults and refuses what Gatehouse does not
// implement. The metadata the server keeps without acting on it is
// checked and returned as stored.
func (m *clientMetadata) toInput() (client.Input, storedMetadata, error) {
	var in client.Input
	var stored storedMetadata
	if m.JWKSURI != "" {
		// Fetching a client's keys from a URL would make the server send
		// requests wherever a registrant points it (SSRF), and a private_key_jwt
		// client's keys would change without an update: keys by value only.
		return in, stored, errInvalidClientMetadata("jwks_uri is not supported: register the public keys by value in jwks.")
	}
	method := m.TokenEndpointAuthMethod
	if method == "" {
		method = auth.AuthMethodSecretBasic // RFC 7591 2
	}
	in.Public = method == auth.AuthMethodNone
	in.AuthMethod = method
	if len(m.JWKS) > 0 {
		in.JWKS = slices.Clone([]byte(m.JWKS))
	}
	in.Name = strings.TrimSpace(m.ClientName)
	if in.Name == "" {
		in.Name = unnamedClient
	}
	in.RedirectURIs = m.RedirectURIs
	in.PostLogoutRedirectURIs = m.PostLogoutRedirectURIs

	// RFC 7591 2: grant_types defaults to authorization_code and
	// response_types to code, and the two must agree (2.1).
	in.GrantTypes = m.GrantTypes
	if len(in.GrantTypes) == 0 {
		in.GrantTypes = []string{auth.GrantAuthorizationCode}
	}
	code := slices.Contains(in.GrantTypes, auth.GrantAuthorizationCode)
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return in, stored, errInvalidClientMetadata("The response type %q is not supported: only code.", truncate(rt, 60))
		}
	}
	if len(m.ResponseTypes) > 0 && !code {
		return in, stored, errInvalidClientMetadata("The response type code needs the authorization_code grant type.")
	}
	if code && m.ResponseTypes != nil && len(m.ResponseTypes) == 0 {
		return in, stored, errInvalidClientMetadata("The authorization_code grant type needs the response type code.")
	}

	// scope: space-separated (RFC 7591 2); omitted, the OpenID Connect
	// scopes, and offline_access for a client that may refresh.
	if m.Scope != "" {
		scopes, err := parseScope(m.Scope)
		if err != nil {
			return in, stored, errInvalidClientMetadata("The scope must be scope tokens separated by single spaces.")
		}
		in.Scopes = scopes
	} else {
		in.Scopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail}
		if slices.Contains(in.GrantTypes, auth.GrantRefreshToken) {
			in.Scopes = append(in.Scopes, ScopeOfflineAccess)
		}
	}
	in.ApplicationType = m.ApplicationType
	in.BackchannelLogoutURI = m.BackchannelLogoutURI
	in.RequireDPoP = m.DPoPBoundAccessTokens
	in.RequirePAR = m.RequirePAR
	mfa, err := mfaOfACRValues(m.DefaultACRValues)
	if err != nil {
		return in, stored, err
	}
	in.MFA = mfa

	for _, u := range []struct{ name, value string }{
		{"client_uri", m.ClientURI}, {"logo_uri", m.LogoURI}, {"tos_uri", m.TOSURI}, {"policy_uri", m.PolicyURI},
	} {
		if u.value != "" && !webURI(u.value) {
			return in, stored, errInvalidClientMetadata("The %s must be an https URL.", u.name)
		}
	}
	if len(m.Contacts) > maxContacts {
		return in, stored, errInvalidClientMetadata("At most %d contacts.", maxContacts)
	}
	for _, c := range m.Contacts {
		if !plainText(c, maxContactLength) {
			return in, stored, errInvalidClientMetadata("A contact must be 1 to %d characters of text.", maxContactLength)
		}
	}
	for _, t := range []struct{ name, value string }{{"software_id", m.SoftwareID}, {"software_version", m.SoftwareVersion}} {
		if t.value != "" && !plainText(t.value, maxMetadataText) {
			return in, stored, errInvalidClientMetadata("The %s must be 1 to %d characters of text.", t.name, maxMetadataText)
		}
	}
	stored = storedMetadata{
		ClientURI: m.ClientURI, LogoURI: m.LogoURI, Contacts: m.Contacts, TOSURI: m.TOSURI, PolicyURI: m.PolicyURI,
		SoftwareID: m.SoftwareID, SoftwareVersion: m.SoftwareVersion,
	}
	return in, stored, nil
}

// webURI reports whether s is an https URL (http on loopback), fit to be
// shown as a link.
func webURI(s string) bool {
	if len(s) > maxMetadataURI || strings.ContainsFunc(s, unicode.IsControl) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && auth.LoopbackHost(u.Hostname()))
}

// plainText reports whether s is 1 to max bytes of valid UTF-8 without
// control characters.
func plainText(s string, max int) bool {
	return s != "" && len(s) <= max && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// mfaOfACRValues is the second-factor policy a registrant asks for with
// default_acr_values: required when they hold auth.ACRMFA, the server's
// otherwise. A registrant can make its own users' sign-in stronger, never
// weaker than the server's. Values other than Gatehouse's two classes are
// refused: the server could not honour them.
func mfaOfACRValues(values []string) (string, error) {
	policy := ""
	for _, v := range values {
		switch v {
		case auth.ACRMFA:
			policy = auth.MFARequired
		case auth.ACRPassword:
		default:
			return "", errInvalidClientMetadata("The default_acr_values may hold only %s and %s.", auth.ACRPassword, auth.ACRMFA)
		}
	}
	return policy, nil
}

// acrValuesOfMFA is default_acr_values for a client of that policy.
func acrValuesOfMFA(policy string) []string {
	if policy == auth.MFARequired {
		return []string{auth.ACRMFA}
	}
	return nil
}

// registrationResponseOf describes a registered client (RFC 7591 3.2.1).
func (s *Server) registrationResponseOf(c *auth.Client, creds client.Credentials) (*registrationResponse, error) {
	var stored storedMetadata
	if len(c.Metadata) > 0 {
		if err := json.Unmarshal(c.Metadata, &stored); err != nil {
			return nil, err
		}
	}
	out := &registrationResponse{
		ClientID:                c.ID,
		ClientSecret:            creds.Secret,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		RegistrationAccessToken: creds.RegistrationToken,
		RegistrationClientURI:   s.url(PathRegister + "/" + c.ID),
		clientMetadata: clientMetadata{
			RedirectURIs:            c.RedirectURIs,
			TokenEndpointAuthMethod: c.AuthMethod,
			GrantTypes:              c.GrantTypes,
			ResponseTypes:           []string{},
			ClientName:              c.Name,
			ClientURI:               stored.ClientURI,
			LogoURI:                 stored.LogoURI,
			Scope:                   strings.Join(c.Scopes, " "),
			Contacts:                stored.Contacts,
			TOSURI:                  stored.TOSURI,
			PolicyURI:               stored.PolicyURI,
			JWKS:                    json.RawMessage(c.JWKS),
			SoftwareID:              stored.SoftwareID,
			SoftwareVersion:         stored.SoftwareVersion,
			ApplicationType:         c.ApplicationType,
			PostLogoutRedirectURIs:  c.PostLogoutRedirectURIs,
			BackchannelLogoutURI:    c.BackchannelLogoutURI,
			DPoPBoundAccessTokens:   c.RequireDPoP,
			RequirePAR:              c.RequirePAR,
			DefaultACRValues:        acrValuesOfMFA(c.MFA),
		},
		SoftwareStatement: stored.SoftwareStatement,
	}
	if out.ApplicationType == "" {
		out.ApplicationType = auth.ApplicationWeb
	}
	if slices.Contains(c.GrantTypes, auth.GrantAuthorizationCode) {
		out.ResponseTypes = []string{"code"}
	}
	if c.AuthMethod == auth.AuthMethodSecretBasic || c.AuthMethod == auth.AuthMethodSecretPost {
		var never int64
		out.ClientSecretExpiresAt = &never
	}
	return out, nil
}
