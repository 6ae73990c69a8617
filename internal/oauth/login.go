package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// maxBrowserForm bounds the body of a login, consent or logout form: the
// pending request plus a password.
const maxBrowserForm = 32 << 10

// Messages of the login page.
const (
	msgLoginExpired = "Your sign-in form expired. Please try again."
)

// handleLogin is the login page. GET shows the form for the pending
// authorization request in the query; POST checks the CSRF token and the
// credentials, starts a new session, renews the browser's device cookie
// (device.go), and continues the authorization in the same response
// (consent page or redirect with the code), so that prompt=login and
// max_age=0 do not send the browser round in a loop.
//
// A failed login answers 401 with the form and the one generic message
// for unknown users, wrong passwords and disabled accounts alike; a
// throttled one 429 with Retry-After.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.loginForm(w, r)
	case http.MethodPost:
		s.loginSubmit(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		web.RenderError(w, http.StatusMethodNotAllowed, web.ErrorPage{Stylesheet: s.url(PathStylesheet), Title: "Method not allowed", Message: "This page accepts GET and POST."})
	}
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	raw, err := parseAuthorizeValues(r.URL.RawQuery)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	req, err := s.parseAuthorize(r.Context(), raw)
	if req == nil {
		s.errorPage(w, r, err)
		return
	}
	if err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return
	}
	s.renderLogin(w, r, req, http.StatusOK, "", "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, req *authzRequest, status int, username, msg string) {
	binding, err := s.loginBinding(w, r)
	if err != nil {
		s.errorPage(w, r, errServerError(err))
		return
	}
	enc := req.encode()
	page := web.LoginPage{
		Stylesheet: s.url(PathStylesheet),
		Action:     s.url(PathLogin),
		ClientName: req.client.Name,
		Request:    enc,
		CSRF:       s.csrfToken(csrfLogin, binding, enc),
		Username:   username,
		Error:      msg,
	}
	page.Passkey = s.passkeyForm(enc, page.CSRF)
	s.offerProviders(r, req, &page)
	if err := s.offerCurrentAccount(r, req, &page); err != nil {
		s.errorPage(w, r, err)
		return
	}
	web.RenderLogin(w, status, page, req.redirectOrigin())
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	req, err := s.requestFromForm(ctx, form.Get("request"))
	if req == nil {
		s.errorPage(w, r, err)
		return
	}
	if err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return
	}
	if form.Get("continue") != "" {
		s.continueAsCurrent(w, r, req, form)
		return
	}
	username := form.Get("username")
	if len(username) > account.MaxUsernameLength*4 {
		username = ""
	}
	if !s.checkCSRF(csrfLogin, s.presentedLoginBinding(r), req.encode(), form.Get("csrf_token")) {
		s.renderLogin(w, r, req, http.StatusForbidden, username, msgLoginExpired)
		return
	}
	retry := func(status int, msg string) { s.renderLogin(w, r, req, status, username, msg) }
	u := s.checkPassword(w, r, username, form.Get("password"), retry)
	if u == nil {
		return
	}
	s.afterPassword(w, r, u, &signInNext{flow: flowAuthorize, req: req}, retry)
}

// checkPassword checks the credentials of a sign-in form and returns the
// user. If they are refused, retry shows the form again with the status
// and the message to show (one generic message for unknown users, wrong
// passwords and disabled accounts alike; 429 with Retry-After when
// throttled); other failures get the error page. It returns nil when it
// has answered. What comes next (a second factor, or the session) is
// afterPassword's (login_factor.go).
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, username, password string, retry func(status int, msg string)) *auth.User {
	ctx := r.Context()
	u, err := s.accounts.Authenticate(ctx, username, password, web.ClientAddress(r), s.presentedDevice(r))
	if err != nil {
		switch auth.ErrorCode(err) {
		case auth.EUNAUTHORIZED:
			retry(http.StatusUnauthorized, account.ErrInvalidCredentials)
		case auth.ERATELIMITED:
			if d, ok := account.RetryAfter(err); ok {
				web.SetRetryAfter(w.Header(), d)
			}
			retry(http.StatusTooManyRequests, auth.ErrorMessage(err))
		default:
			s.errorPage(w, r, err)
		}
		return nil
	}
	return u
}

// completeSignIn starts the session of a user whose sign-in is complete,
// with the methods it proved (amr): the pre-session cookie is dropped and
// the browser's device cookie renewed (device.go). An account changed
// meanwhile gets retry, like a wrong password; it returns nil when it has
// answered.
func (s *Server) completeSignIn(w http.ResponseWriter, r *http.Request, u *auth.User, amr []string, retry func(status int, msg string)) *browserSession {
	ctx := r.Context()
	sess, err := s.startSession(ctx, w, r, u, amr)
	if errors.Is(err, errSignInOvertaken) {
		retry(http.StatusUnauthorized, account.ErrInvalidCredentials)
		return nil
	}
	if err != nil {
		s.errorPage(w, r, err)
		return nil
	}
	// The pre-session cookie has done its job.
	http.SetCookie(w, s.cookie(s.loginCookieName(), "", 0))
	if err := s.setDeviceCookie(w, u); err != nil {
		// The sign-in stands; the browser only misses its exemption
		// from lockouts next time.
		s.logger.WarnContext(ctx, "oauth: set device cookie", "err", err)
	}
	return sess
}

// readPageForm reads the form a POST from one of our pages carries,
// refusing one sent from another site (sameOrigin) or malformed with the
// error page; ok is false when it has answered.
func (s *Server) readPageForm(w http.ResponseWriter, r *http.Request) (form url.Values, ok bool) {
	if !s.sameOrigin(r) {
		s.errorPage(w, r, forbidden("The form was sent from another site."))
		return nil, false
	}
	form, err := readBrowserForm(w, r)
	if err != nil {
		s.errorPage(w, r, err)
		return nil, false
	}
	return form, true
}

// readBrowserForm reads the urlencoded body of one of our forms (POST
// only, at most maxBrowserForm bytes, no field twice).
func readBrowserForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errInvalidRequest("The form must be sent as application/x-www-form-urlencoded.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBrowserForm))
	if err != nil {
		e := errInvalidRequest("The form is too large.")
		e.Status = http.StatusRequestEntityTooLarge
		return nil, e
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errInvalidRequest("The form could not be read.")
	}
	for _, vs := range form {
		if len(vs) > 1 {
			return nil, errInvalidRequest("A form field appears more than once.")
		}
	}
	return form, nil
}

// forbidden is the error of a refused form submission.
func forbidden(msg string) *Error {
	e := &Error{Code: CodeInvalidRequest, Description: msg, Status: http.StatusForbidden}
	return e
}
