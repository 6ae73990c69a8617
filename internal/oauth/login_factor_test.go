package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// policyClients is the client registry with a second-factor policy set
// per client by the test (Client.MFA), changeable while it runs.
type policyClients struct {
	ClientRegistry
	mu     sync.Mutex
	policy map[string]string
}

func (p *policyClients) Lookup(ctx context.Context, id string) (*auth.Client, error) {
	c, err := p.ClientRegistry.Lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if m, ok := p.policy[id]; ok {
		cc := *c
		cc.MFA = m
		return &cc, nil
	}
	return c, nil
}

func (p *policyClients) set(id, policy string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.policy[id] = policy
}

// mfaServer is a test server with the fake TOTP and passkey services and
// a client registry whose policies the test sets.
type mfaServer struct {
	*testServer
	totp     *fakeTOTP
	passkeys *fakePasskeys
	policy   *policyClients
}

func newMFAServer(t *testing.T, opts ...func(*Config)) *mfaServer {
	m := &mfaServer{totp: newFakeTOTP(), passkeys: newFakePasskeys()}
	all := append([]func(*Config){insecureCookies, func(c *Config) {
		c.TOTP, c.Passkeys = m.totp, m.passkeys
		m.policy = &policyClients{ClientRegistry: c.Clients, policy: map[string]string{}}
		c.Clients = m.policy
	}}, opts...)
	m.testServer = newTestServer(t, all...)
	m.totp.now = m.Clock.Now
	return m
}

// session returns the browser's session as stored, or nil.
func (b *browser) session() *auth.Session {
	b.t.Helper()
	u, _ := url.Parse(b.ts.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name != sessionCookieInsecure {
			continue
		}
		hash, ok := b.ts.parseSecret(PrefixSession, c.Value)
		if !ok {
			return nil
		}
		s, err := b.ts.Store.GetSession(context.Background(), hash, b.ts.Clock.Now())
		if err != nil {
			return nil
		}
		return s
	}
	return nil
}

// cookie returns the value of the browser's cookie name ("" if none).
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.ts.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.ts.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// wantFactorPage checks the second step's page: the code form, and no
// session yet (unless it is a step-up).
func wantFactorPage(t *testing.T, p *page, status int) htmlForm {
	t.Helper()
	if p.StatusCode != status || !strings.Contains(p.body, `name="code"`) || !strings.Contains(p.body, "Confirm it is you") {
		t.Fatalf("want the second step (%d), got %d:\n%s", status, p.StatusCode, p.body)
	}
	checkPageHeaders(t, p.Response)
	f := p.form(t)
	if !strings.HasSuffix(f.action, PathLoginFactor) || f.fields.Get("pending") == "" || f.fields.Get("csrf_token") == "" {
		t.Fatalf("second step form %+v", f)
	}
	return f
}

