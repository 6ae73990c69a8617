package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// PathRegister is the client registration endpoint (RFC 7591 3); a
// client's configuration endpoint (RFC 7592 2) is PathRegister/<client_id>.
const PathRegister = "/oauth2/register"

// Registrar is what dynamic client registration needs of the client
// registry (*client.Registry), which holds every rule on clients.
type Registrar interface {
	InitialToken(ctx context.Context, presented string) (*auth.InitialAccessToken, error)
	Register(ctx context.Context, actor string, in client.Input, reg client.Registration) (*auth.Client, client.Credentials, error)
	Get(ctx context.Context, id string) (*auth.Client, error)
	UpdateRegistered(ctx context.Context, actor, id string, in client.Input) (*auth.Client, client.Credentials, error)
	Delete(ctx context.Context, actor, id string) error
	RegistrationTokenMatches(c *auth.Client, presented string) bool
	SecretMatches(c *auth.Client, presented string) bool
}

var _ Registrar = (*client.Registry)(nil)

// RegistrationPolicy is what dynamic client registration allows, on top
// of the rules every client follows.
type RegistrationPolicy struct {
	// Open lets anyone register a public native client (RFC 8252) without
	// an initial access token; any other client needs one.
	Open bool
	// OpenLimit bounds open registrations per source address (an IPv6
	// /64); zero: DefaultOpenRegistrationLimit.
	OpenLimit auth.RateLimit
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// source address of an open registration.
	TrustedProxies []netip.Prefix
	// GrantTypes are the grant types a registered client may have; empty:
	// DefaultRegistrationGrantTypes. Grants that give a client authority of
	// its own, without a user's consent (client_credentials, token
	// exchange), are for an operator to allow.
	GrantTypes []string
	// SoftwareStatementKeys is a JWK Set of the public keys whose software
	// statements (RFC 7591 2.3) the server accepts; nil accepts none.
	SoftwareStatementKeys []byte
	// RequireSoftwareStatement refuses registrations without one.
	RequireSoftwareStatement bool
}

// Defaults of RegistrationPolicy.
var (
	DefaultRegistrationGrantTypes = []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken}
	DefaultOpenRegistrationLimit  = auth.RateLimit{Rate: 20.0 / 3600, Burst: 20} // 20 an hour
)

// registration is the state of the registration endpoints.
type registration struct {
	sources ratelimit.Buckets // open registrations, by source address
}

// registrationRoutes registers the registration and client configuration
// endpoints when the server has a Registrar.
func (s *Server) registrationRoutes(mux *http.ServeMux) {
	if s.cfg.Registrar == nil {
		return
	}
	mux.HandleFunc(PathRegister, s.handleRegister)
	mux.HandleFunc(PathRegister+"/{client_id}", s.handleClientConfiguration)
}

// handleRegister is the client registration endpoint (RFC 7591 3): a
// JSON object of client metadata, authorized by an initial access token
// (Authorization: Bearer) or, when the operator allows it, by nothing for
// a public native client. It answers 201 with the client information
// response (3.2.1), or the errors of 3.2.2.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeTokenError(w, r, &Error{Code: CodeInvalidRequest, Description: "Use POST.", Status: http.StatusMethodNotAllowed})
		return
	}
	ctx := r.Context()
	now := s.now()
	var initial *auth.InitialAccessToken
	token, _, err := bearerToken(w, r) // a bearer credential, whatever the scheme says
	switch {
	case err == nil:
		if initial, err = s.cfg.Registrar.InitialToken(ctx, token); err != nil {
			s.writeBearerError(w, r, tokenRefusal(err, "The initial access token is invalid, expired, used up or revoked."))
			return
		}
	case errors.Is(err, errNoToken) && s.cfg.Registration.Open:
		if !s.allowOpenRegistration(r, now) {
			w.Header().Set("Retry-After", "60")
			writeJSON(w, http.StatusTooManyRequests, errorBody{Error: CodeInvalidRequest, ErrorDescription: "Too many registrations from this address; try again later."})
			return
		}
	default:
		s.writeBearerError(w, r, err)
		return
	}
	in, err := s.registrationInput(w, r, initial == nil, now)
	if err != nil {
		s.writeRegistrationError(w, r, err)
		return
	}
	actor, reg := client.ActorOpenRegistration, client.Registration{}
	if initial != nil {
		actor, reg.InitialTokenHash = initial.ID, initial.Hash
	}
	c, creds, err := s.cfg.Registrar.Register(ctx, actor, in, reg)
	if err != nil {
		if code := auth.ErrorCode(err); initial != nil && (code == auth.EUNAUTHORIZED || code == auth.ENOTFOUND) {
			// The token's last use went to a concurrent registration, or
			// it was revoked meanwhile.
			s.writeBearerError(w, r, errInvalidToken("The initial access token is invalid, expired, used up or revoked."))
			return
		}
		s.writeRegistrationError(w, r, err)
		return
	}
	s.writeClientInformation(w, r, http.StatusCreated, c, creds)
}

// allowOpenRegistration takes a token from the bucket of the request's
// source address.
func (s *Server) allowOpenRegistration(r *http.Request, now time.Time) bool {
	limit := s.cfg.Registration.OpenLimit
	if limit == (auth.RateLimit{}) {
		limit = DefaultOpenRegistrationLimit
	}
	peer, _ := ratelimit.PeerAddr(r.RemoteAddr)
	addr := ratelimit.ClientAddr(peer, r.Header.Values("X-Forwarded-For"), s.cfg.Registration.TrustedProxies)
	return s.registration.sources.Allow(ratelimit.SourceKey(addr).String(), limit, now).Allowed
}

