package oauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CSRF protection of the login, consent and logout forms.
//
// Each form carries a synchronizer token: a timestamp and an HMAC (under
// the server's hashing secret, which every node shares) over the form's
// purpose, the timestamp, what the token is bound to, and the pending
// authorization request:
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
// Tokens are checked in constant time and expire after csrfTTL. Being
// stateless, they work on any node sharing the database. On top, a POST
// that a browser marks as cross-site (Sec-Fetch-Site) or that comes from
// another origin is refused before the token is looked at.

// csrfTTL is how long a rendered form may be submitted.
const csrfTTL = time.Hour

// Purposes of CSRF tokens; a token of one is useless for another.
const (
	csrfLogin   = "login"
	csrfConsent = "consent"
	csrfLogout  = "logout"
)

func (s *Server) csrfMAC(purpose, binding, request string, ts int64) string {
	sum := s.hasher.Sum("gatehouse-csrf\x00" + purpose + "\x00" + strconv.FormatInt(ts, 10) + "\x00" + binding + "\x00" + request)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// csrfToken returns a token for a form of that purpose.
func (s *Server) csrfToken(purpose, binding, request string) string {
	ts := s.now().Unix()
	return strconv.FormatInt(ts, 10) + "." + s.csrfMAC(purpose, binding, request, ts)
}

// checkCSRF reports whether token was made by csrfToken for the same
// purpose, binding and request, less than csrfTTL ago.
func (s *Server) checkCSRF(purpose, binding, request, token string) bool {
	if binding == "" || len(token) > 64 {
		return false
	}
	tsStr, mac, ok := strings.Cut(token, ".")
	if !ok || len(tsStr) > 12 {
		return false
	}
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return false
	}
	age := s.now().Sub(time.Unix(ts, 0))
	if age < -time.Minute || age > csrfTTL {
		return false
	}
	want := s.csrfMAC(purpose, binding, request, ts)
	return subtle.ConstantTimeCompare([]byte(mac), []byte(want)) == 1
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

// sameOrigin reports whether a POST may come from our own pages. Browsers
// send Sec-Fetch-Site on every request; "same-origin" is our form, "none"
// a user action such as a bookmark. Without it, an Origin header must be
// the issuer's origin, except "null", which browsers send for our own
// forms because the pages set Referrer-Policy: no-referrer (Fetch,
// "serializing a request origin"); the CSRF token then decides.
func (s *Server) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		return o == s.browser.origin
	}
	return true
}
