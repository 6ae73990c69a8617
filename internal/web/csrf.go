package web

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// CSRF makes and checks the synchronizer tokens of Gatehouse's forms (the
// login, consent and logout pages, and the dashboard).
//
// A token is a timestamp and an HMAC, under the server's hashing secret
// (which every node shares, so a token works on any node), over the form's
// purpose, the timestamp, what the token is bound to (a session's stored
// hash, or a pre-session cookie) and, where it matters, the request the
// form carries. A token of one purpose is useless for another, a token of
// another session is refused, and tokens expire after TTL. On top, callers
// refuse a POST a browser marks as cross-site (SameOrigin) before looking
// at the token.
type CSRF struct {
	Hasher *secret.Hasher
	Now    auth.Now      // nil: auth.SystemNow
	TTL    time.Duration // how long a rendered form may be submitted; 0: DefaultCSRFTTL
}

// DefaultCSRFTTL is how long a form may be submitted by default.
const DefaultCSRFTTL = time.Hour

func (c CSRF) now() time.Time {
	if c.Now == nil {
		return auth.SystemNow()
	}
	return c.Now()
}

func (c CSRF) mac(purpose, binding, request string, ts int64) string {
	sum := c.Hasher.Sum("gatehouse-csrf\x00" + purpose + "\x00" + strconv.FormatInt(ts, 10) + "\x00" + binding + "\x00" + request)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Token returns a token for a form of that purpose, bound to binding and
// request.
func (c CSRF) Token(purpose, binding, request string) string {
	ts := c.now().Unix()
	return strconv.FormatInt(ts, 10) + "." + c.mac(purpose, binding, request, ts)
}

// Check reports whether token was made by Token for the same purpose,
// binding and request, less than TTL ago. An empty binding never checks.
func (c CSRF) Check(purpose, binding, request, token string) bool {
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
	ttl := c.TTL
	if ttl == 0 {
		ttl = DefaultCSRFTTL
	}
	age := c.now().Sub(time.Unix(ts, 0))
	if age < -time.Minute || age > ttl {
		return false
	}
	want := c.mac(purpose, binding, request, ts)
	return subtle.ConstantTimeCompare([]byte(mac), []byte(want)) == 1
}

// SameOrigin reports whether a POST may come from our own pages, served at
// origin ("https://host[:port]"). Browsers send Sec-Fetch-Site on every
// request; "same-origin" is our form, "none" a user action such as a
// bookmark. Without it, an Origin header must be origin, except "null",
// which browsers send for our own forms because the pages set
// Referrer-Policy: no-referrer (Fetch, "serializing a request origin"); the
// CSRF token then decides.
func SameOrigin(r *http.Request, origin string) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		return o == origin
	}
	return true
}
