package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// The verification page (RFC 8628 3.3) at PathDevice, in three steps that
// all post to it:
//
//  1. the user types the code the device shows (input user_code; the
//     verification_uri_complete pre-fills it, and the user still submits
//     it, RFC 8628 5.4);
//  2. without a session, the usual sign-in form (username, password),
//     carrying the code;
//  3. the consent form (decision=allow|deny) naming the client, the scopes
//     and the code, with a warning against approving a device the user
//     does not have in front of them (RFC 8628 5.4, remote phishing).
//
// Every form has a CSRF token: the code form's bound to the pre-session
// cookie, the sign-in form's to it and the code, the consent form's to the
// session and the code. So only a code entered through step 1 — where the
// attempt limits apply — can reach steps 2 and 3.
//
// Brute force (RFC 8628 5.1): each code entered counts against its client
// address (IPv6: its /64) and its browser (session, else pre-session
// cookie), DeviceAddressAttempts and DeviceBrowserAttempts per
// deviceAttemptWindow; a code found counts against itself too,
// deviceCodeEntries at once. The limits are kept in DeviceLimiter, shared
// by the nodes through Redis when configured; without it each node counts
// on its own (N nodes, N times the attempts). The per-browser bucket only
// spares a person's browser its address's budget: a guesser drops the
// cookie, so it limits nobody who attacks. docs/oauth.md works out what
// the limits leave an attacker.

// Purposes of the device page's CSRF tokens.
const (
	csrfDeviceCode    = "device_code"
	csrfDeviceLogin   = "device_login"
	csrfDeviceConsent = "device_consent"
)

const (
	// deviceAttemptWindow is the window of the per-address and
	// per-browser attempt limits: a full budget refills over it.
	deviceAttemptWindow = 15 * time.Minute
	// deviceCodeEntries is how many times one user code may be entered at
	// once (refilled over the code's lifetime): a person needs one or two,
	// a code spread around or hammered gets no more.
	deviceCodeEntries = 5
)

// Messages of the verification page.
const (
	msgDeviceCodeInvalid = "That code is not valid, or has expired. Check the code your device shows."
	msgDeviceCodeFormat  = "Codes are 8 letters, like BCDF-GHJK. Check the code your device shows."
	msgDeviceFormExpired = "The form expired. Please enter the code again."
	msgDeviceTooMany     = "Too many codes entered. Please wait and try again later."
	msgDeviceCodeTooMany = "This code has been entered too many times. Start again on your device."
)

// deviceLimits are the attempt limits of the verification page.
type deviceLimits struct {
	limiter ratelimit.Limiter
	address auth.RateLimit
	browser auth.RateLimit
	code    auth.RateLimit
}

func newDeviceLimits(cfg Config) deviceLimits {
	l := cfg.DeviceLimiter
	if l == nil {
		l = ratelimit.Local{Buckets: &ratelimit.Buckets{}}
	}
	per := func(n int, window time.Duration) auth.RateLimit {
		return auth.RateLimit{Rate: float64(n) / window.Seconds(), Burst: n}
	}
	return deviceLimits{
		limiter: l,
		address: per(cfg.DeviceAddressAttempts, deviceAttemptWindow),
		browser: per(cfg.DeviceBrowserAttempts, deviceAttemptWindow),
		code:    per(deviceCodeEntries, cfg.DeviceCodeTTL),
	}
}

// take takes one attempt from each key's bucket and returns how long until
// the first refused one allows another; zero if all allowed it.
func (d deviceLimits) take(ctx context.Context, now time.Time, keys map[string]auth.RateLimit) (time.Duration, error) {
	var wait time.Duration
	for key, l := range keys {
		dec, err := d.limiter.Allow(ctx, key, l, now)
		if err != nil {
			return 0, fmt.Errorf("oauth: device attempt limit: %w", err)
		}
		if !dec.Allowed {
			wait = max(wait, dec.RetryAfter, time.Second)
		}
	}
	return wait, nil
}

