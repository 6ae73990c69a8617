package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// The second step of a sign-in (mfa.go decides when there is one).
//
// After the password, no session exists yet: the browser holds a pending
// sign-in, a small record (who, the password's version, the methods
// proved so far, a single-use nonce, what the sign-in continues) sent in
// the second step's form with a token (web.CSRF, purpose second_factor)
// that binds it to the browser's pre-session cookie and to the request,
// and that expires after Config.PendingSignInTTL. Only a correct second
// factor turns it into a session; the nonce is then spent (used_jtis), so
// the same pending sign-in cannot be completed twice, and the pre-session
// cookie is dropped. The user is read again at each step: a disabled
// account, or a password changed since, ends the pending sign-in. Wrong
// codes are throttled (per account and per address) by the TOTP service.
//
// A step-up (a session with one factor, and a request that needs two)
// uses the same page and record, bound to the session instead of the
// pre-session cookie; its success adds the factor to the session
// (UpgradeSession) rather than starting a new one.

// Paths of the second step and of the passkey ceremonies.
const (
	PathLoginFactor        = "/oauth2/login/factor"
	PathLoginPasskeyBegin  = "/oauth2/login/passkey/begin"
	PathLoginPasskeyFinish = "/oauth2/login/passkey/finish"
	// PathEnrolTOTP is the account page where a user who must have a
	// second factor sets one up, and comes back from through ?return=.
	PathEnrolTOTP = "/account/totp"
)

// DefaultPendingSignInTTL is how long the second step may take.
const DefaultPendingSignInTTL = 5 * time.Minute

// csrfSecondFactor is the purpose of a pending sign-in's token.
const csrfSecondFactor = "second_factor"

// maxPending bounds the encoded pending sign-in.
const maxPending = 1024

// Messages of the second step.
const (
	msgSignInExpired  = "Your sign-in expired. Please start again from the application."
	msgWrongCode      = "That code is not right. Check your authenticator app and try again."
	msgPasskeyRefused = "That passkey was not accepted. Try again, or use another way to confirm."
)

// Flows a sign-in continues.
const (
	flowAuthorize = "authorize" // an authorization request: consent or the code
	flowDevice    = "device"    // a device's user code: its consent page
)

// pendingSignIn is a sign-in waiting for its second factor.
type pendingSignIn struct {
	UserID string `json:"u"`
	// Password is the user's PasswordChangedAt (Unix nanoseconds) when
	// the first factor was checked: a reset since ends the sign-in.
	Password int64    `json:"p"`
	AMR      []string `json:"m"` // proved so far
	Nonce    string   `json:"n"` // spent when the sign-in completes
	StepUp   bool     `json:"s,omitempty"`
	Flow     string   `json:"f"`
}

// signInNext is what a sign-in continues, once complete.
type signInNext struct {
	flow string
	req  *authzRequest // flowAuthorize
	// flowDevice
	code   string
	grant  *auth.DeviceGrant
	client *auth.Client
}

// request is the form value that carries next through the second step.
func (n *signInNext) request() string {
	if n.flow == flowDevice {
		return n.code
	}
	return n.req.encode()
}

func (n *signInNext) clientName() string {
	if n.flow == flowDevice {
		return clientName(n.client)
	}
	return n.req.client.Name
}

// formTargets are the origins a form of the sign-in may end up at.
func (n *signInNext) formTargets() []string {
	if n.flow == flowAuthorize {
		return []string{n.req.redirectOrigin()}
	}
	return nil
}

// required reports whether what the sign-in continues needs two factors.
func (s *Server) requiredFor(n *signInNext) bool {
	if n.flow == flowDevice {
		policy := n.client.MFA
		if policy == "" {
			policy = s.cfg.MFA
		}
		return policy == auth.MFARequired
	}
	return s.mfaRequired(n.req)
}

// fail answers an error of the sign-in: to the client when it may be
// redirected there, else on the error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, n *signInNext, err error) {
	if n.flow == flowAuthorize {
		s.redirectError(w, r, n.req.redirectURI, n.req.state, err)
		return
	}
	s.errorPage(w, r, err)
}

// signInStep decides what a sign-in that proved the methods proved needs
// next (decideMFA), looking the user's factors up only when it matters.
// fresh: a factor was just checked, rather than a session going on.
func (s *Server) signInStep(ctx context.Context, n *signInNext, userID string, proved []string, fresh bool) (step mfaStep, totp, passkey bool, err error) {
	required := s.requiredFor(n)
	if auth.HasMFA(proved) || !required && (!fresh || !s.mfaEnabled()) {
		return mfaNone, false, false, nil
	}
	if totp, passkey, err = s.userFactors(ctx, userID); err != nil {
		return mfaNone, false, false, err
	}
	step = decideMFA(mfaSituation{required: required, proved: proved, fresh: fresh,
		hasFactor: totp || passkey, canEnrol: s.cfg.TOTP != nil})
	return step, totp, passkey, nil
}

