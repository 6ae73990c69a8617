package oauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Passkeys at sign-in: as the only factor from the login page (a
// discoverable credential: the authenticator names the user; the username
// field offers them in its autofill), or as the second factor of a
// pending sign-in (login_factor.go). /oauth2/static/passkey.js runs the
// ceremony from a web.PasskeyForm, with two JSON requests that carry the
// form's CSRF token in X-CSRF-Token:
//
//   - POST PathLoginPasskeyBegin {"request", ["pending"]}: the answer is
//     {"options": <the passkey service's WebAuthn request options>,
//     "state": <the ceremony's handle>}; the handle is also kept in a
//     short-lived HttpOnly cookie, so that only this browser finishes it.
//   - POST PathLoginPasskeyFinish {"request", ["pending"], "state",
//     "credential": <the PublicKeyCredential as JSON>}: the answer is
//     {"redirect": URL} once signed in (PathLoginContinue, which goes on
//     with the request as the password form would), or {"error": message}
//     with a 4xx.

// PathLoginContinue is where a sign-in completed by a script (a passkey)
// goes on: what the sign-in continues, for the session just made.
const PathLoginContinue = "/oauth2/login/continue"

// csrfContinue is the purpose of a continuation link's token.
const csrfContinue = "continue"

// passkeyCSRFHeader carries the form's CSRF token on the JSON requests.
const passkeyCSRFHeader = "X-CSRF-Token"

// maxPasskeyState bounds a ceremony handle kept in the cookie.
const maxPasskeyState = 512

// msgPasskeyThrottled answers a passkey while refused ones of the account
// or the address are throttled (with Retry-After).
const msgPasskeyThrottled = "Too many passkeys were refused. Wait a little, then try again."

// msgPasskeyNoUV refuses a passkey that did not verify the user where a
// second factor is needed: the password form, then the code, will do.
const msgPasskeyNoUV = "This passkey did not confirm it is you (no PIN or biometric). Sign in with your password instead."

func (s *Server) passkeyCookieName() string {
	if s.cfg.InsecureCookies {
		return auth.CookiePasskeyLoginInsecure
	}
	return auth.CookiePasskeyLogin
}

// passkeyForm is the login page's "Sign in with a passkey" form, bound
// like the password form; nil when the server offers no passkeys.
func (s *Server) passkeyForm(request, csrf string) *web.PasskeyForm {
	if s.cfg.Passkeys == nil {
		return nil
	}
	return &web.PasskeyForm{
		Begin: s.url(PathLoginPasskeyBegin), Finish: s.url(PathLoginPasskeyFinish),
		Request: request, CSRF: csrf, Label: "Sign in with a passkey",
	}
}

// passkeyRequest is the body of the passkey script's requests.
type passkeyRequest struct {
	Request    string          `json:"request"`
	Pending    string          `json:"pending"`
	State      string          `json:"state"`
	Credential json.RawMessage `json:"credential"`
}

// form is the request as the form helpers read it.
func (p *passkeyRequest) form(r *http.Request) url.Values {
	f := url.Values{"request": {p.Request}, "csrf_token": {r.Header.Get(passkeyCSRFHeader)}}
	if p.Pending != "" {
		f.Set("pending", p.Pending)
	}
	return f
}

// readPasskeyRequest reads a passkey script's request: a same-origin JSON
// POST of at most maxBrowserForm bytes. It answers and returns nil
// otherwise.
func (s *Server) readPasskeyRequest(w http.ResponseWriter, r *http.Request) *passkeyRequest {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		web.JSONError(w, http.StatusMethodNotAllowed, "This endpoint accepts only POST.")
		return nil
	}
	if s.cfg.Passkeys == nil {
		web.JSONError(w, http.StatusNotFound, "This server offers no passkeys.")
		return nil
	}
	if !web.SameOriginScript(r, s.browser.origin) {
		web.JSONError(w, http.StatusForbidden, "The request was sent from another site.")
		return nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		web.JSONError(w, http.StatusUnsupportedMediaType, "The request must be application/json.")
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBrowserForm))
	if err != nil {
		web.JSONError(w, http.StatusRequestEntityTooLarge, "The request is too large.")
		return nil
	}
	var p passkeyRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if dec.Decode(&p) != nil || dec.More() {
		web.JSONError(w, http.StatusBadRequest, "The request is not valid JSON.")
		return nil
	}
	return &p
}