// handleDevicePage is the verification page: GET shows the code form
// (pre-filled from ?user_code=), POST takes any of the three forms.
func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		code, _ := normalizeUserCode(r.URL.Query().Get("user_code"))
		s.renderDeviceForm(w, r, http.StatusOK, code, "")
	case http.MethodPost:
		s.deviceSubmit(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		web.RenderError(w, http.StatusMethodNotAllowed, web.ErrorPage{Stylesheet: s.url(PathStylesheet), Title: "Method not allowed", Message: "This page accepts GET and POST."})
	}
}

// renderDeviceForm shows the code form, with a canonical code (or "")
// pre-filled.
func (s *Server) renderDeviceForm(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	binding, err := s.loginBinding(w, r)
	if err != nil {
		s.errorPage(w, r, errServerError(err))
		return
	}
	shown := ""
	if code != "" {
		shown = displayUserCode(code)
	}
	web.RenderDevice(w, status, web.DevicePage{
		Stylesheet: s.url(PathStylesheet),
		Action:     s.url(PathDevice),
		CSRF:       s.csrfToken(csrfDeviceCode, binding, ""),
		Code:       shown,
		Error:      msg,
	})
}

func (s *Server) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	form, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	switch {
	case form.Has("decision"):
		s.deviceDecide(w, r, form)
	case form.Has("password") || form.Has("username"):
		s.deviceLogin(w, r, form)
	default:
		s.deviceEnter(w, r, form)
	}
}

// deviceEnter takes the code form: the attempt limits first, then the
// code; a valid one goes on to the sign-in form, or to consent for a
// signed-in user.
func (s *Server) deviceEnter(w http.ResponseWriter, r *http.Request, form url.Values) {
	ctx := r.Context()
	binding := s.presentedLoginBinding(r)
	if !s.checkCSRF(csrfDeviceCode, binding, "", form.Get("csrf_token")) {
		s.renderDeviceForm(w, r, http.StatusForbidden, "", msgDeviceFormExpired)
		return
	}
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	now := s.now()
	wait, err := s.deviceLimits.take(ctx, now, map[string]auth.RateLimit{
		"addr:" + deviceAddressKey(r):                s.deviceLimits.address,
		"browser:" + deviceBrowserKey(sess, binding): s.deviceLimits.browser,
	})
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if wait > 0 {
		web.SetRetryAfter(w.Header(), wait)
		s.renderDeviceForm(w, r, http.StatusTooManyRequests, "", msgDeviceTooMany)
		return
	}
	code, ok := normalizeUserCode(form.Get("user_code"))
	if !ok {
		s.renderDeviceForm(w, r, http.StatusBadRequest, "", msgDeviceCodeFormat)
		return
	}
	g, c, ok := s.pendingOrCodeForm(w, r, code)
	if !ok {
		return
	}
	wait, err = s.deviceLimits.take(ctx, now, map[string]auth.RateLimit{
		"code:" + hex.EncodeToString(g.UserCodeHash[:16]): s.deviceLimits.code,
	})
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if wait > 0 {
		web.SetRetryAfter(w.Header(), wait)
		s.renderDeviceForm(w, r, http.StatusTooManyRequests, "", msgDeviceCodeTooMany)
		return
	}
	if sess == nil {
		s.renderDeviceLogin(w, r, c, code, http.StatusOK, "", "")
		return
	}
	s.continueSignIn(w, r, &signInNext{flow: flowDevice, code: code, grant: g, client: c}, sess)
}

