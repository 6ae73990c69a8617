package oauth

import (
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Passkeys at sign-in: as the only factor from the login page (a
// discoverable credential: the authenticator names the user; the username
// field offers them in its autofill), or as the second factor of a
// pending sign-in (login_factor.go). The ceremony is two requests that
// /oauth2/static/passkey.js makes from a web.PasskeyForm:
//
//   - POST PathLoginPasskeyBegin with the form's fields (urlencoded):
//     csrf_token and request, plus pending for a second factor. The
//     answer is the WebAuthn request options as JSON, from the passkey
//     service's BeginLogin; the ceremony's handle goes in a short-lived
//     HttpOnly cookie, so that only this browser can finish it.
//   - the form itself, POSTed to PathLoginPasskeyFinish with the
//     credential (the PublicKeyCredential as JSON) in its field
//     credential: answered like the password form (the second step, the
//     consent page, or the redirect to the client).

// maxPasskeyState bounds a ceremony handle kept in the cookie.
const maxPasskeyState = 512

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
		Request: request, CSRF: csrf, Conditional: true, Label: "Sign in with a passkey",
	}
}

// handlePasskeyBegin starts a passkey ceremony for the login page or for
// a pending sign-in, and answers its options as JSON.
func (s *Server) handlePasskeyBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.errorPage(w, r, &Error{Code: CodeInvalidRequest, Description: "This endpoint accepts only POST.", Status: http.StatusMethodNotAllowed})
		return
	}
	if s.cfg.Passkeys == nil {
		s.errorPage(w, r, &Error{Code: CodeInvalidRequest, Description: "This server offers no passkeys.", Status: http.StatusNotFound})
		return
	}
	form, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	userID := "" // discoverable: the authenticator names the user
	if form.Has("pending") {
		st := s.readPending(w, r, form)
		if st == nil {
			return
		}
		userID = st.user.ID
	} else if _, ok := s.loginPageRequest(w, r, form); !ok {
		return
	}
	options, state, err := s.cfg.Passkeys.BeginLogin(ctx, userID)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if len(state) > maxPasskeyState {
		s.errorPage(w, r, errServerError(nil))
		return
	}
	http.SetCookie(w, s.cookie(s.passkeyCookieName(), base64.RawURLEncoding.EncodeToString([]byte(state)), s.cfg.PendingSignInTTL))
	web.SetHeaders(w.Header(), nil)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(options)
}

// loginPageRequest checks the login page's CSRF token on a passkey form
// and returns its authorization request; it answers and returns false
// when either is not valid.
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
// clears: a ceremony is finished once.
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

// handlePasskeyFinish receives a passkey form with the authenticator's
// credential: the sign-in of the login page, or the second factor of a
// pending sign-in.
func (s *Server) handlePasskeyFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.errorPage(w, r, &Error{Code: CodeInvalidRequest, Description: "This page accepts only POST.", Status: http.StatusMethodNotAllowed})
		return
	}
	if s.cfg.Passkeys == nil {
		s.errorPage(w, r, &Error{Code: CodeInvalidRequest, Description: "This server offers no passkeys.", Status: http.StatusNotFound})
		return
	}
	form, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	state := s.passkeyState(w, r)
	credential := []byte(form.Get("credential"))
	if form.Has("pending") {
		st := s.readPending(w, r, form)
		if st == nil {
			return
		}
		userID, amr, err := s.finishPasskey(r, state, credential)
		if err != nil {
			s.errorPage(w, r, err)
			return
		}
		if userID == "" || userID != st.user.ID {
			s.retryFactor(w, r, st, http.StatusUnauthorized, msgPasskeyRefused)
			return
		}
		s.finishSecondStep(w, r, st, amr)
		return
	}
	req, ok := s.loginPageRequest(w, r, form)
	if !ok {
		return
	}
	retry := func(status int, msg string) { s.renderLogin(w, r, req, status, "", msg) }
	userID, amr, err := s.finishPasskey(r, state, credential)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if userID == "" {
		retry(http.StatusUnauthorized, msgPasskeyRefused)
		return
	}
	u, err := s.accounts.Get(ctx, userID)
	if err != nil && auth.ErrorCode(err) != auth.ENOTFOUND {
		s.errorPage(w, r, err)
		return
	}
	if err != nil || u.Disabled() {
		retry(http.StatusUnauthorized, account.ErrInvalidCredentials)
		return
	}
	s.afterFirstFactor(w, r, u, &signInNext{flow: flowAuthorize, req: req}, auth.NormalizeAMR(amr), false, retry)
}

// finishPasskey checks a ceremony's credential: the user and methods it
// proves, or userID "" when it is refused. Only server faults are errors.
func (s *Server) finishPasskey(r *http.Request, state string, credential []byte) (userID string, amr []string, err error) {
	if state == "" || len(credential) == 0 {
		return "", nil, nil
	}
	userID, amr, err = s.cfg.Passkeys.FinishLogin(r.Context(), state, credential)
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
