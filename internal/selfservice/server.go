// Package selfservice serves /account: the pages where a signed-in user
// manages their own account — password, second factors and passkeys,
// linked identity providers, sessions and the applications they allowed —
// and the page that redeems an administrator's password-reset link.
//
// It owns no session of its own: the browser session is the authorization
// server's (Sessions), so signing in to /account is the same sign-in,
// with the same second factors and throttling, as signing in to any
// client. Every page has the strict CSP of internal/web; every change is
// a POST from our own page with a CSRF token bound to the session.
package selfservice

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Path is where the account pages are served; every page is below it.
const Path = "/account"

// DefaultRecentAuth is how old a sign-in may be for a sensitive change
// (a new password, a second factor added or removed) before the user is
// asked to sign in again.
const DefaultRecentAuth = 10 * time.Minute

// maxForm bounds the body of an account form.
const maxForm = 32 << 10

// Sessions is the authorization server's browser session, as the account
// pages need it (implemented by *oauth.Server).
type Sessions interface {
	// Current returns the session of the request's cookie and its user;
	// nil, nil, nil when there is none, it has expired, or its user is
	// gone or disabled. Only store failures are errors.
	Current(r *http.Request) (*auth.Session, *auth.User, error)
	// SignIn answers the request with a redirect through the sign-in flow
	// that brings the browser back to returnTo (a path below Path).
	// maxAge > 0 asks for a sign-in at most that old (re-authentication
	// before a sensitive change); mfa asks for a second factor.
	SignIn(w http.ResponseWriter, r *http.Request, returnTo string, maxAge time.Duration, mfa bool)
	// Renew gives the browser a new session in place of sess (same user,
	// sign-in time and methods, a new secret) after a password change has
	// ended every session. EUNAUTHORIZED when the user is disabled.
	Renew(w http.ResponseWriter, r *http.Request, sess *auth.Session) error
	// SignOut ends the request's session and deletes its cookie.
	SignOut(w http.ResponseWriter, r *http.Request) error
}

// Store is what the account pages keep and read themselves.
type Store interface {
	auth.SessionStore
	auth.ConsentStore
	auth.AuditStore
	auth.DashboardSessionStore // a password change ends the user's dashboard sessions
}

// Config configures a Server. Issuer, Sessions, Store, Accounts and Hasher
// are required.
type Config struct {
	// Issuer is the public base URL of the server: the origin forms must
	// come from, and the base of absolute links.
	Issuer   string
	Sessions Sessions
	Store    Store
	Accounts *account.Service
	// Consents lists and revokes the user's consents (*oauth.Server), and
	// Clients names their clients (*client.Registry): the applications
	// page.
	Consents Consents
	Clients  Clients
	// Hasher keys the CSRF tokens (the server's hashing secret, shared
	// by every node).
	Hasher *secret.Hasher
	// Stylesheet is the URL of the pages' stylesheet.
	Stylesheet string
	// Passkeys registers and manages passkeys (/account/passkeys); nil:
	// those pages answer 404.
	Passkeys Passkeys
	// RecentAuth is how old a sign-in may be for a sensitive change;
	// 0: DefaultRecentAuth.
	RecentAuth time.Duration
	Now        auth.Now     // nil: auth.SystemNow
	Logger     *slog.Logger // nil: discard
	// TOTP serves /account/totp (authenticator apps and recovery
	// codes); nil: the page answers 404.
	TOTP TOTP
	// Providers serves /account/providers (linked identity providers);
	// nil leaves the page answering 404.
	Providers Providers
}

// Server serves the account pages.
type Server struct {
	cfg    Config
	origin string
	csrf   web.CSRF
	now    auth.Now
	logger *slog.Logger
	mux    *http.ServeMux
}

// route is one account page or action.
type route struct {
	pattern string // a net/http ServeMux pattern with its method
	handle  func(*Server, http.ResponseWriter, *http.Request)
}