// deviceLogin takes the sign-in form of the page, then shows consent.
func (s *Server) deviceLogin(w http.ResponseWriter, r *http.Request, form url.Values) {
	code, ok := normalizeUserCode(form.Get("request"))
	if !ok || !s.checkCSRF(csrfDeviceLogin, s.presentedLoginBinding(r), code, form.Get("csrf_token")) {
		s.renderDeviceForm(w, r, http.StatusForbidden, code, msgDeviceFormExpired)
		return
	}
	g, c, ok := s.pendingOrCodeForm(w, r, code)
	if !ok {
		return
	}
	username := form.Get("username")
	if len(username) > account.MaxUsernameLength*4 {
		username = ""
	}
	retry := func(status int, msg string) { s.renderDeviceLogin(w, r, c, code, status, username, msg) }
	u := s.checkPassword(w, r, username, form.Get("password"), retry)
	if u == nil {
		return
	}
	s.afterPassword(w, r, u, &signInNext{flow: flowDevice, code: code, grant: g, client: c}, retry)
}

func (s *Server) renderDeviceLogin(w http.ResponseWriter, r *http.Request, c *auth.Client, code string, status int, username, msg string) {
	binding, err := s.loginBinding(w, r)
	if err != nil {
		s.errorPage(w, r, errServerError(err))
		return
	}
	web.RenderLogin(w, status, web.LoginPage{
		Stylesheet: s.url(PathStylesheet),
		Action:     s.url(PathDevice),
		ClientName: clientName(c),
		Request:    code,
		CSRF:       s.csrfToken(csrfDeviceLogin, binding, code),
		Username:   username,
		Error:      msg,
	})
}

// renderDeviceConsent asks the signed-in user to allow or deny the device,
// every time: a remembered consent does not skip it (RFC 8628 5.4).
func (s *Server) renderDeviceConsent(w http.ResponseWriter, c *auth.Client, g *auth.DeviceGrant, code string, sess *browserSession) {
	p := s.consentPage(c, g.Scopes, g.Audiences, sess)
	p.Action = s.url(PathDevice)
	p.Request = code
	p.CSRF = s.csrfToken(csrfDeviceConsent, sessionBinding(sess), code)
	p.DeviceCode = displayUserCode(code)
	web.RenderConsent(w, http.StatusOK, p)
}

// deviceDecide takes the consent form: allow approves the grant and, once
// that decision is stored, remembers the consent (merged, as the code
// flow does, so the user can withdraw it from the account page); deny
// denies it. A decision that fails (the code expired, or was decided in
// another tab meanwhile) leaves no consent behind that a later code flow
// would skip the consent page for.
func (s *Server) deviceDecide(w http.ResponseWriter, r *http.Request, form url.Values) {
	ctx := r.Context()
	code, ok := normalizeUserCode(form.Get("request"))
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if !ok || sess == nil || !s.checkCSRF(csrfDeviceConsent, sessionBinding(sess), code, form.Get("csrf_token")) {
		s.errorPage(w, r, forbidden("This form is not valid for your session. Please enter the code again."))
		return
	}
	decision := form.Get("decision")
	if decision != "allow" && decision != "deny" {
		s.errorPage(w, r, errInvalidRequest("The decision must be allow or deny."))
		return
	}
	g, c, err := s.pendingDeviceGrant(ctx, code)
	if errors.Is(err, errUnknownUserCode) {
		s.renderDeviceDone(w, http.StatusBadRequest, "Code no longer valid", "This code has expired or was already used. Start again on your device.")
		return
	}
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if s.requiredFor(&signInNext{flow: flowDevice, client: c}) && !auth.HasMFA(sess.AMR) {
		s.errorPage(w, r, forbidden("This device's application needs a second factor. Please enter the code again."))
		return
	}
	d := auth.DeviceDecision{UserID: sess.user.ID, AuthTime: sess.AuthTime, SessionID: sid(sess.Hash), AMR: sess.AMR}
	if decision == "allow" {
		if d.FamilyID, err = newFamilyID(); err != nil {
			s.errorPage(w, r, err)
			return
		}
		d.Approve = true
	}
	_, err = s.store.DecideDeviceGrant(ctx, g.UserCodeHash, d, s.now())
	switch auth.ErrorCode(err) {
	case "":
	case auth.ENOTFOUND, auth.ECONFLICT:
		s.renderDeviceDone(w, http.StatusConflict, "Code no longer valid", "This code has expired or was already used. Start again on your device.")
		return
	default:
		s.errorPage(w, r, fmt.Errorf("oauth: decide device grant: %w", err))
		return
	}
	if d.Approve {
		// Only now: the grant is the user's. Should this fail, the device
		// still gets its tokens, and the user is told something went
		// wrong rather than "connected".
		if err := s.saveConsent(ctx, sess.user.ID, c.ID, g.Scopes); err != nil {
			s.errorPage(w, r, fmt.Errorf("oauth: remember the consent of an approved device grant: %w", err))
			return
		}
		s.renderDeviceDone(w, http.StatusOK, "Device connected", "You allowed "+clientName(c)+". You can return to your device; it signs in within a few seconds.")
		return
	}
	s.renderDeviceDone(w, http.StatusOK, "Request denied", clientName(c)+" did not get access. You can close this window.")
}