// jwtClaims reads a JWT's payload (the signature is checked elsewhere).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func amrOf(claims map[string]any) []string {
	var out []string
	list, _ := claims["amr"].([]any)
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func TestDecideMFA(t *testing.T) {
	t.Parallel()
	pwd := []string{auth.AMRPassword}
	both := auth.NormalizeAMR([]string{auth.AMRPassword, auth.AMROTP})
	uvPasskey := auth.NormalizeAMR([]string{auth.AMRHardwareKey, auth.AMRUser})
	for _, tc := range []struct {
		name string
		in   mfaSituation
		want mfaStep
	}{
		{"a user without a factor signs in with the password alone", mfaSituation{proved: pwd, fresh: true, canEnrol: true}, mfaNone},
		{"a user with a factor is asked for it after the password, policy optional", mfaSituation{proved: pwd, fresh: true, hasFactor: true, canEnrol: true}, mfaAsk},
		{"a user with a factor is asked for it when the policy requires it", mfaSituation{required: true, proved: pwd, fresh: true, hasFactor: true}, mfaAsk},
		{"a user without a factor enrols when the policy requires one", mfaSituation{required: true, proved: pwd, fresh: true, canEnrol: true}, mfaEnrol},
		{"a required factor the server cannot offer is refused", mfaSituation{required: true, proved: pwd, fresh: true}, mfaNoWay},
		{"a session with one factor goes on when nothing requires two", mfaSituation{proved: pwd, hasFactor: true, canEnrol: true}, mfaNone},
		{"a session with one factor steps up when the request requires two", mfaSituation{required: true, proved: pwd, hasFactor: true, canEnrol: true}, mfaAsk},
		{"a session with one factor and no factor set up enrols when required", mfaSituation{required: true, proved: pwd, canEnrol: true}, mfaEnrol},
		{"two factors satisfy any policy", mfaSituation{required: true, proved: both, hasFactor: true}, mfaNone},
		{"a user-verifying passkey is two factors by itself", mfaSituation{required: true, proved: uvPasskey, fresh: true, hasFactor: true}, mfaNone},
		{"a passkey without user verification is one factor", mfaSituation{required: true, proved: []string{auth.AMRHardwareKey}, fresh: true, hasFactor: true}, mfaAsk},
	} {
		if got := decideMFA(tc.in); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestMFAPolicySources: the client's policy wins over the server's; a
// request naming ACRMFA (acr_values, or the only acr the claims parameter
// accepts) needs two factors under any policy.
func TestMFAPolicySources(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		server, client string
		acrValues      string
		claims         string
		want           bool
	}{
		{"server optional, client default", auth.MFAOptional, "", "", "", false},
		{"server required, client default", auth.MFARequired, "", "", "", true},
		{"client required overrides server optional", auth.MFAOptional, auth.MFARequired, "", "", true},
		{"client optional overrides server required", auth.MFARequired, auth.MFAOptional, "", "", false},
		{"acr_values naming ACRMFA", auth.MFAOptional, auth.MFAOptional, "urn:other " + auth.ACRMFA, "", true},
		{"acr_values naming the password class only", auth.MFAOptional, "", auth.ACRPassword, "", false},
		{"acr_values naming both classes, MFA first", auth.MFAOptional, "", auth.ACRMFA + " " + auth.ACRPassword, "", false},
		{"acr_values naming both classes, password first", auth.MFAOptional, "", auth.ACRPassword + " " + auth.ACRMFA, "", false},
		{"acr_values naming both, under a required policy", auth.MFARequired, "", auth.ACRPassword + " " + auth.ACRMFA, "", true},
		{"acr_values naming only ACRMFA and an unknown class", auth.MFAOptional, "", auth.ACRMFA + " urn:other", "", true},
		{"essential acr naming both classes in claims", auth.MFAOptional, "", "", `{"id_token":{"acr":{"essential":true,"values":["` + auth.ACRPassword + `","` + auth.ACRMFA + `"]}}}`, false},
		{"acr_values naming both, essential claims acr only ACRMFA", auth.MFAOptional, "", auth.ACRPassword + " " + auth.ACRMFA, `{"id_token":{"acr":{"essential":true,"values":["` + auth.ACRMFA + `"]}}}`, true},
		{"essential acr ACRMFA in claims", auth.MFAOptional, "", "", `{"id_token":{"acr":{"essential":true,"value":"` + auth.ACRMFA + `"}}}`, true},
		{"acr values that the password class meets", auth.MFAOptional, "", "", `{"id_token":{"acr":{"values":["` + auth.ACRMFA + `","` + auth.ACRPassword + `"]}}}`, false},
	} {
		s := &Server{cfg: Config{MFA: tc.server}}
		q := url.Values{"acr_values": {tc.acrValues}, "claims": {tc.claims}, "scope": {"openid"}}
		req := &authzRequest{params: q, client: &auth.Client{MFA: tc.client}, scopes: []string{"openid"}}
		if err := req.applyOIDCRequest(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := s.mfaRequired(req); got != tc.want {
			t.Errorf("%s: required %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSecondFactorAtSignIn: a user with TOTP gives a code after the
// password; only then is there a session, with pwd, otp and mfa; the ID
// token (checked by go-oidc) and the access token say so in amr and acr,
// and so do the tokens of a refresh.
func TestSecondFactorAtSignIn(t *testing.T) {
	t.Parallel()
	ts := newMFAServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	alice := ts.mustUser("alice")
	key := ts.totp.enrol(alice.ID)
	f := newOIDCFlow(t, ts.testServer, c, secret, "openid", "offline_access")
	b := newBrowser(t, ts.testServer)

	authURL, verifier := f.authURL()
	fp := b.login(authURL, "alice", testPassword)
	wantFactorPage(t, fp, http.StatusOK)
	if b.session() != nil || sessionCookieOf(fp.Response, sessionCookieInsecure) != nil {
		t.Fatal("a session exists before the second factor")
	}
	if strings.Contains(fp.body, "passkey") {
		t.Fatal("a passkey is offered to a user without one")
	}
	wrong := b.submit(fp, url.Values{"code": {"abcdef"}})
	wantFactorPage(t, wrong, http.StatusUnauthorized)
	if !strings.Contains(wrong.body, msgWrongCode) || b.session() != nil {
		t.Fatalf("wrong code:\n%s", wrong.body)
	}
	consent := b.submit(wrong, url.Values{"code": {totpCode(t, key, ts.Clock.Now())}})
	if consent.StatusCode != http.StatusOK || !strings.Contains(consent.body, `value="allow"`) {
		t.Fatalf("after the code: %d\n%s", consent.StatusCode, consent.body)
	}
	sess := b.session()
	if sess == nil || !slices.Equal(sess.AMR, []string{"mfa", "otp", "pwd"}) {
		t.Fatalf("session %+v", sess)
	}
	if b.cookie(loginCookieInsecure) != "" {
		t.Fatal("the pre-session cookie outlived the sign-in")
	}

	claims, tok := f.exchange(b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st"), verifier)
	if claims["acr"] != auth.ACRMFA || !slices.Equal(amrOf(claims), []string{"mfa", "otp", "pwd"}) {
		t.Fatalf("ID token acr %v amr %v", claims["acr"], claims["amr"])
	}
	if _, err := ts.verifyAccess(tok.AccessToken, ""); err != nil {
		t.Fatal(err)
	}
	at := jwtClaims(t, tok.AccessToken)
	if at["acr"] != auth.ACRMFA || !slices.Equal(amrOf(at), []string{"mfa", "otp", "pwd"}) {
		t.Fatalf("access token acr %v amr %v", at["acr"], at["amr"])
	}

	// The refresh token's family keeps the sign-in's methods.
	tok.Expiry = time.Now().Add(-time.Minute)
	next, err := f.conf.TokenSource(context.Background(), tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if next.AccessToken == tok.AccessToken || next.RefreshToken == tok.RefreshToken {
		t.Fatal("no rotation")
	}
	at = jwtClaims(t, next.AccessToken)
	idt, _ := next.Extra("id_token").(string)
	idc := jwtClaims(t, idt)
	for name, cl := range map[string]map[string]any{"access": at, "id": idc} {
		if cl["acr"] != auth.ACRMFA || !slices.Equal(amrOf(cl), []string{"mfa", "otp", "pwd"}) {
			t.Fatalf("refreshed %s token acr %v amr %v", name, cl["acr"], cl["amr"])
		}
	}
	if _, err := f.provider.Verifier(&oidc.Config{ClientID: c.ID, Now: ts.Clock.Now}).Verify(context.Background(), idt); err != nil {
		t.Fatalf("refreshed ID token: %v", err)
	}

	// A recovery code is a second factor too, once.
	b2 := newBrowser(t, ts.testServer)
	authURL, _ = f.authURL()
	fp = b2.login(authURL, "alice", testPassword)
	rc := ts.totp.recovery[alice.ID]
	if p := b2.submit(fp, url.Values{"code": {rc}}); p.StatusCode != http.StatusSeeOther || b2.session() == nil {
		t.Fatalf("recovery code: %d\n%s", p.StatusCode, p.body)
	}
}

// TestSecondStepCannotBeSkipped plays the attacks on the pending sign-in:
// going round it to the consent or code step, a pending sign-in carried to
// another browser, changed, spent, expired, or outlived by a password
// reset or a disabling.
func TestSecondStepCannotBeSkipped(t *testing.T) {
	t.Parallel()
	ts := newMFAServer(t)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	alice := ts.mustUser("alice")
	key := ts.totp.enrol(alice.ID)
	bob := ts.mustUser("bob")
	bobKey := ts.totp.enrol(bob.ID)
	authURL := ts.authorizeURL(authParams(c))
	step := func() time.Time { ts.Clock.Add(30 * time.Second); return ts.Clock.Now() } // a fresh TOTP step
	post := func(b *browser, f htmlForm, over url.Values) *page {
		fields := url.Values{}
		for k, v := range f.fields {
			fields[k] = v
		}
		for k, v := range over {
			fields[k] = v
		}
		return b.post(f.action, fields)
	}

	b := newBrowser(t, ts.testServer)
	f := wantFactorPage(t, b.login(authURL, "alice", testPassword), http.StatusOK)
	aliceLogin := b.cookie(loginCookieInsecure)

	// Straight to the code or the consent step: there is no session.
	if loc := b.get(authURL).location(t); loc.Path != PathLogin {
		t.Fatalf("authorize after the password alone went to %s", loc)
	}
	wantErrorPage(t, b.post(ts.URL+PathConsent, url.Values{"request": {f.fields.Get("request")}, "csrf_token": {f.fields.Get("csrf_token")}, "decision": {"allow"}}), http.StatusForbidden)

	// The pending sign-in in another browser: refused before any code is
	// looked at.
	other := newBrowser(t, ts.testServer)
	other.loginPage(authURL)
	wantErrorPage(t, post(other, f, url.Values{"code": {totpCode(t, key, step())}}), http.StatusForbidden)
	if other.session() != nil || ts.totp.verified != 0 {
		t.Fatalf("another browser's attempt reached the code check (%d) or signed in", ts.totp.verified)
	}

	// Changed: another user's ID with that user's good code; another
	// request.
	var p pendingSignIn
	raw, _ := base64.RawURLEncoding.DecodeString(f.fields.Get("pending"))
	json.Unmarshal(raw, &p)
	p.UserID = bob.ID
	forged, _ := json.Marshal(p)
	wantErrorPage(t, post(b, f, url.Values{"pending": {base64.RawURLEncoding.EncodeToString(forged)}, "code": {totpCode(t, bobKey, step())}}), http.StatusForbidden)
	wantErrorPage(t, post(b, f, url.Values{"request": {authParams(c, "scope", "openid profile email").Encode()}, "code": {totpCode(t, key, step())}}), http.StatusForbidden)
	wantErrorPage(t, post(b, f, url.Values{"pending": {""}, "code": {totpCode(t, key, step())}}), http.StatusForbidden)
	if b.session() != nil {
		t.Fatal("a changed pending sign-in signed in")
	}

	// The right code completes it, once: the same pending sign-in, with
	// the pre-session cookie put back and a new good code, is spent.
	if p := post(b, f, url.Values{"code": {totpCode(t, key, step())}}); p.StatusCode != http.StatusOK || b.session() == nil {
		t.Fatalf("sign-in: %d\n%s", p.StatusCode, p.body)
	}
	replay := newBrowser(t, ts.testServer)
	replay.setCookie(loginCookieInsecure, aliceLogin)
	wantErrorPage(t, post(replay, f, url.Values{"code": {totpCode(t, key, step())}}), http.StatusForbidden)
	if replay.session() != nil {
		t.Fatal("a spent pending sign-in signed in again")
	}

	// Expired.
	b = newBrowser(t, ts.testServer)
	f = wantFactorPage(t, b.login(authURL, "alice", testPassword), http.StatusOK)
	ts.Clock.Add(DefaultPendingSignInTTL + time.Second)
	wantErrorPage(t, post(b, f, url.Values{"code": {totpCode(t, key, step())}}), http.StatusForbidden)

	// The password reset, or the account disabled, after the password.
	b = newBrowser(t, ts.testServer)
	f = wantFactorPage(t, b.login(authURL, "alice", testPassword), http.StatusOK)
	if err := ts.Accounts.ResetPassword(context.Background(), "admin", alice.ID, "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	wantErrorPage(t, post(b, f, url.Values{"code": {totpCode(t, key, step())}}), http.StatusForbidden)
	b = newBrowser(t, ts.testServer)
	f = wantFactorPage(t, b.login(authURL, "bob", testPassword), http.StatusOK)
	if _, err := ts.Accounts.Disable(context.Background(), "admin", bob.ID); err != nil {
		t.Fatal(err)
	}
	wantErrorPage(t, post(b, f, url.Values{"code": {totpCode(t, bobKey, step())}}), http.StatusForbidden)
	if b.session() != nil {
		t.Fatal("a disabled user signed in")
	}
}

// TestSecondFactorThrottled: the TOTP service's throttle answers 429 and
// the right code does not get through during it.
func TestSecondFactorThrottled(t *testing.T) {
	t.Parallel()
	ts := newMFAServer(t)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	alice := ts.mustUser("alice")
	key := ts.totp.enrol(alice.ID)
	b := newBrowser(t, ts.testServer)
	p := b.login(ts.authorizeURL(authParams(c)), "alice", testPassword)
	for range ts.totp.limit {
		p = b.submit(p, url.Values{"code": {"abcdef"}})
	}
	p = b.submit(p, url.Values{"code": {totpCode(t, key, ts.Clock.Now())}})
	wantFactorPage(t, p, http.StatusTooManyRequests)
	if b.session() != nil {
		t.Fatal("signed in while throttled")
	}
}

// TestMFARequiredEnrolment: with the policy required, a user without a
// second factor gets a session with the password alone, good only for
// enrolling: every authorization sends the browser to /account/totp with
// the request to come back to, until the session has two factors.
func TestMFARequiredEnrolment(t *testing.T) {
	t.Parallel()
	ts := newMFAServer(t, func(c *Config) { c.MFA = auth.MFARequired })
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	alice := ts.mustUser("alice")
	params := authParams(c)
	authURL := ts.authorizeURL(params)
	b := newBrowser(t, ts.testServer)

	wantEnrol := func(p *page) {
		t.Helper()
		loc := p.location(t)
		if loc.Path != PathEnrolTOTP || loc.Query().Get("return") != PathAuthorize+"?"+params.Encode() {
			t.Fatalf("redirected to %s, want enrolment returning to the request", loc)
		}
	}
	wantEnrol(b.login(authURL, "alice", testPassword))
	sess := b.session()
	if sess == nil || !slices.Equal(sess.AMR, []string{"pwd"}) {
		t.Fatalf("session %+v", sess)
	}
	wantEnrol(b.get(authURL))
	wantRedirectError(t, b.get(ts.authorizeURL(authParams(c, "prompt", "none"))), c.RedirectURIs[0], "st-123", CodeInteractionRequired)

	// Enrolment (the mfa part's page) confirms a code and upgrades the
	// session; the request then goes on.
	ts.totp.enrol(alice.ID)
	if err := ts.Store.UpgradeSession(context.Background(), sess.Hash, auth.NormalizeAMR([]string{"pwd", "otp"}), ts.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if p := b.get(authURL); p.StatusCode != http.StatusOK || !strings.Contains(p.body, `value="allow"`) {
		t.Fatalf("after enrolment: %d\n%s", p.StatusCode, p.body)
	}
}

// TestStepUp: a session signed in with the password steps up when a
// request asks for ACRMFA in acr_values, or when the client's policy
// turns to required; prompt=none gets interaction_required; the step-up
// adds the factor to the same session and renews auth_time. A consent
// form kept from before the client required two factors gets no code.
func TestStepUp(t *testing.T) {
	t.Parallel()
	ts := newMFAServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	alice := ts.mustUser("alice")
	f := newOIDCFlow(t, ts.testServer, c, secret, "openid")
	b := newBrowser(t, ts.testServer)

	authURL, _ := f.authURL()
	consent := b.login(authURL, "alice", testPassword)
	b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st")
	before := b.session()
	key := ts.totp.enrol(alice.ID) // set up after signing in

	// Nothing requires two factors: the session goes on.
	authURL, _ = f.authURL()
	b.codeFrom(b.get(authURL), c.RedirectURIs[0], "st")

	authURL, _ = f.authURL("acr_values", auth.ACRMFA, "prompt", "none")
	wantRedirectError(t, b.get(authURL), c.RedirectURIs[0], "st", CodeInteractionRequired)

	ts.Clock.Add(time.Minute)
	authURL, verifier := f.authURL("acr_values", auth.ACRMFA)
	up := b.get(authURL)
	wantFactorPage(t, up, http.StatusOK)
	if !strings.Contains(up.body, "asks for a second factor") {
		t.Fatalf("not the step-up page:\n%s", up.body)
	}
	claims, _ := f.exchange(b.codeFrom(b.submit(up, url.Values{"code": {totpCode(t, key, ts.Clock.Now())}}), c.RedirectURIs[0], "st"), verifier)
	if claims["acr"] != auth.ACRMFA || int64(claims["auth_time"].(float64)) != ts.Clock.Now().Unix() {
		t.Fatalf("after step-up: acr %v auth_time %v", claims["acr"], claims["auth_time"])
	}
	after := b.session()
	if after == nil || string(after.Hash) != string(before.Hash) || !auth.HasMFA(after.AMR) {
		t.Fatalf("step-up session %+v (before %+v)", after, before)
	}

	// Another browser with a password session, and a client that now
	// requires two factors: the consent form kept from before is refused.
	b3 := newBrowser(t, ts.testServer)
	ts.mustUser("carol")
	authURL, _ = f.authURL()
	consent = b3.login(authURL, "carol", testPassword)
	kept := consent.form(t)
	ts.policy.set(c.ID, auth.MFARequired)
	p := b3.post(kept.action, func() url.Values { v := kept.fields; v.Set("decision", "allow"); return v }())
	wantErrorPage(t, p, http.StatusForbidden)
	// And the authorization endpoint sends carol, who has no factor, to
	// enrol.
	if loc := b3.get(authURL).location(t); loc.Path != PathEnrolTOTP {
		t.Fatalf("carol went to %s", loc)
	}
}

// passkeyForm is a passkey form of a page (data-passkey="login"), as
// passkey.js reads it.
type passkeyForm struct {
	begin, finish string
	csrf          string
	fields        map[string]string // the other fields, sent as JSON
}

func passkeyFormOf(t *testing.T, p *page) passkeyForm {
	t.Helper()
	i := strings.Index(p.body, `data-passkey="login"`)
	if i < 0 {
		t.Fatalf("no passkey form:\n%s", p.body)
	}
	frag := p.body[i : strings.Index(p.body[i:], "</form>")+i]
	attr := func(name string) string {
		m := regexp.MustCompile(name + `="([^"]*)"`).FindStringSubmatch(frag)
		if m == nil {
			t.Fatalf("passkey form without %s:\n%s", name, frag)
		}
		return html.UnescapeString(m[1])
	}
	f := passkeyForm{begin: attr("data-begin"), finish: attr("data-finish"), fields: map[string]string{}}
	for _, in := range inputRe.FindAllStringSubmatch(frag, -1) {
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(in[1], -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
		}
		if attrs["name"] == "csrf_token" {
			f.csrf = attrs["value"]
		} else {
			f.fields[attrs["name"]] = attrs["value"]
		}
	}
	return f
}

// postJSON sends what passkey.js sends: JSON, the token in X-CSRF-Token.
func (b *browser) postJSON(u, csrf string, body any) *page {
	b.t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(string(raw)))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	// A browser's fetch POST always carries Origin (web.SameOriginScript).
	req.Header.Set("Origin", req.URL.Scheme+"://"+req.URL.Host)
	req.Header.Set("X-CSRF-Token", csrf)
	return b.do(req)
}

// passkeyBegin runs passkey.js's first request and returns the state.
func (b *browser) passkeyBegin(f passkeyForm) string {
	b.t.Helper()
	p := b.postJSON(f.begin, f.csrf, f.fields)
	var o struct {
		Options struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		} `json:"options"`
		State string `json:"state"`
	}
	if p.StatusCode != http.StatusOK || json.Unmarshal([]byte(p.body), &o) != nil || o.State == "" || o.Options.PublicKey.Challenge == "" {
		b.t.Fatalf("begin: %d\n%s", p.StatusCode, p.body)
	}
	return o.State
}

// passkeyFinish runs passkey.js's second request; signed in, it follows
// the redirect as the script does.
func (b *browser) passkeyFinish(f passkeyForm, state, credential string) *page {
	b.t.Helper()
	body := map[string]any{"state": state, "credential": json.RawMessage(credential)}
	for k, v := range f.fields {
		body[k] = v
	}
	p := b.postJSON(f.finish, f.csrf, body)
	if p.StatusCode != http.StatusOK {
		return p
	}
	var done struct {
		Redirect string `json:"redirect"`
	}
	if json.Unmarshal([]byte(p.body), &done) != nil || !strings.HasPrefix(done.Redirect, b.ts.URL+PathLoginContinue+"?") {
		b.t.Fatalf("finish answered %s", p.body)
	}
	return b.get(done.Redirect)
}

// passkeyCeremony runs both requests of passkey.js for the page's form,
// with the credential that credential makes of the ceremony's state.
func (b *browser) passkeyCeremony(p *page, credential func(state string) string) *page {
	b.t.Helper()
	f := passkeyFormOf(b.t, p)
	state := b.passkeyBegin(f)
	return b.passkeyFinish(f, state, credential(state))
}

// TestPasskeySignIn: a passkey alone signs in from the login page (the
// username field offers passkeys; the page runs passkey.js only); one
// with user verification is two factors. A ceremony is finished once. A
// passkey serves as the second factor after a password, and only the
// user's own.
func TestPasskeySignIn(t *testing.T) {
	t.Parallel()
	ts := newMFAServer(t)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	alice := ts.mustUser("alice")
	ts.passkeys.register(alice.ID)
	bob := ts.mustUser("bob")
	ts.passkeys.register(bob.ID)
	authURL := ts.authorizeURL(authParams(c))

	b := newBrowser(t, ts.testServer)
	lp := b.loginPage(authURL)
	for _, want := range []string{`name="username"`, `name="password"`, `autocomplete="username webauthn"`, `data-passkey="login"`, `<script src="/oauth2/static/passkey.js" defer></script>`} {
		if !strings.Contains(lp.body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	if csp := lp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Errorf("login page CSP %q", csp)
	}
	var state string
	consent := b.passkeyCeremony(lp, func(s string) string { state = s; return passkeyCredential(alice.ID, s, true) })
	if consent.StatusCode != http.StatusOK || !strings.Contains(consent.body, `value="allow"`) {
		t.Fatalf("passkey sign-in: %d\n%s", consent.StatusCode, consent.body)
	}
	if s := b.session(); s == nil || !slices.Equal(s.AMR, []string{"hwk", "mfa", "user"}) {
		t.Fatalf("session %+v", s)
	}
	if b.cookie(auth.CookiePasskeyLoginInsecure) != "" {
		t.Fatal("the ceremony cookie outlived the ceremony")
	}

	// The same credential again, even with the ceremony cookie put back:
	// the state is spent. A state of another browser's ceremony is not
	// this browser's.
	b2 := newBrowser(t, ts.testServer)
	lp = b2.loginPage(authURL)
	f := passkeyFormOf(t, lp)
	b2.setCookie(auth.CookiePasskeyLoginInsecure, base64.RawURLEncoding.EncodeToString([]byte(state)))
	if p := b2.passkeyFinish(f, state, passkeyCredential(alice.ID, state, true)); p.StatusCode != http.StatusUnauthorized || b2.session() != nil {
		t.Fatalf("replayed ceremony: %d %s", p.StatusCode, p.body)
	}
	bx := newBrowser(t, ts.testServer)
	theirs := bx.passkeyBegin(passkeyFormOf(t, bx.loginPage(authURL)))
	b2.passkeyBegin(f)
	if p := b2.passkeyFinish(f, theirs, passkeyCredential(alice.ID, theirs, true)); p.StatusCode != http.StatusUnauthorized || b2.session() != nil {
		t.Fatalf("another browser's ceremony: %d %s", p.StatusCode, p.body)
	}
	// Begin without the login page's token, or from another site, is
	// refused.
	bad := f
	bad.csrf = "1.x"
	if p := b2.postJSON(f.begin, bad.csrf, f.fields); p.StatusCode != http.StatusForbidden || !strings.Contains(p.body, `"error"`) {
		t.Fatalf("begin without a valid token: %d %s", p.StatusCode, p.body)
	}

	// A passkey as the second factor: bob has no TOTP, so the second step
	// offers the passkey alone; alice's passkey does not do for bob.
	b3 := newBrowser(t, ts.testServer)
	fp := b3.login(authURL, "bob", testPassword)
	if fp.StatusCode != http.StatusOK || strings.Contains(fp.body, `name="code"`) || !strings.Contains(fp.body, "Use a passkey") {
		t.Fatalf("second step for a passkey user: %d\n%s", fp.StatusCode, fp.body)
	}
	if p := b3.passkeyCeremony(fp, func(s string) string { return passkeyCredential(alice.ID, s, false) }); p.StatusCode != http.StatusUnauthorized || b3.session() != nil {
		t.Fatalf("another user's passkey as bob's second factor: %d\n%s", p.StatusCode, p.body)
	}
	p := b3.passkeyCeremony(fp, func(s string) string { return passkeyCredential(bob.ID, s, false) })
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, `value="allow"`) {
		t.Fatalf("bob's passkey: %d\n%s", p.StatusCode, p.body)
	}
	if s := b3.session(); s == nil || !slices.Equal(s.AMR, []string{"hwk", "mfa", "pwd"}) {
		t.Fatalf("session %+v", s)
	}

	// A passkey without user verification is one factor: refused from
	// the login page for a user with TOTP (the password form, then the
	// code, will do); enough for a user without a second factor under the
	// optional policy.
	carol := ts.mustUser("carol")
	ts.passkeys.register(carol.ID)
	ts.totp.enrol(carol.ID)
	b4 := newBrowser(t, ts.testServer)
	p = b4.passkeyCeremony(b4.loginPage(authURL), func(s string) string { return passkeyCredential(carol.ID, s, false) })
	if p.StatusCode != http.StatusUnauthorized || !strings.Contains(p.body, "did not confirm it is you") || b4.session() != nil {
		t.Fatalf("passkey without user verification, user with TOTP: %d %s", p.StatusCode, p.body)
	}
	// The link that goes on after a passkey sign-in is the signed-in
	// browser's alone.
	b6 := newBrowser(t, ts.testServer)
	f6 := passkeyFormOf(t, b6.loginPage(authURL))
	st6 := b6.passkeyBegin(f6)
	done := b6.postJSON(f6.finish, f6.csrf, map[string]any{"request": f6.fields["request"], "state": st6, "credential": json.RawMessage(passkeyCredential(alice.ID, st6, true))})
	var link struct{ Redirect string }
	json.Unmarshal([]byte(done.body), &link)
	if link.Redirect == "" {
		t.Fatalf("finish: %d %s", done.StatusCode, done.body)
	}
	wantErrorPage(t, newBrowser(t, ts.testServer).get(link.Redirect), http.StatusForbidden)
	wantErrorPage(t, b6.get(strings.Replace(link.Redirect, "token=", "token=1", 1)), http.StatusForbidden)

	dave := ts.mustUser("dave")
	ts.passkeys.register(dave.ID)
	b5 := newBrowser(t, ts.testServer)
	p = b5.passkeyCeremony(b5.loginPage(authURL), func(s string) string { return passkeyCredential(dave.ID, s, false) })
	if s := b5.session(); p.StatusCode != http.StatusOK || s == nil || !slices.Equal(s.AMR, []string{"hwk"}) {
		t.Fatalf("passkey without user verification, no second factor: %d, session %+v", p.StatusCode, s)
	}
}

// TestDeviceSignInAsksForTheSecondFactor: the device page's sign-in is a
// sign-in like any other: a user with TOTP gives a code before the
// device's consent page.
func TestDeviceSignInAsksForTheSecondFactor(t *testing.T) {
	t.Parallel()
	ts := newMFAServer(t)
	c, _ := ts.deviceClient(true)
	alice := ts.mustUser("alice")
	key := ts.totp.enrol(alice.ID)
	codes := ts.deviceAuth(c, "openid")
	b := newBrowser(t, ts.testServer)
	lp := b.enterCode(codes["verification_uri_complete"].(string), "")
	p := b.submit(lp, url.Values{"username": {"alice"}, "password": {testPassword}})
	wantFactorPage(t, p, http.StatusOK)
	if b.session() != nil {
		t.Fatal("a session before the second factor")
	}
	p = b.submit(p, url.Values{"code": {totpCode(t, key, ts.Clock.Now())}})
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, `value="allow"`) || !strings.Contains(p.body, "Only allow this") {
		t.Fatalf("after the code: %d\n%s", p.StatusCode, p.body)
	}
	if s := b.session(); s == nil || !auth.HasMFA(s.AMR) {
		t.Fatalf("session %+v", s)
	}
	// The device's tokens say how the user signed in: the approval
	// recorded the session's amr.
	end := b.submit(p, url.Values{"decision": {"allow"}})
	if end.StatusCode != http.StatusOK {
		t.Fatalf("allow: %d\n%s", end.StatusCode, end.body)
	}
	ts.Clock.Add(10 * time.Second)
	tok := decode(t, ts.poll(c, codes["device_code"].(string)), http.StatusOK)
	claims, err := ts.verifyAccess(tok["access_token"].(string), "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(claims.AMR, []string{"mfa", "otp", "pwd"}) || claims.ACR != auth.ACRMFA {
		t.Fatalf("device access token: amr %v, acr %q", claims.AMR, claims.ACR)
	}
	idt := idTokenPayload(t, tok["id_token"].(string))
	if idt["acr"] != auth.ACRMFA || fmt.Sprint(idt["amr"]) != "[mfa otp pwd]" {
		t.Fatalf("device ID token: amr %v, acr %v", idt["amr"], idt["acr"])
	}
}

// idTokenPayload returns an ID token's claims, unverified (the token came
// straight from the token endpoint).
func idTokenPayload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzDecodePending: whatever a browser sends as the pending sign-in, the
// decoder neither panics nor accepts a record without a user, a nonce and
// a known flow; what it accepts encodes back to the same record.
func FuzzDecodePending(f *testing.F) {
	for _, p := range []pendingSignIn{
		{UserID: "usr_1", Password: 1, AMR: []string{"pwd"}, Nonce: "n", Flow: flowAuthorize},
		{UserID: "usr_2", AMR: []string{"hwk"}, Nonce: "n2", StepUp: true, Flow: flowDevice},
	} {
		raw, _ := json.Marshal(p)
		f.Add(base64.RawURLEncoding.EncodeToString(raw))
	}
	f.Add("")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, enc string) {
		p, ok := decodePending(enc)
		if !ok {
			return
		}
		if p.UserID == "" || p.Nonce == "" || (p.Flow != flowAuthorize && p.Flow != flowDevice) || len(enc) > maxPending {
			t.Fatalf("accepted %+v", p)
		}
		raw, _ := json.Marshal(p)
		again, ok := decodePending(base64.RawURLEncoding.EncodeToString(raw))
		if !ok || again.UserID != p.UserID || again.Nonce != p.Nonce || again.Flow != p.Flow || again.StepUp != p.StepUp {
			t.Fatalf("round trip %+v -> %+v", p, again)
		}
	})
}