// routes is the one list of the account endpoints. Each part of the
// account pages adds its own lines.
func (s *Server) routes() []route {
	return []route{
		{"GET " + Path, (*Server).handleOverview},
		{"GET " + Path + "/password", (*Server).handlePassword},
		{"POST " + Path + "/password", (*Server).handleChangePassword},
		{"GET " + Path + "/sessions", (*Server).handleSessions},
		{"POST " + Path + "/sessions/sign-out", (*Server).handleSessionSignOut},
		{"POST " + Path + "/sessions/sign-out-others", (*Server).handleSignOutOthers},
		{"GET " + Path + "/applications", (*Server).handleApplications},
		{"POST " + Path + "/applications/revoke", (*Server).handleRevokeApplication},
		{"POST " + Path + "/sign-out", (*Server).handleSignOut},
		{"GET " + totpPath, (*Server).handleTOTP},
		{"POST " + totpPath, (*Server).handleTOTPConfirm},
		{"POST " + totpPath + "/remove", (*Server).handleTOTPRemove},
		{"POST " + totpPath + "/recovery-codes", (*Server).handleTOTPRegenerate},
		{"GET " + pathPasskeys, (*Server).handlePasskeys},
		{"POST " + pathPasskeys, (*Server).handlePasskeyForm},
		{"GET " + pathPasskeyAdd, (*Server).handlePasskeyAdd},
		{"POST " + pathPasskeyBegin, (*Server).handlePasskeyBegin},
		{"POST " + pathPasskeyFinish, (*Server).handlePasskeyFinish},
		{"GET " + Path + "/reset", (*Server).handleResetForm},
		{"POST " + Path + "/reset", (*Server).handleReset},
		{"GET " + pathProviders, (*Server).handleProviders},
		{"POST " + pathProviders + "/link", (*Server).handleProviderLink},
		{"POST " + pathProviders + "/unlink", (*Server).handleProviderUnlink},
	}
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("selfservice: Issuer is required")
	case cfg.Sessions == nil || cfg.Store == nil || cfg.Accounts == nil || cfg.Hasher == nil:
		return nil, errors.New("selfservice: Sessions, Store, Accounts and Hasher are required")
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("selfservice: Issuer must be an http or https URL")
	}
	if cfg.RecentAuth == 0 {
		cfg.RecentAuth = DefaultRecentAuth
	}
	s := &Server{cfg: cfg, origin: u.Scheme + "://" + u.Host, now: cfg.Now, logger: cfg.Logger}
	if s.now == nil {
		s.now = auth.SystemNow
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.csrf = web.CSRF{Hasher: cfg.Hasher, Now: s.now}
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		h := rt.handle
		s.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) { h(s, w, r) })
	}
	return s, nil
}

// ServeHTTP serves the account pages; mount it at Path and Path + "/".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		s.errorPage(w, http.StatusNotFound, "Page not found", "There is no such account page.")
		return
	}
	h.ServeHTTP(w, r)
}

// URL returns the absolute URL of a path of this server.
func (s *Server) URL(path string) string { return strings.TrimSuffix(s.cfg.Issuer, "/") + path }

// requireUser returns the signed-in session and its user. Without one it
// sends the browser to sign in and back to this page, and ok is false.
func (s *Server) requireUser(w http.ResponseWriter, r *http.Request) (*auth.Session, *auth.User, bool) {
	sess, u, err := s.cfg.Sessions.Current(r)
	if err != nil {
		s.serverError(w, r, err)
		return nil, nil, false
	}
	if sess == nil {
		s.cfg.Sessions.SignIn(w, r, s.returnPath(r), 0, false)
		return nil, nil, false
	}
	return sess, u, true
}

// requireRecent is requireUser for sensitive changes: a sign-in older than
// RecentAuth is sent to sign in again first. A POST that finds the sign-in
// too old goes back to the page it came from (its form is not replayed).
func (s *Server) requireRecent(w http.ResponseWriter, r *http.Request) (*auth.Session, *auth.User, bool) {
	sess, u, ok := s.requireUser(w, r)
	if !ok {
		return nil, nil, false
	}
	if s.now().Sub(sess.AuthTime) > s.cfg.RecentAuth {
		s.cfg.Sessions.SignIn(w, r, s.returnPath(r), s.cfg.RecentAuth, false)
		return nil, nil, false
	}
	return sess, u, true
}

// returnPath is where a sign-in started from this request comes back to:
// the page itself for a GET, the page of the form otherwise.
func (s *Server) returnPath(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if p := safeReturn(r.URL.RequestURI()); p != "" {
			return p
		}
	}
	if p := safeReturn(r.URL.Path); p != "" {
		return p
	}
	return Path
}

// binding is what a session's CSRF tokens are bound to.
func binding(sess *auth.Session) string {
	return base64.RawURLEncoding.EncodeToString(sess.Hash)
}

// csrfToken returns the token of a form of that purpose for the session.
func (s *Server) csrfToken(sess *auth.Session, purpose string) string {
	return s.csrf.Token("account:"+purpose, binding(sess), "")
}