func (s *Server) renderDeviceDone(w http.ResponseWriter, status int, title, msg string) {
	web.RenderDeviceDone(w, status, web.DeviceDonePage{Stylesheet: s.url(PathStylesheet), Title: title, Message: msg})
}

// errUnknownUserCode is a user code that names no pending, unexpired
// grant of a client still allowed the device grant.
var errUnknownUserCode = errors.New("oauth: unknown user code")

// pendingDeviceGrant returns the grant of a canonical user code and its
// client, or errUnknownUserCode.
func (s *Server) pendingDeviceGrant(ctx context.Context, code string) (*auth.DeviceGrant, *auth.Client, error) {
	g, err := s.store.GetDeviceGrantByUserCode(ctx, s.userCodeHash(code))
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, nil, errUnknownUserCode
	}
	if err != nil {
		return nil, nil, fmt.Errorf("oauth: get device grant: %w", err)
	}
	if g.Status != auth.DevicePending || g.ExpiredAt(s.now()) {
		return nil, nil, errUnknownUserCode
	}
	c, err := s.clients.Lookup(ctx, g.ClientID)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, nil, errUnknownUserCode
	}
	if err != nil {
		return nil, nil, err
	}
	if !slices.Contains(c.GrantTypes, auth.GrantDeviceCode) {
		return nil, nil, errUnknownUserCode
	}
	return g, c, nil
}

// pendingOrCodeForm is pendingDeviceGrant for the code and sign-in
// forms: an unknown code sends the user back to the code form, other
// failures to the error page; ok is false when it has answered.
func (s *Server) pendingOrCodeForm(w http.ResponseWriter, r *http.Request, code string) (*auth.DeviceGrant, *auth.Client, bool) {
	g, c, err := s.pendingDeviceGrant(r.Context(), code)
	if errors.Is(err, errUnknownUserCode) {
		s.renderDeviceForm(w, r, http.StatusBadRequest, code, msgDeviceCodeInvalid)
		return nil, nil, false
	}
	if err != nil {
		s.errorPage(w, r, err)
		return nil, nil, false
	}
	return g, c, true
}

// deviceAddressKey names the client address's bucket: the address, or its
// /64 for IPv6 (ratelimit.SourceKey).
func deviceAddressKey(r *http.Request) string {
	if a, ok := ratelimit.PeerAddr(web.ClientAddress(r)); ok {
		return ratelimit.SourceKey(a).String()
	}
	return web.ClientAddress(r)
}

// deviceBrowserKey names the browser's bucket: its session's sid, else a
// digest of its pre-session cookie (never the cookie itself).
func deviceBrowserKey(sess *browserSession, binding string) string {
	if sess != nil {
		return "s:" + sid(sess.Hash)
	}
	sum := sha256.Sum256([]byte("gatehouse-device-browser\x00" + binding))
	return "b:" + hex.EncodeToString(sum[:16])
}