// tokenRefusal turns the registry's refusal of a credential into
// invalid_token, keeping store failures as they are.
func tokenRefusal(err error, description string) error {
	switch auth.ErrorCode(err) {
	case auth.EUNAUTHORIZED, auth.ENOTFOUND, auth.EFORBIDDEN:
		return errInvalidToken("%s", description)
	}
	return err
}

// registrationInput reads a registration request or update and returns
// the client settings it asks for: the body's metadata with the software
// statement's claims over them, held to the registration policy. open
// says the client is (or was) registered without an initial access token.
func (s *Server) registrationInput(w http.ResponseWriter, r *http.Request, open bool, now time.Time) (client.Input, error) {
	req, err := s.readRegistration(w, r, now)
	if err != nil {
		return client.Input{}, err
	}
	return s.inputOf(req, open)
}

// readRegistration reads and parses the JSON body of a registration
// request or update, verifying its software statement.
func (s *Server) readRegistration(w http.ResponseWriter, r *http.Request, now time.Time) (*registrationRequest, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, errInvalidRequest("The Content-Type must be application/json.")
	}
	if r.URL.RawQuery != "" {
		return nil, errInvalidRequest("The client metadata must be sent in the body, not in the URL.")
	}
	body, err := readBody(w, r, maxRegistrationBody)
	if err != nil {
		return nil, err
	}
	members, err := decodeRegistration(body)
	if err != nil {
		return nil, err
	}
	var statement string
	if raw, ok := members["software_statement"]; ok {
		if err := json.Unmarshal(raw, &statement); err != nil {
			return nil, errInvalidSoftwareStatement("The software statement must be a string.")
		}
	}
	switch {
	case statement != "":
		claims, err := s.softwareStatement(statement, now)
		if err != nil {
			return nil, err
		}
		for name, v := range claims {
			members[name] = v
		}
	case s.cfg.Registration.RequireSoftwareStatement:
		return nil, errInvalidSoftwareStatement("A software statement is required to register.")
	}
	req, err := parseRegistration(members)
	if err != nil {
		return nil, err
	}
	req.SoftwareStatement = statement
	return req, nil
}

// inputOf maps a parsed request onto client.Input and holds it to the
// registration policy: the grant types the operator allows, and for an
// open registration a public native client.
func (s *Server) inputOf(req *registrationRequest, open bool) (client.Input, error) {
	in, stored, err := req.toInput()
	if err != nil {
		return in, err
	}
	allowed := s.cfg.Registration.GrantTypes
	if len(allowed) == 0 {
		allowed = DefaultRegistrationGrantTypes
	}
	for _, g := range in.GrantTypes {
		if !slices.Contains(allowed, g) {
			return in, errInvalidClientMetadata("Registration may not grant the grant type %q; this server allows %s.", truncate(g, 80), strings.Join(allowed, ", "))
		}
	}
	if open && (!in.Public || in.ApplicationType != auth.ApplicationNative) {
		return in, errInvalidClientMetadata("Without an initial access token, only public native clients may register (application_type native, token_endpoint_auth_method none).")
	}
	stored.Open, stored.SoftwareStatement = open, req.SoftwareStatement
	if in.Metadata, err = json.Marshal(stored); err != nil {
		return in, err
	}
	return in, nil
}

// writeRegistrationError answers a registration request or update with the
// error of RFC 7591 3.2.2: a bad redirect URI is invalid_redirect_uri, any
// other rule of the registry invalid_client_metadata, with its message.
func (s *Server) writeRegistrationError(w http.ResponseWriter, r *http.Request, err error) {
	var redirect *client.RedirectURIError
	switch {
	case errors.As(err, &redirect):
		err = newError(CodeInvalidRedirectURI, "%s", auth.ErrorMessage(err))
	case auth.ErrorCode(err) == auth.EINVALID:
		err = errInvalidClientMetadata("%s", auth.ErrorMessage(err))
	}
	e := asError(err)
	s.logError(r, e)
	writeJSON(w, e.Status, errorBody{Error: e.Code, ErrorDescription: cleanDescription(e.Description)})
}

// writeClientInformation answers with the client information response.
func (s *Server) writeClientInformation(w http.ResponseWriter, r *http.Request, status int, c *auth.Client, creds client.Credentials) {
	resp, err := s.registrationResponseOf(c, creds)
	if err != nil {
		s.writeRegistrationError(w, r, err)
		return
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", resp.RegistrationClientURI)
	}
	writeJSON(w, status, resp)
}

// checkRegistrationPolicy refuses a policy no registration could satisfy
// or that names keys that are not public signing keys.
func checkRegistrationPolicy(p RegistrationPolicy) error {
	for _, g := range p.GrantTypes {
		switch g {
		case auth.GrantAuthorizationCode, auth.GrantRefreshToken, auth.GrantClientCredentials, auth.GrantDeviceCode, auth.GrantTokenExchange:
		default:
			return fmt.Errorf("oauth: registration grant type %q is unknown", g)
		}
	}
	if p.OpenLimit.Rate < 0 || p.OpenLimit.Burst < 0 {
		return errors.New("oauth: the open registration limit is negative")
	}
	if len(p.SoftwareStatementKeys) > 0 {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(p.SoftwareStatementKeys, &set); err != nil || len(set.Keys) == 0 {
			return errors.New("oauth: the software statement keys are not a JWK Set with keys")
		}
		for _, k := range set.Keys {
			if !k.IsPublic() || !k.Valid() {
				return fmt.Errorf("oauth: software statement key %q is not a valid public key", k.KeyID)
			}
		}
	}
	return nil
}