// afterPassword goes on from a correct password (afterFirstFactor).
func (s *Server) afterPassword(w http.ResponseWriter, r *http.Request, u *auth.User, n *signInNext, retry func(int, string)) {
	s.afterFirstFactor(w, r, u, []string{auth.AMRPassword}, n, retry)
}

// afterFirstFactor goes on from a first factor that just checked out (a
// password, or an upstream provider's sign-in: proved): the second step
// when the user has a second factor or the policy wants one, else a
// session and what the sign-in continues. No session exists before the
// second step: the pending sign-in is bound to the pre-session cookie
// (set now if the browser has none, as after a provider's redirect).
func (s *Server) afterFirstFactor(w http.ResponseWriter, r *http.Request, u *auth.User, proved []string, n *signInNext, retry func(int, string)) {
	ctx := r.Context()
	step, totp, passkey, err := s.signInStep(ctx, n, u.ID, proved, true)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	switch step {
	case mfaNone:
		if sess := s.completeSignIn(w, r, u, proved, retry); sess != nil {
			s.continueSignIn(w, r, n, sess)
		}
	case mfaAsk:
		p := pendingSignIn{UserID: u.ID, Password: u.PasswordChangedAt.UnixNano(), AMR: proved, Flow: n.flow}
		binding, err := s.loginBinding(w, r)
		if err != nil {
			s.errorPage(w, r, errServerError(err))
			return
		}
		enc, token, err := s.mintPending(p, binding, n.request())
		if err != nil {
			s.errorPage(w, r, err)
			return
		}
		s.renderFactor(w, http.StatusOK, n, u.Username, enc, token, totp, passkey, false, "")
	case mfaEnrol:
		// A session with one factor, good for nothing but setting up the
		// second: every request that needs two steps up (proceed).
		if sess := s.completeSignIn(w, r, u, proved, retry); sess != nil {
			s.redirectToEnrol(w, r, n)
		}
	case mfaNoWay:
		s.fail(w, r, n, errNoSecondFactor())
	}
}

func errNoSecondFactor() *Error {
	return newError(CodeUnmetAuthenticationRequirements, "The application requires a second factor, which this server cannot check.")
}