// readForm reads a POSTed account form: from our own pages only
// (web.SameOrigin), urlencoded, at most maxForm bytes, no field twice, and
// with a valid csrf_token of that purpose for the session. It answers the
// request itself when ok is false.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request, sess *auth.Session, purpose string) (url.Values, bool) {
	return s.readBoundForm(w, r, purpose, func(url.Values) string { return binding(sess) })
}

// readBoundForm is readForm with the CSRF token bound to what bind
// returns for the form rather than to a session (the reset page, whose
// visitor is not signed in, binds to the link's token in the form).
func (s *Server) readBoundForm(w http.ResponseWriter, r *http.Request, purpose string, bind func(url.Values) string) (url.Values, bool) {
	if !web.SameOrigin(r, s.origin) {
		s.errorPage(w, http.StatusForbidden, "Request refused", "The form was sent from another site.")
		return nil, false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		s.errorPage(w, http.StatusUnsupportedMediaType, "Request refused", "The form must be sent as application/x-www-form-urlencoded.")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxForm))
	if err != nil {
		s.errorPage(w, http.StatusRequestEntityTooLarge, "Request refused", "The form is too large.")
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.errorPage(w, http.StatusBadRequest, "Request refused", "The form could not be read.")
		return nil, false
	}
	for _, vs := range form {
		if len(vs) > 1 {
			s.errorPage(w, http.StatusBadRequest, "Request refused", "A form field appears more than once.")
			return nil, false
		}
	}
	if !s.csrf.Check("account:"+purpose, bind(form), "", form.Get("csrf_token")) {
		s.errorPage(w, http.StatusForbidden, "Form expired", "The form expired or was not sent from this page. Please go back, reload the page and try again.")
		return nil, false
	}
	return form, true
}

// safeReturn returns raw if it is a path a finished account step may send
// the browser to — an account page, or the authorization endpoint
// continuing a sign-in — and "" otherwise (web.SafeReturn).
func safeReturn(raw string) string { return web.SafeReturn(raw, Path, "/oauth2/authorize") }

// frame returns the parts every account page shares.
func (s *Server) frame(sess *auth.Session, u *auth.User, current string) web.AccountFrame {
	f := web.AccountFrame{Stylesheet: s.cfg.Stylesheet, Current: current, SignOutCSRF: s.csrfToken(sess, purposeSignOut)}
	if u != nil {
		f.Username = u.Username
	}
	for _, l := range accountSections {
		f.Nav = append(f.Nav, web.AccountLink{Path: l.path, Label: l.label, Current: l.path == current})
	}
	return f
}

// purposeSignOut is the CSRF purpose of the sign-out form every page has.
const purposeSignOut = "sign-out"

// accountSections are the account pages, in the order of the navigation.
var accountSections = []struct{ path, label string }{
	{Path, "Overview"},
	{Path + "/password", "Password"},
	{Path + "/totp", "Authenticator app"},
	{Path + "/passkeys", "Passkeys"},
	{Path + "/providers", "Linked accounts"},
	{Path + "/sessions", "Sessions"},
	{Path + "/applications", "Applications"},
}

// handleOverview is the account's front page.
func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	web.RenderAccount(w, http.StatusOK, "account.html", web.AccountOverviewPage{
		AccountFrame: s.frame(sess, u, Path),
		Email:        u.Email,
		Name:         u.Name,
	})
}

// errorPage writes the error page.
func (s *Server) errorPage(w http.ResponseWriter, status int, title, msg string) {
	web.RenderError(w, status, web.ErrorPage{Stylesheet: s.cfg.Stylesheet, Title: title, Message: msg})
}

// serverError logs err and writes a generic error page: internals never
// reach the browser.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.logger.ErrorContext(r.Context(), "account page failed", "path", r.URL.Path, "err", err)
	s.errorPage(w, http.StatusInternalServerError, "Something went wrong", "The page could not be shown. Please try again.")
}

// audit appends an event about the user's own action (a "user." type,
// so that the audit log finds it by the user's ID), logging (not failing
// on) an error: the change itself has been made.
func (s *Server) audit(ctx context.Context, typ string, u *auth.User, details map[string]string) {
	d := map[string]string{"user_id": u.ID}
	for k, v := range details {
		d[k] = v
	}
	ev := auth.AuditEvent{Time: s.now(), Type: typ, Actor: u.ID, Count: 1, Details: d}
	if err := s.cfg.Store.AppendAuditEvents(ctx, ev); err != nil {
		s.logger.WarnContext(ctx, "account: audit", "type", typ, "err", err)
	}
}
