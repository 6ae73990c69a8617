package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// The account pages (/account, internal/selfservice) use the browser
// session of this server: *Server implements selfservice.Sessions.
//
// Signing in to them is signing in to a first-party client of this server,
// AccountClientID, with the ordinary authorization code flow: the browser
// goes to the authorization endpoint with PKCE (S256) and a state, signs
// in on the login page there (with whatever second step the login flow
// asks for; no consent, the client being first-party), and comes back to
// PathAccountCallback with a code. The callback checks the state, redeems
// the code itself — it must have been issued to this client, for this
// redirect URI, with this browser's PKCE verifier, and to the session this
// browser now holds — and returns to the account page it started from.
// No token is issued: the account pages need the session, which the login
// page has set. Re-authentication before a sensitive change is the same
// flow with max_age; a request for a second factor adds acr_values.
//
// The state and the code verifier derive from one random seed kept, with
// the page to return to, in a short-lived cookie (keyed hashes of it, each
// for its purpose), so any node can serve the callback; the state also
// covers the return path, so the cookie cannot be edited to send the
// browser elsewhere.

// The account pages' first-party client.
const (
	AccountClientID   = "cli_gatehouse-account"
	AccountClientName = "Your account"
	// PathAccountCallback is the client's redirect URI, relative to the
	// issuer. It lies below the account pages' path; mount it on this
	// server's Handler.
	PathAccountCallback = "/account/callback"
	// accountPath is where the account pages live: the only place a
	// sign-in returns to.
	accountPath = "/account"
)

// accountSigninTTL bounds how long a user may take on the login page.
const accountSigninTTL = 15 * time.Minute

// AccountClient is the account pages' client for the issuer, as
// client.Registry.EnsureFirstParty keeps it: public (PKCE, no secret),
// the authorization code grant, the openid scope, one redirect URI.
func AccountClient(issuer string) client.Input {
	return client.Input{
		Name:         AccountClientName,
		Public:       true,
		AuthMethod:   auth.AuthMethodNone,
		RedirectURIs: []string{strings.TrimSuffix(issuer, "/") + PathAccountCallback},
		GrantTypes:   []string{auth.GrantAuthorizationCode},
		Scopes:       []string{ScopeOpenID},
	}
}

// Current returns the session of the request's cookie and its user; nil,
// nil, nil when there is none, it has expired, or its user is gone or
// disabled. Only store failures are errors.
func (s *Server) Current(r *http.Request) (*auth.Session, *auth.User, error) {
	sess, err := s.currentSession(r.Context(), r)
	if err != nil || sess == nil {
		return nil, nil, err
	}
	return sess.Session, sess.user, nil
}

// SignIn answers the request with a redirect to the authorization endpoint
// for the account client, which brings the browser back to returnTo (a
// path below /account; anything else returns to /account). maxAge > 0
// asks for a sign-in at most that old (OIDC Core 3.1.2.1 max_age); mfa
// asks for the MFA authentication context (acr_values).
func (s *Server) SignIn(w http.ResponseWriter, r *http.Request, returnTo string, maxAge time.Duration, mfa bool) {
	if !accountReturnPath(returnTo) {
		returnTo = accountPath
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		s.errorPage(w, r, errServerError(err))
		return
	}
	seed := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, s.cookie(s.accountSigninCookieName(), seed+"."+base64.RawURLEncoding.EncodeToString([]byte(returnTo)), accountSigninTTL))
	verifier := s.accountDerive("pkce", seed)
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id":             {AccountClientID},
		"redirect_uri":          {s.url(PathAccountCallback)},
		"response_type":         {"code"},
		"scope":                 {ScopeOpenID},
		"state":                 {s.accountDerive("state", seed+"\x00"+returnTo)},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	if maxAge > 0 {
		q.Set("max_age", strconv.FormatInt(int64(maxAge/time.Second), 10))
	}
	if mfa {
		q.Set("acr_values", auth.ACRMFA)
	}
	web.SetHeaders(w.Header(), nil)
	http.Redirect(w, r, s.url(PathAuthorize)+"?"+q.Encode(), http.StatusSeeOther)
}

// Renew replaces sess, the request's session, with a new one for the same
// user, sign-in time, methods and expiry under a new secret, and sets the
// browser's cookie to it; the old session is deleted (if a password change
// has not deleted it already). A change of password keeps the browser that
// made it signed in this way, while every other session ends.
// EUNAUTHORIZED when the user is gone or disabled meanwhile.
func (s *Server) Renew(w http.ResponseWriter, r *http.Request, sess *auth.Session) error {
	ctx := r.Context()
	secret, hash, err := s.hasher.New(PrefixSession)
	if err != nil {
		return err
	}
	next := *sess
	next.Hash = hash
	if err := s.store.CreateSession(ctx, &next); err != nil {
		return fmt.Errorf("oauth: renew session: %w", err)
	}
	if err := s.store.DeleteSession(ctx, sess.Hash); err != nil {
		return fmt.Errorf("oauth: renew session: %w", err)
	}
	// As in startSession: a disabling that landed meanwhile must not be
	// outlived by the new session.
	u, err := s.accounts.Get(ctx, sess.UserID)
	if err != nil || u.Disabled() {
		if derr := s.store.DeleteSession(ctx, hash); derr != nil {
			s.logger.WarnContext(ctx, "oauth: delete a renewed session of a disabled user", "err", derr)
		}
		if err == nil || auth.ErrorCode(err) == auth.ENOTFOUND {
			return auth.Errorf(auth.EUNAUTHORIZED, "The account is disabled.")
		}
		return err
	}
	http.SetCookie(w, s.cookie(s.sessionCookieName(), secret, next.ExpiresAt.Sub(s.now())))
	return nil
}

