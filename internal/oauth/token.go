package oauth

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// handleToken is the token endpoint (RFC 6749 3.2, OAuth 2.1 3.2): it
// reads the form, authenticates the client (clientauth.go), checks that
// the client may use the grant, and runs the grant's handler. Every
// response carries Cache-Control: no-store (RFC 6749 5.1).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	resp, err := s.token(r.Context(), r, form)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// grantHandlers are the grants the token endpoint implements. The
// implicit and password grants are gone in OAuth 2.1; the device grant is
// not implemented.
var grantHandlers = map[string]func(s *Server, ctx context.Context, c *auth.Client, form url.Values) (*tokenResponse, error){
	auth.GrantAuthorizationCode: (*Server).grantAuthorizationCode,
	auth.GrantRefreshToken:      (*Server).grantRefreshToken,
	auth.GrantClientCredentials: (*Server).grantClientCredentials,
}

func (s *Server) token(ctx context.Context, r *http.Request, form url.Values) (*tokenResponse, error) {
	c, err := s.authenticateClient(ctx, r, form)
	if err != nil {
		return nil, err
	}
	allowCORS(r, c)
	gt := form.Get("grant_type")
	if gt == "" {
		return nil, errInvalidRequest("The grant_type parameter is missing.")
	}
	handle, ok := grantHandlers[gt]
	if !ok {
		return nil, errUnsupportedGrantType("The grant type is not supported.")
	}
	if !slices.Contains(c.GrantTypes, gt) {
		return nil, errUnauthorizedClient("The client may not use the %s grant.", gt)
	}
	return handle(s, ctx, c, form)
}
