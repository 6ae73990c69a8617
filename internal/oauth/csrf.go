package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// CSRF protection of the login, consent and logout forms: web.CSRF's
// synchronizer tokens (shared with the dashboard), bound as follows.
//
//   - the consent and logout forms are bound to the session (its stored
//     hash), so a token from another browser's session, or a forged form,
//     is refused; binding the request too means the request a user saw on
//     the consent page is the one that is granted, parameter for parameter;
//   - the login form has no session yet: it is bound to a random
//     pre-session cookie (a double-submit cookie whose pairing with the
//     token is fixed by the HMAC, so an attacker who can plant a cookie
//     still cannot make a matching token).
//
// On top, a POST that a browser marks as cross-site (Sec-Fetch-Site) or
// that comes from another origin is refused before the token is looked at.

// csrfTTL is how long a rendered form may be submitted.
const csrfTTL = web.DefaultCSRFTTL

// Purposes of CSRF tokens; a token of one is useless for another.
const (
	csrfLogin   = "login"
	csrfConsent = "consent"
	csrfLogout  = "logout"
	// csrfSelectAccount: "continue as" on the login page of a
	// prompt=select_account request, bound to the session it continues.
	csrfSelectAccount = "select_account"
)

func (s *Server) csrf() web.CSRF { return web.CSRF{Hasher: s.hasher, Now: s.now, TTL: csrfTTL} }

// csrfToken returns a token for a form of that purpose.
func (s *Server) csrfToken(purpose, binding, request string) string {
	return s.csrf().Token(purpose, binding, request)
}

// checkCSRF reports whether token was made by csrfToken for the same
// purpose, binding and request, less than csrfTTL ago.
func (s *Server) checkCSRF(purpose, binding, request, token string) bool {
	return s.csrf().Check(purpose, binding, request, token)
}

// sessionBinding is what consent and logout tokens are bound to.
func sessionBinding(sess *browserSession) string {
	if sess == nil {
		return ""
	}
	return hex.EncodeToString(sess.Hash)
}

// loginBinding returns the value of the browser's pre-session cookie,
// setting a new one if it has none (or a malformed one).
func (s *Server) loginBinding(w http.ResponseWriter, r *http.Request) (string, error) {
	if c, err := r.Cookie(s.loginCookieName()); err == nil && validLoginCookie(c.Value) {
		return c.Value, nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, s.cookie(s.loginCookieName(), v, csrfTTL))
	return v, nil
}

// presentedLoginBinding is the pre-session cookie a login POST carries,
// or "".
func (s *Server) presentedLoginBinding(r *http.Request) string {
	if c, err := r.Cookie(s.loginCookieName()); err == nil && validLoginCookie(c.Value) {
		return c.Value
	}
	return ""
}

func validLoginCookie(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil
}

// sameOrigin reports whether a POST may come from our own pages
// (web.SameOrigin, at the issuer's origin).
func (s *Server) sameOrigin(r *http.Request) bool {
	return web.SameOrigin(r, s.browser.origin)
}