// SignOut ends the request's session, if any, and deletes its cookie. The
// clients signed in through it are told (back-channel logout).
func (s *Server) SignOut(w http.ResponseWriter, r *http.Request) error {
	return s.endSession(r.Context(), w, r)
}

// Upgrade adds methods to a session's sign-in after a step-up — a second
// factor proved, or enrolled and confirmed, on the account pages — and
// makes its sign-in time now. ENOTFOUND if the session has ended.
func (s *Server) Upgrade(ctx context.Context, sess *auth.Session, amr []string) error {
	return s.store.UpgradeSession(ctx, sess.Hash, auth.MergeAMR(sess.AMR, amr), s.now())
}

func (s *Server) accountSigninCookieName() string {
	if s.cfg.InsecureCookies {
		return auth.CookieAccountSigninInsecure
	}
	return auth.CookieAccountSignin
}

// accountDerive returns the value of one purpose (state, PKCE verifier)
// from the sign-in seed: 43 URL-safe characters, as RFC 7636 4.1 wants of
// a verifier.
func (s *Server) accountDerive(purpose, seed string) string {
	sum := s.hasher.Sum("gatehouse-account-signin\x00" + purpose + "\x00" + seed)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// accountReturnPath reports whether p is a path of the account pages: a
// local path below /account (web.SafeReturn).
func accountReturnPath(p string) bool { return web.SafeReturn(p, accountPath) != "" }

// Messages of the account callback's error page.
const (
	msgAccountNoSignin = "No sign-in to your account was in progress in this browser, or it took too long. Open your account page again."
	msgAccountMismatch = "This sign-in does not belong to this browser. Open your account page again."
)

// handleAccountCallback finishes a sign-in to the account pages (RFC 6749
// 4.1.2, RFC 7636 4.6, RFC 9207 2.4) and returns to the page it started
// from.
func (s *Server) handleAccountCallback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.errorPage(w, r, &Error{Code: CodeInvalidRequest, Description: "This page accepts GET.", Status: http.StatusMethodNotAllowed})
		return
	}
	ctx := r.Context()
	c, err := r.Cookie(s.accountSigninCookieName())
	http.SetCookie(w, s.cookie(s.accountSigninCookieName(), "", 0)) // one use, whatever happens
	if err != nil {
		s.errorPage(w, r, errInvalidRequest(msgAccountNoSignin))
		return
	}
	seed, retEnc, _ := strings.Cut(c.Value, ".")
	ret, err := base64.RawURLEncoding.DecodeString(retEnc)
	returnTo := string(ret)
	if err != nil || len(seed) != 43 || !accountReturnPath(returnTo) {
		s.errorPage(w, r, errInvalidRequest(msgAccountNoSignin))
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(s.accountDerive("state", seed+"\x00"+returnTo))) != 1 {
		s.errorPage(w, r, forbidden(msgAccountMismatch))
		return
	}
	if q.Get("iss") != s.issuer { // RFC 9207 2.4: this server always sends it
		s.errorPage(w, r, forbidden(msgAccountMismatch))
		return
	}
	if e := q.Get("error"); e != "" {
		desc := "Signing in to your account was not completed"
		if d := q.Get("error_description"); d != "" {
			desc += ": " + auth.TruncateUTF8(d, 200)
		}
		s.errorPage(w, r, &Error{Code: CodeAccessDenied, Description: desc, Status: http.StatusForbidden})
		return
	}
	if err := s.redeemAccountCode(ctx, r, q.Get("code"), seed); err != nil {
		s.errorPage(w, r, err)
		return
	}
	web.SetHeaders(w.Header(), nil)
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}

// redeemAccountCode consumes the account client's code and checks that it
// was issued for this redirect URI and PKCE verifier, and to the session
// the request carries.
func (s *Server) redeemAccountCode(ctx context.Context, r *http.Request, code, seed string) error {
	hash, ok := s.parseSecret(PrefixAuthCode, code)
	if !ok {
		return forbidden(msgAccountMismatch)
	}
	now := s.now()
	ac, err := s.store.ConsumeAuthCode(ctx, hash, now)
	switch auth.ErrorCode(err) {
	case "":
	case auth.ENOTFOUND, auth.ECONFLICT:
		return forbidden(msgAccountMismatch)
	default:
		return fmt.Errorf("oauth: consume the account code: %w", err)
	}
	if ac.ClientID != AccountClientID || ac.RedirectURI != s.url(PathAccountCallback) || ac.ExpiredAt(now) {
		return forbidden(msgAccountMismatch)
	}
	if err := checkPKCE(ac.CodeChallenge, s.accountDerive("pkce", seed)); err != nil {
		return forbidden(msgAccountMismatch)
	}
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		return err
	}
	if sess == nil || sess.user.ID != ac.UserID || subtle.ConstantTimeCompare([]byte(sid(sess.Hash)), []byte(ac.SessionID)) != 1 {
		return forbidden(msgAccountMismatch)
	}
	return nil
}
