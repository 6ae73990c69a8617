package oauth

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// metadata is the authorization server metadata (RFC 8414 2) and OpenID
// Provider metadata (OIDC Discovery 3). It lists exactly what the server
// implements.
type metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValues          []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationEndpointAuthSigningAlgValues     []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSigningAlgValues  []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests         bool     `json:"require_pushed_authorization_requests"`
	RequestObjectSigningAlgValuesSupported     []string `json:"request_object_signing_alg_values_supported"`
	// OpenID Connect completion (backchannel.go, prompt.go, form_post.go).
	ACRValuesSupported                []string `json:"acr_values_supported"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported"`
	DPoPSigningAlgValuesSupported     []string `json:"dpop_signing_alg_values_supported"` // RFC 9449 5.1
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	RegistrationEndpoint              string   `json:"registration_endpoint,omitempty"`
}

// discovery returns the server's metadata. The ID token algorithms are
// the keyring's current ones, so a rotation to another algorithm shows.
// request_uri_parameter_supported is false: the authorization endpoint
// takes only the request_uris of its own pushed authorization request
// endpoint and fetches none from elsewhere (OIDC Core 6.2).
func (s *Server) discovery() *metadata {
	assertionAlgs := []string{"ES256", "EdDSA", "RS256"}
	clientAuth := []string{auth.AuthMethodSecretBasic, auth.AuthMethodSecretPost, auth.AuthMethodPrivateKeyJWT}
	// Public clients revoke their own tokens with their client_id alone
	// (RFC 7009 2.1); introspection is for confidential clients only.
	revocationAuth := append(append([]string(nil), clientAuth...), auth.AuthMethodNone)
	md := &metadata{
		Issuer:                                    s.issuer,
		AuthorizationEndpoint:                     s.url(PathAuthorize),
		TokenEndpoint:                             s.url(PathToken),
		UserinfoEndpoint:                          s.url(PathUserinfo),
		JWKSURI:                                   s.url(PathJWKS),
		RevocationEndpoint:                        s.url(PathRevoke),
		IntrospectionEndpoint:                     s.url(PathIntrospect),
		EndSessionEndpoint:                        s.url(PathLogout),
		ScopesSupported:                           []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess},
		ResponseTypesSupported:                    []string{"code"},
		ResponseModesSupported:                    []string{"query", responseModeFormPost},
		GrantTypesSupported:                       []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken, auth.GrantClientCredentials, auth.GrantDeviceCode, auth.GrantTokenExchange},
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          s.keys.Algorithms(),
		TokenEndpointAuthMethodsSupported:         append(append([]string(nil), clientAuth...), auth.AuthMethodNone),
		TokenEndpointAuthSigningAlgValues:         assertionAlgs,
		RevocationEndpointAuthMethodsSupported:    revocationAuth,
		RevocationEndpointAuthSigningAlgValues:    assertionAlgs,
		IntrospectionEndpointAuthMethodsSupported: clientAuth,
		IntrospectionEndpointAuthSigningAlgValues: assertionAlgs,
		CodeChallengeMethodsSupported:             []string{"S256"},
		ClaimsSupported: []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid", "acr", "amr",
			"name", "preferred_username", "email", "email_verified",
		},
		AuthorizationResponseIssParameterSupported: true,
		RequestParameterSupported:                  true,
		RequestURIParameterSupported:               false,
		PushedAuthorizationRequestEndpoint:         s.url(PathPAR),
		RequirePushedAuthorizationRequests:         s.cfg.RequirePushedAuthorizationRequests,
		RequestObjectSigningAlgValuesSupported:     algNames(requestObjectAlgorithms),
		ClaimsParameterSupported:                   true,
		ACRValuesSupported:                         s.acrValuesSupported(),
		BackchannelLogoutSupported:                 true,
		BackchannelLogoutSessionSupported:          true,
		DPoPSigningAlgValuesSupported:              s.dpop.Algorithms(),
		DeviceAuthorizationEndpoint:                s.url(PathDeviceAuthorization),
	}
	if s.cfg.Registrar != nil {
		md.RegistrationEndpoint = s.url(PathRegister)
	}
	return md
}

// handleDiscovery serves the metadata at both well-known paths: OIDC
// Discovery 4 and RFC 8414 3 (the issuer has no path, so both documents
// are the same).
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	body, err := jsonIndent(s.discovery())
	if err != nil {
		s.logger.ErrorContext(r.Context(), "oauth: encode discovery", "error", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*") // public metadata, read by browser apps
	w.Write(body)
}