// redirectToEnrol sends a signed-in user to set up a second factor, and
// to come back to the request afterwards.
func (s *Server) redirectToEnrol(w http.ResponseWriter, r *http.Request, n *signInNext) {
	target := s.url(PathEnrolTOTP)
	if n.flow == flowAuthorize {
		target += "?" + url.Values{"return": {PathAuthorize + "?" + n.req.encode()}}.Encode()
	}
	web.SetHeaders(w.Header(), nil)
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// stepUp checks, before a request goes on with an existing session, that
// the session has the factors the request needs; if not, it answers with
// the second step (or the enrolment, or an error) and returns false.
func (s *Server) stepUp(w http.ResponseWriter, r *http.Request, n *signInNext, sess *browserSession) bool {
	step, totp, passkey, err := s.signInStep(r.Context(), n, sess.user.ID, sess.AMR, false)
	if err != nil {
		s.fail(w, r, n, err)
		return false
	}
	if step == mfaNone {
		return true
	}
	if step != mfaNoWay && n.flow == flowAuthorize && n.req.prompt["none"] {
		s.fail(w, r, n, newError(CodeInteractionRequired, "The request needs a second factor, which the user must confirm."))
		return false
	}
	switch step {
	case mfaAsk:
		p := pendingSignIn{UserID: sess.user.ID, Password: sess.user.PasswordChangedAt.UnixNano(), AMR: sess.AMR, StepUp: true, Flow: n.flow}
		enc, token, err := s.mintPending(p, sessionBinding(sess), n.request())
		if err != nil {
			s.fail(w, r, n, err)
			return false
		}
		s.renderFactor(w, http.StatusOK, n, sess.user.Username, enc, token, totp, passkey, true, "")
	case mfaEnrol:
		s.redirectToEnrol(w, r, n)
	case mfaNoWay:
		s.fail(w, r, n, errNoSecondFactor())
	}
	return false
}

// CodeInteractionRequired: the request cannot go on without the user
// (OIDC Core 3.1.2.6), here for a second factor under prompt=none.
const CodeInteractionRequired = "interaction_required"

// continueSignIn goes on with what a complete sign-in continues.
func (s *Server) continueSignIn(w http.ResponseWriter, r *http.Request, n *signInNext, sess *browserSession) {
	if n.flow == flowDevice {
		if s.stepUp(w, r, n, sess) {
			s.renderDeviceConsent(w, n.client, n.grant, n.code, sess)
		}
		return
	}
	s.proceed(w, r, n.req, sess)
}

// mintPending encodes p with a new nonce and returns it with its token,
// bound to binding and to the request the sign-in continues.
func (s *Server) mintPending(p pendingSignIn, binding, request string) (enc, token string, err error) {
	if binding == "" {
		return "", "", forbidden(msgSignInExpired)
	}
	if p.Nonce, err = newJTI(); err != nil {
		return "", "", err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return "", "", fmt.Errorf("oauth: encode pending sign-in: %w", err)
	}
	enc = base64.RawURLEncoding.EncodeToString(raw)
	return enc, s.pendingCSRF().Token(csrfSecondFactor, binding, p.Flow+"\x00"+request+"\x00"+enc), nil
}

func (s *Server) pendingCSRF() web.CSRF {
	return web.CSRF{Hasher: s.hasher, Now: s.now, TTL: s.cfg.PendingSignInTTL}
}

// pendingStep is a second-step form that checked out: the pending
// sign-in, what it continues, the user, and for a step-up the session.
type pendingStep struct {
	p     *pendingSignIn
	enc   string
	token string
	next  *signInNext
	user  *auth.User
	sess  *browserSession // step-up only
}

// readPending reads and checks the pending sign-in of a second-step form
// (the code form, or a passkey ceremony's): the token must bind it to
// this browser (its pre-session cookie, or for a step-up its session) and
// to the request, within the TTL; the user must still be enabled with the
// same password. It answers and returns nil otherwise.
func (s *Server) readPending(w http.ResponseWriter, r *http.Request, form url.Values) *pendingStep {
	ctx := r.Context()
	enc, token := form.Get("pending"), form.Get("csrf_token")
	p, ok := decodePending(enc)
	if !ok {
		s.errorPage(w, r, forbidden(msgSignInExpired))
		return nil
	}
	st := &pendingStep{p: p, enc: enc, token: token}
	binding := s.presentedLoginBinding(r)
	if p.StepUp {
		sess, err := s.currentSession(ctx, r)
		if err != nil {
			s.errorPage(w, r, err)
			return nil
		}
		if sess == nil || sess.user.ID != p.UserID {
			s.errorPage(w, r, forbidden(msgSignInExpired))
			return nil
		}
		st.sess, binding = sess, sessionBinding(sess)
	}
	if !s.pendingCSRF().Check(csrfSecondFactor, binding, p.Flow+"\x00"+form.Get("request")+"\x00"+enc, token) {
		s.errorPage(w, r, forbidden(msgSignInExpired))
		return nil
	}
	if st.next = s.resolveNext(w, r, p.Flow, form.Get("request")); st.next == nil {
		return nil
	}
	u, err := s.accounts.Get(ctx, p.UserID)
	if err != nil && auth.ErrorCode(err) != auth.ENOTFOUND {
		s.errorPage(w, r, err)
		return nil
	}
	if err != nil || u.Disabled() || u.PasswordChangedAt.UnixNano() != p.Password {
		s.errorPage(w, r, forbidden(msgSignInExpired))
		return nil
	}
	st.user = u
	return st
}

// decodePending reads an encoded pending sign-in (no unknown members).
func decodePending(enc string) (*pendingSignIn, bool) {
	if enc == "" || len(enc) > maxPending {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, false
	}
	var p pendingSignIn
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if dec.Decode(&p) != nil || dec.More() || p.UserID == "" || p.Nonce == "" ||
		(p.Flow != flowAuthorize && p.Flow != flowDevice) {
		return nil, false
	}
	return &p, true
}

// resolveNext rebuilds what a sign-in continues from its form value; it
// answers and returns nil when that is no longer valid.
func (s *Server) resolveNext(w http.ResponseWriter, r *http.Request, flow, request string) *signInNext {
	if flow == flowDevice {
		code, ok := normalizeUserCode(request)
		if !ok {
			s.errorPage(w, r, forbidden(msgSignInExpired))
			return nil
		}
		g, c, ok := s.pendingOrCodeForm(w, r, code)
		if !ok {
			return nil
		}
		return &signInNext{flow: flowDevice, code: code, grant: g, client: c}
	}
	req, err := s.requestFromForm(r.Context(), request)
	if req == nil {
		s.errorPage(w, r, err)
		return nil
	}
	if err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return nil
	}
	return &signInNext{flow: flowAuthorize, req: req}
}