// statusWriter stands in for the response of a helper that answers with
// a page when something is not valid: it keeps the status alone, which
// the JSON endpoints answer with their own message.
type statusWriter struct {
	h      http.Header
	status int
}

func (c *statusWriter) Header() http.Header {
	if c.h == nil {
		c.h = http.Header{}
	}
	return c.h
}
func (c *statusWriter) Write(b []byte) (int, error) { return len(b), nil }
func (c *statusWriter) WriteHeader(status int)      { c.status = status }

// refuse answers a passkey request that a page helper refused.
func (c *statusWriter) refuse(w http.ResponseWriter) {
	status := c.status
	if status < 400 {
		status = http.StatusForbidden
	}
	if v := c.h.Get("Retry-After"); v != "" {
		w.Header().Set("Retry-After", v)
	}
	web.JSONError(w, status, msgSignInExpired)
}

// handlePasskeyBegin starts a passkey ceremony for the login page or for
// a pending sign-in.
func (s *Server) handlePasskeyBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr := s.readPasskeyRequest(w, r)
	if pr == nil {
		return
	}
	sw := &statusWriter{}
	userID := "" // discoverable: the authenticator names the user
	if pr.Pending != "" {
		st := s.readPending(sw, r, pr.form(r))
		if st == nil {
			sw.refuse(w)
			return
		}
		userID = st.user.ID
	} else if _, ok := s.loginPageRequest(sw, r, pr.form(r)); !ok {
		sw.refuse(w)
		return
	}
	options, state, err := s.cfg.Passkeys.BeginLogin(ctx, userID)
	switch auth.ErrorCode(err) {
	case "":
	case auth.ENOTFOUND, auth.EUNAUTHORIZED:
		web.JSONError(w, http.StatusBadRequest, "This account has no passkey that can sign in.")
		return
	default:
		s.logError(r, errServerError(err))
		web.JSONError(w, http.StatusInternalServerError, "The server could not start the passkey sign-in.")
		return
	}
	if state == "" || len(state) > maxPasskeyState || !json.Valid(options) {
		s.logError(r, errServerError(nil))
		web.JSONError(w, http.StatusInternalServerError, "The server could not start the passkey sign-in.")
		return
	}
	http.SetCookie(w, s.cookie(s.passkeyCookieName(), base64.RawURLEncoding.EncodeToString([]byte(state)), s.cfg.PendingSignInTTL))
	writeJSON(w, http.StatusOK, map[string]any{"options": json.RawMessage(options), "state": state})
}

// loginPageRequest checks the login page's CSRF token on a form and
// returns its authorization request; it answers and returns false when
// either is not valid.
func (s *Server) loginPageRequest(w http.ResponseWriter, r *http.Request, form url.Values) (*authzRequest, bool) {
	req, err := s.requestFromForm(r.Context(), form.Get("request"))
	if req == nil {
		s.errorPage(w, r, err)
		return nil, false
	}
	if err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return nil, false
	}
	if !s.checkCSRF(csrfLogin, s.presentedLoginBinding(r), req.encode(), form.Get("csrf_token")) {
		s.renderLogin(w, r, req, http.StatusForbidden, "", msgLoginExpired)
		return nil, false
	}
	return req, true
}

// passkeyState takes the ceremony handle from its cookie, which it
// clears: a ceremony is finished once, by the browser that began it.
func (s *Server) passkeyState(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(s.passkeyCookieName())
	if err != nil {
		return ""
	}
	http.SetCookie(w, s.cookie(s.passkeyCookieName(), "", 0))
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c.Value)
	if err != nil || len(raw) == 0 || len(raw) > maxPasskeyState {
		return ""
	}
	return string(raw)
}

