package oauth

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// userinfo is the UserInfo response (OIDC Core 5.3.2) for the standard
// claims Gatehouse keeps.
type userinfo struct {
	Subject           string `json:"sub"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
}

// handleUserinfo is the UserInfo endpoint (OIDC Core 5.3). The access
// token comes in the Authorization header (RFC 6750 2.1) or, for POST, in
// the form body (RFC 6750 2.2); never in the URL. It must carry the openid
// scope; profile adds name and preferred_username, email adds email and
// email_verified. Errors are RFC 6750 3 challenges.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	s.setDPoPNonce(w)
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.writeBearerError(w, r, &Error{Code: CodeInvalidRequest, Description: "Use GET or POST.", Status: http.StatusMethodNotAllowed})
		return
	}
	info, err := s.userinfo(r.Context(), w, r)
	if err != nil {
		s.writeBearerError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// errNoToken is a request without any credentials: RFC 6750 3.1 answers it
// with a bare challenge, no error code.
var errNoToken = errors.New("oauth: no bearer token")

func (s *Server) userinfo(ctx context.Context, w http.ResponseWriter, r *http.Request) (*userinfo, error) {
	token, dpop, err := bearerToken(w, r)
	if err != nil {
		return nil, err
	}
	claims, err := s.verifyAccessToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if claims == nil {
		return nil, errInvalidToken("The access token is invalid, expired or revoked.")
	}
	if err := s.userinfoDPoP(r, token, dpop, claims); err != nil {
		return nil, err
	}
	// verifyAccessToken has just looked the client up: this is the cache.
	if c, err := s.clients.Lookup(ctx, claims.ClientID); err == nil {
		allowCORS(r, c)
	}
	scopes := claims.Scopes
	if !slices.Contains(scopes, ScopeOpenID) {
		return nil, errInsufficientScope("The access token lacks the openid scope.")
	}
	u, err := s.accounts.Get(ctx, claims.Subject)
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return nil, errInvalidToken("The access token is invalid, expired or revoked.")
		}
		return nil, err
	}
	if u.Disabled() {
		return nil, errInvalidToken("The access token is invalid, expired or revoked.")
	}
	info := &userinfo{Subject: u.ID}
	if slices.Contains(scopes, ScopeProfile) {
		info.Name, info.PreferredUsername = u.Name, u.Username
	}
	if slices.Contains(scopes, ScopeEmail) && u.Email != "" {
		verified := u.EmailVerified
		info.Email, info.EmailVerified = u.Email, &verified
	}
	return info, nil
}

// bearerToken takes the access token from the Authorization header (in
// the Bearer or, with dpop true, the DPoP scheme of RFC 9449 7.1, read as
// every resource server of Gatehouse reads them: verify.AccessToken) or a
// POSTed form, refusing a request that uses both or sends it in the query
// (RFC 6750 2: exactly one method).
func bearerToken(w http.ResponseWriter, r *http.Request) (token string, dpop bool, err error) {
	if r.URL.Query().Has("access_token") {
		return "", false, errInvalidRequest("The access token must not be sent in the URL.")
	}
	var fromHeader string
	if _, sent := r.Header["Authorization"]; sent {
		tok, isDPoP, ok := verify.AccessToken(r)
		switch {
		case ok:
			fromHeader, dpop = tok, isDPoP
		case verify.AccessTokenRefusal(r).Reason == verify.ReasonMalformed:
			return "", false, errInvalidRequest("Send one Authorization header, with one token in the Bearer or DPoP scheme.")
		default:
			// Another scheme: no credentials this endpoint knows.
			return "", false, errNoToken
		}
	}
	var fromBody string
	// The body carries a token only as a form (RFC 6750 2.2); a POST with
	// a body of another type (an empty JSON object, say) authenticates
	// with its header alone.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mt == "application/x-www-form-urlencoded" {
		form, err := readForm(w, r)
		if err != nil {
			return "", false, err
		}
		fromBody = form.Get("access_token")
	}
	switch {
	case fromHeader != "" && fromBody != "":
		return "", false, errInvalidRequest("Send the access token once: in the Authorization header or in the body.")
	case fromHeader != "":
		return fromHeader, dpop, nil
	case fromBody != "":
		return fromBody, false, nil
	}
	return "", false, errNoToken
}

// writeBearerError answers with the WWW-Authenticate challenge of RFC 6750
// 3: a bare Bearer challenge without credentials, with error= otherwise.
func (s *Server) writeBearerError(w http.ResponseWriter, r *http.Request, err error) {
	h := w.Header()
	if errors.Is(err, errNoToken) {
		h.Set("WWW-Authenticate", `Bearer realm="`+s.realm()+`"`)
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	e := asError(err)
	s.logError(r, e)
	scheme, extra := s.challengeScheme(err)
	challenge := scheme + ` realm="` + s.realm() + `", error="` + e.Code + `"`
	if d := cleanDescription(e.Description); d != "" {
		challenge += `, error_description="` + strings.ReplaceAll(d, `"`, `'`) + `"`
	}
	if e.Code == CodeInsufficientScope {
		challenge += `, scope="openid"`
	}
	challenge += extra
	h.Set("WWW-Authenticate", challenge)
	writeJSON(w, e.Status, errorBody{Error: e.Code, ErrorDescription: cleanDescription(e.Description)})
}
