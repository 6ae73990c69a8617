package oauth

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// grantClientCredentials is the client credentials grant (RFC 6749 4.4):
// a confidential client gets an access token for itself (sub is its ID),
// with scopes among its own and audiences among its own (RFC 8707). No
// refresh token (RFC 6749 4.4.3) and no ID token, as no user is involved.
func (s *Server) grantClientCredentials(ctx context.Context, c *auth.Client, form url.Values) (*tokenResponse, error) {
	if c.Public {
		return nil, errUnauthorizedClient("The client_credentials grant is only for confidential clients.")
	}
	scopes, err := s.grantScopes(c, form.Get("scope"))
	if err != nil {
		return nil, err
	}
	// openid and offline_access mean a user signed in; without one they
	// would mint tokens that look like a user's.
	if slices.Contains(scopes, ScopeOpenID) || slices.Contains(scopes, ScopeOfflineAccess) {
		return nil, errInvalidScope("The openid and offline_access scopes need a user; they are not for the client_credentials grant.")
	}
	auds, err := s.resolveAudiences(c, form["resource"])
	if err != nil {
		return nil, err
	}
	jkt := dpopJKT(ctx)
	at, err := s.issueAccessToken(&grant{client: c, scopes: scopes, audiences: auds, jkt: jkt}, s.now())
	if err != nil {
		return nil, err
	}
	return &tokenResponse{
		AccessToken: at.token,
		TokenType:   tokenType(jkt),
		ExpiresIn:   int64(at.ttl / time.Second),
		Scope:       strings.Join(scopes, " "),
	}, nil
}
