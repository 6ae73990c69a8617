package oauth

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// errBadRegistrationToken is the one answer to every refused registration
// access token: unknown client, a client registered by an admin, another
// client's token (RFC 7592 3: 401, so that a caller learns nothing).
func errBadRegistrationToken() *Error {
	return errInvalidToken("The registration access token is invalid for this client.")
}

// handleClientConfiguration is a client's configuration endpoint (RFC 7592
// 2): GET reads its registration, PUT replaces it, DELETE deregisters it,
// each with the registration access token the registration returned.
func (s *Server) handleClientConfiguration(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodPut, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		s.writeTokenError(w, r, &Error{Code: CodeInvalidRequest, Description: "Use GET, PUT or DELETE.", Status: http.StatusMethodNotAllowed})
		return
	}
	c, token, err := s.registeredClient(w, r)
	if err != nil {
		s.writeBearerError(w, r, err)
		return
	}
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		s.writeClientInformation(w, r, http.StatusOK, c, client.Credentials{})
	case http.MethodDelete:
		if err := s.cfg.Registrar.Delete(ctx, c.ID, c.ID); err != nil {
			s.writeRegistrationError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		in, err := s.updateInput(w, r, c, token, s.now())
		if err != nil {
			s.writeRegistrationError(w, r, err)
			return
		}
		updated, creds, err := s.cfg.Registrar.UpdateRegistered(ctx, c.ID, c.ID, in)
		if err != nil {
			if auth.ErrorCode(err) == auth.EFORBIDDEN || auth.ErrorCode(err) == auth.ENOTFOUND {
				s.writeBearerError(w, r, errBadRegistrationToken())
				return
			}
			if auth.ErrorCode(err) == auth.ECONFLICT {
				err = errInvalidRequest("The client changed during the update; read it and try again.")
			}
			s.writeRegistrationError(w, r, err)
			return
		}
		s.writeClientInformation(w, r, http.StatusOK, updated, creds)
	}
}

// registeredClient authenticates a request to a configuration endpoint:
// the client named in the path, whose registration access token the
// request bears. A client an admin created has none and matches nothing.
func (s *Server) registeredClient(w http.ResponseWriter, r *http.Request) (*auth.Client, string, error) {
	token, _, err := bearerToken(w, r) // a bearer credential, whatever the scheme says
	if err != nil {
		return nil, "", err
	}
	id := r.PathValue("client_id")
	if !client.ValidID(id) {
		return nil, "", errBadRegistrationToken()
	}
	c, err := s.cfg.Registrar.Get(r.Context(), id)
	if err != nil {
		return nil, "", tokenRefusal(err, errBadRegistrationToken().Description)
	}
	if !s.cfg.Registrar.RegistrationTokenMatches(c, token) {
		return nil, "", errBadRegistrationToken()
	}
	return c, token, nil
}

// updateInput reads a client update request (RFC 7592 2.2). It must name
// the client; the members the server sets may be sent back only as they
// are (client_secret the current secret, which an update cannot change);
// the metadata go through the registration policy again, open registration
// included for a client registered openly. The settings that only an
// admin sets (owner, audiences, token lifetimes, exchange policy) are kept.
func (s *Server) updateInput(w http.ResponseWriter, r *http.Request, c *auth.Client, token string, now time.Time) (client.Input, error) {
	req, err := s.readRegistration(w, r, now)
	if err != nil {
		return client.Input{}, err
	}
	switch {
	case req.ClientID != c.ID:
		return client.Input{}, errInvalidClientMetadata("The request must hold the client's client_id.")
	case req.ClientSecret != "" && !s.cfg.Registrar.SecretMatches(c, req.ClientSecret):
		return client.Input{}, errInvalidClientMetadata("The client_secret is not the client's current secret; an update cannot change it.")
	case req.RegistrationAccessToken != "" && req.RegistrationAccessToken != token:
		return client.Input{}, errInvalidClientMetadata("The registration_access_token is not the one of this request.")
	case req.RegistrationClientURI != "" && req.RegistrationClientURI != s.url(PathRegister+"/"+c.ID):
		return client.Input{}, errInvalidClientMetadata("The registration_client_uri is not this client's.")
	}
	var stored storedMetadata
	if len(c.Metadata) > 0 {
		_ = json.Unmarshal(c.Metadata, &stored) // unreadable: not registered openly
	}
	in, err := s.inputOf(req, stored.Open)
	if err != nil {
		return in, err
	}
	in.Owner, in.Audiences = c.Owner, c.Audiences
	in.AccessTokenTTL, in.RefreshTokenTTL, in.RefreshTokenMaxTTL = c.AccessTokenTTL, c.RefreshTokenTTL, c.RefreshTokenMaxTTL
	if slices.Contains(in.GrantTypes, auth.GrantTokenExchange) {
		in.ExchangeIssuers, in.AllowImpersonation = c.ExchangeIssuers, c.AllowImpersonation
	}
	if in.MFA == "" {
		// An admin's (or the registration's) required second factor stays:
		// an update that leaves out default_acr_values cannot drop it.
		in.MFA = c.MFA
	}
	return in, nil
}