// handlePasskeyFinish checks a ceremony's credential: the sign-in of the
// login page, or the second factor of a pending sign-in. Signed in, the
// script is sent on to PathLoginContinue.
func (s *Server) handlePasskeyFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr := s.readPasskeyRequest(w, r)
	if pr == nil {
		return
	}
	state := s.passkeyState(w, r)
	if state == "" || pr.State != state {
		web.JSONError(w, http.StatusUnauthorized, msgPasskeyRefused)
		return
	}
	sw := &statusWriter{}
	jsonFail := func(err error) {
		if auth.ErrorCode(err) == auth.ERATELIMITED {
			// Failed passkeys of the account or address are throttled.
			if d, ok := account.RetryAfter(err); ok {
				web.SetRetryAfter(w.Header(), d)
			}
			web.JSONError(w, http.StatusTooManyRequests, msgPasskeyThrottled)
			return
		}
		e := asError(err)
		s.logError(r, e)
		if e.Code == CodeServerError {
			web.JSONError(w, http.StatusInternalServerError, "The server could not complete the sign-in.")
			return
		}
		web.JSONError(w, http.StatusForbidden, e.Description)
	}
	if pr.Pending != "" {
		st := s.readPending(sw, r, pr.form(r))
		if st == nil {
			sw.refuse(w)
			return
		}
		userID, amr, err := s.finishPasskey(r, state, pr.Credential)
		if err != nil {
			jsonFail(err)
			return
		}
		if userID == "" || userID != st.user.ID {
			web.JSONError(w, http.StatusUnauthorized, msgPasskeyRefused)
			return
		}
		if sess := s.completeSecondStep(w, r, st, amr, jsonFail); sess != nil {
			s.sendContinue(w, st.next, sess)
		}
		return
	}
	req, ok := s.loginPageRequest(sw, r, pr.form(r))
	if !ok {
		sw.refuse(w)
		return
	}
	userID, amr, err := s.finishPasskey(r, state, pr.Credential)
	if err != nil {
		jsonFail(err)
		return
	}
	if userID == "" {
		web.JSONError(w, http.StatusUnauthorized, msgPasskeyRefused)
		return
	}
	u, err := s.accounts.Get(ctx, userID)
	if err != nil && auth.ErrorCode(err) != auth.ENOTFOUND {
		jsonFail(err)
		return
	}
	if err != nil || u.Disabled() {
		web.JSONError(w, http.StatusUnauthorized, account.ErrInvalidCredentials)
		return
	}
	next := &signInNext{flow: flowAuthorize, req: req}
	amr = auth.NormalizeAMR(amr)
	if !auth.HasMFA(amr) {
		// One factor: enough only where no second one is asked for.
		totp, _, err := s.userFactors(ctx, u.ID)
		if err != nil {
			jsonFail(err)
			return
		}
		if totp || s.requiredFor(next) {
			web.JSONError(w, http.StatusUnauthorized, msgPasskeyNoUV)
			return
		}
	}
	sess := s.completeSignIn(w, r, u, amr, func(status int, msg string) { web.JSONError(w, status, msg) })
	if sess != nil {
		s.sendContinue(w, next, sess)
	}
}

// finishPasskey checks a ceremony's credential: the user and methods it
// proves, or userID "" when it is refused. Only server faults are errors.
func (s *Server) finishPasskey(r *http.Request, state string, credential []byte) (userID string, amr []string, err error) {
	if len(credential) == 0 {
		return "", nil, nil
	}
	userID, amr, err = s.cfg.Passkeys.FinishLoginFrom(r.Context(), state, credential, web.ClientAddress(r))
	switch auth.ErrorCode(err) {
	case "":
		if len(amr) == 0 {
			amr = []string{auth.AMRHardwareKey}
		}
		return userID, amr, nil
	case auth.EUNAUTHORIZED, auth.EINVALID, auth.ENOTFOUND:
		return "", nil, nil
	}
	return "", nil, err
}

// sendContinue answers a completed passkey sign-in with the link that
// goes on with it, bound to the new session and to what it continues.
func (s *Server) sendContinue(w http.ResponseWriter, n *signInNext, sess *browserSession) {
	q := url.Values{"flow": {n.flow}, "request": {n.request()}}
	q.Set("token", s.pendingCSRF().Token(csrfContinue, sessionBinding(sess), n.flow+"\x00"+n.request()))
	writeJSON(w, http.StatusOK, map[string]string{"redirect": s.url(PathLoginContinue) + "?" + q.Encode()})
}

// handleLoginContinue goes on with a sign-in a script completed: the
// token must have been made for this browser's session, and for this
// request, a few minutes ago at most.
func (s *Server) handleLoginContinue(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.errorPage(w, r, &Error{Code: CodeInvalidRequest, Description: "This page accepts only GET.", Status: http.StatusMethodNotAllowed})
		return
	}
	q := r.URL.Query()
	sess, err := s.currentSession(r.Context(), r)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	flow, request := q.Get("flow"), q.Get("request")
	if sess == nil || !s.pendingCSRF().Check(csrfContinue, sessionBinding(sess), flow+"\x00"+request, q.Get("token")) {
		s.errorPage(w, r, forbidden(msgSignInExpired))
		return
	}
	if n := s.resolveNext(w, r, flow, request); n != nil {
		s.continueSignIn(w, r, n, sess)
	}
}
