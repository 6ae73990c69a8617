package oauth

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// handleToken is the token endpoint (RFC 6749 3.2, OAuth 2.1 3.2): it
// reads the form, authenticates the client (clientauth.go), checks that
// the client may use the grant, and runs the grant's handler. Every
// response carries Cache-Control: no-store (RFC 6749 5.1).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		s.countToken(nil, nil, err)
		s.writeTokenError(w, r, err)
		return
	}
	ctx, end := s.startTokenSpan(r.Context(), form)
	c, resp, err := s.token(ctx, r, form)
	end(c, err)
	s.countToken(c, resp, err)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// countToken counts one token request in Config.Usage: VALID for tokens
// issued, else the OAuth error code, under the client once it is
// authenticated (a client ID nobody proved is not recorded: anyone could
// fill the store with made-up ones) and the user of a code or refresh
// grant. A failure of the server is no verdict on the request and is not
// counted.
func (s *Server) countToken(c *auth.Client, resp *tokenResponse, err error) {
	e := usage.Event{Outcome: "VALID"}
	if err != nil {
		e.Outcome = asError(err).Code
		if e.Outcome == CodeServerError || e.Outcome == CodeTemporarilyUnavailable {
			return
		}
	}
	if c != nil {
		e.ClientID = c.ID
	}
	if resp != nil {
		e.UserID = resp.userID
	}
	s.cfg.Usage.Count(e, s.now())
}

// grantHandlers are the grants the token endpoint implements. The
// implicit and password grants are gone in OAuth 2.1.
var grantHandlers = map[string]func(s *Server, ctx context.Context, c *auth.Client, form url.Values) (*tokenResponse, error){
	auth.GrantAuthorizationCode: (*Server).grantAuthorizationCode,
	auth.GrantRefreshToken:      (*Server).grantRefreshToken,
	auth.GrantClientCredentials: (*Server).grantClientCredentials,
	auth.GrantDeviceCode:        (*Server).grantDeviceCode,
}

// token authenticates the client and runs the grant. It returns the
// client once authenticated, also with an error.
func (s *Server) token(ctx context.Context, r *http.Request, form url.Values) (*auth.Client, *tokenResponse, error) {
	c, err := s.authenticateClient(ctx, r, form)
	if err != nil {
		return nil, nil, err
	}
	allowCORS(r, c)
	gt := form.Get("grant_type")
	if gt == "" {
		return c, nil, errInvalidRequest("The grant_type parameter is missing.")
	}
	handle, ok := grantHandlers[gt]
	if !ok {
		return c, nil, errUnsupportedGrantType("The grant type is not supported.")
	}
	if !slices.Contains(c.GrantTypes, gt) {
		return c, nil, errUnauthorizedClient("The client may not use the %s grant.", gt)
	}
	resp, err := handle(s, ctx, c, form)
	return c, resp, err
}