// handleLoginFactor receives the second step's code form: a TOTP or
// recovery code for the pending sign-in.
func (s *Server) handleLoginFactor(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.errorPage(w, r, &Error{Code: CodeInvalidRequest, Description: "This page accepts only POST.", Status: http.StatusMethodNotAllowed})
		return
	}
	form, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	st := s.readPending(w, r, form)
	if st == nil {
		return
	}
	if s.cfg.TOTP == nil {
		s.errorPage(w, r, forbidden(msgSignInExpired))
		return
	}
	code := form.Get("code")
	if len(code) > 64 {
		code = ""
	}
	method, err := s.cfg.TOTP.VerifyCode(r.Context(), st.user.ID, code, web.ClientAddress(r))
	switch auth.ErrorCode(err) {
	case "":
	case auth.EUNAUTHORIZED, auth.EINVALID:
		s.retryFactor(w, r, st, http.StatusUnauthorized, msgWrongCode)
		return
	case auth.ERATELIMITED:
		if d, ok := account.RetryAfter(err); ok {
			web.SetRetryAfter(w.Header(), d)
		}
		s.retryFactor(w, r, st, http.StatusTooManyRequests, auth.ErrorMessage(err))
		return
	default:
		s.errorPage(w, r, err)
		return
	}
	if method == "" {
		method = auth.AMROTP
	}
	s.finishSecondStep(w, r, st, []string{method})
}

// retryFactor shows the second step again, with the same pending sign-in
// (its expiry does not move) and a message.
func (s *Server) retryFactor(w http.ResponseWriter, r *http.Request, st *pendingStep, status int, msg string) {
	totp, passkey, err := s.userFactors(r.Context(), st.user.ID)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.renderFactor(w, status, st.next, st.user.Username, st.enc, st.token, totp, passkey, st.p.StepUp, msg)
}

// finishSecondStep completes a pending sign-in whose second factor (the
// methods more) checked out, and goes on with what it continues.
func (s *Server) finishSecondStep(w http.ResponseWriter, r *http.Request, st *pendingStep, more []string) {
	sess := s.completeSecondStep(w, r, st, more, func(err error) { s.errorPage(w, r, err) })
	if sess != nil {
		s.continueSignIn(w, r, st.next, sess)
	}
}

// completeSecondStep spends the pending sign-in's nonce, then starts the
// session (or, for a step-up, adds the factor to it). It returns nil after
// fail, with a forbidden error when the pending sign-in was spent or
// overtaken meanwhile.
func (s *Server) completeSecondStep(w http.ResponseWriter, r *http.Request, st *pendingStep, more []string, fail func(error)) *browserSession {
	ctx := r.Context()
	now := s.now()
	err := s.store.UseJTI(ctx, "signin:"+st.p.Nonce, now.Add(s.cfg.PendingSignInTTL), now)
	switch auth.ErrorCode(err) {
	case "":
	case auth.ECONFLICT:
		fail(forbidden(msgSignInExpired))
		return nil
	default:
		fail(fmt.Errorf("oauth: spend a pending sign-in: %w", err))
		return nil
	}
	amr := auth.MergeAMR(st.p.AMR, more)
	if st.p.StepUp {
		amr = auth.MergeAMR(st.sess.AMR, amr)
		if err := s.store.UpgradeSession(ctx, st.sess.Hash, amr, now); err != nil {
			if auth.ErrorCode(err) == auth.ENOTFOUND {
				fail(forbidden(msgSignInExpired))
				return nil
			}
			fail(fmt.Errorf("oauth: upgrade session: %w", err))
			return nil
		}
		st.sess.AMR, st.sess.AuthTime = amr, now
		return st.sess
	}
	return s.completeSignIn(w, r, st.user, amr, func(int, string) { fail(forbidden(msgSignInExpired)) })
}

// renderFactor shows the second step.
func (s *Server) renderFactor(w http.ResponseWriter, status int, n *signInNext, username, enc, token string, totp, passkey, stepUp bool, msg string) {
	p := web.SecondFactorPage{
		Stylesheet: s.url(PathStylesheet),
		Action:     s.url(PathLoginFactor),
		ClientName: n.clientName(),
		Username:   username,
		Request:    n.request(),
		Pending:    enc,
		CSRF:       token,
		Code:       totp,
		StepUp:     stepUp,
		Error:      msg,
	}
	if passkey && s.cfg.Passkeys != nil {
		p.Passkey = &web.PasskeyForm{
			Begin: s.url(PathLoginPasskeyBegin), Finish: s.url(PathLoginPasskeyFinish),
			Request: p.Request, Pending: enc, CSRF: token, Label: "Use a passkey",
		}
	}
	web.RenderSecondFactor(w, status, p, n.formTargets()...)
}
