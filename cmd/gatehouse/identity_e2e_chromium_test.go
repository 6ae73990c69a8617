package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// The identity features of issue 15 together, in the real binary and a
// real browser: passkeys (Chrome's virtual authenticator), TOTP enrolment
// led by a client's policy, the gateway's require_mfa, recovery codes, and
// axe-core and the strict CSP on every new page.

// identityNode starts an initialised node whose issuer is
// http://localhost:PORT: WebAuthn takes no IP address as relying party.
func identityNode(t *testing.T) (*node, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Dev = true // plain HTTP on loopback: cookies without Secure
	cfg.Addr = "127.0.0.1:" + strconv.Itoa(port)
	cfg.OAuth.Issuer = "http://localhost:" + strconv.Itoa(port)
	// Real time: go-oidc, x/oauth2 and the browser read the wall clock.
	logs := &testenv.SyncBuffer{}
	n := startInitialised(t, cfg, newClock(), logs)
	t.Cleanup(func() {
		// Nothing the flows did was a server fault.
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`) {
				t.Errorf("server log: %s", line)
			}
		}
	})
	return n, cfg.OAuth.Issuer
}

// rp is an OAuth client of the node (x/oauth2 with PKCE, go-oidc) whose
// redirect URI is a small server that answers the browser.
type rp struct {
	t        *testing.T
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
	ctx      context.Context
	callback string
}

func newRP(t *testing.T, n *node, issuer, name string, extra ...string) *rp {
	t.Helper()
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!DOCTYPE html><html lang="en"><title>Back</title><h1>Back at the application</h1></html>`))
	}))
	t.Cleanup(cb.Close)
	var client clientCredentials
	n.cliJSON(&client, append([]string{"clients", "create", "--name", name, "--redirect-uri", cb.URL + "/cb",
		"--grant-types", "authorization_code,refresh_token", "--scopes", "openid profile offline_access"}, extra...)...)
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &rp{t: t, ctx: ctx, callback: cb.URL + "/cb",
		conf: oauth2.Config{ClientID: client.ClientID, ClientSecret: client.ClientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: cb.URL + "/cb", Scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess}},
		verifier: provider.Verifier(&oidc.Config{ClientID: client.ClientID}),
	}
}

// authorization is one run of the authorization code flow.
type authorization struct {
	URL, state, verifier, nonce string
}

func (c *rp) start(opts ...oauth2.AuthCodeOption) authorization {
	a := authorization{state: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier()}
	a.URL = c.conf.AuthCodeURL(a.state, append(opts, oauth2.S256ChallengeOption(a.verifier), oidc.Nonce(a.nonce))...)
	return a
}

type idClaims struct {
	AMR []string `json:"amr"`
	ACR string   `json:"acr"`
}

// finish exchanges the code of the callback URL and verifies the ID token.
func (c *rp) finish(a authorization, callbackURL string) (*oauth2.Token, idClaims) {
	c.t.Helper()
	u, err := url.Parse(callbackURL)
	if err != nil || u.Query().Get("state") != a.state || u.Query().Get("code") == "" {
		c.t.Fatalf("callback %q", callbackURL)
	}
	tok, err := c.conf.Exchange(c.ctx, u.Query().Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		c.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := c.verifier.Verify(c.ctx, raw)
	if err != nil {
		c.t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != a.nonce {
		c.t.Fatalf("nonce %q", idt.Nonce)
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		c.t.Fatal(err)
	}
	return tok, cl
}

// idBrowser is a headless Chromium tab, optionally with a virtual
// authenticator, that records the CSP of every document it loads and the
// CSP violations of every page.
type idBrowser struct {
	t      *testing.T
	ctx    context.Context
	auth   cdpwebauthn.AuthenticatorID
	mu     sync.Mutex
	csp    map[string]string // document URL → Content-Security-Policy
	axeSrc string
}

// cspProbe runs before any script of each page (DevTools injects it, so the
// page's CSP does not apply) and keeps the page's CSP violations.
const cspProbe = `window.__csp = []; document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`

func newIDBrowser(t *testing.T, authenticator bool) *idBrowser {
	t.Helper()
	opts := testenv.Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	b := &idBrowser{t: t, ctx: bctx, csp: map[string]string{}}
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && e.Type == network.ResourceTypeDocument {
			v, _ := e.Response.Headers["Content-Security-Policy"].(string)
			if v == "" {
				v, _ = e.Response.Headers["content-security-policy"].(string)
			}
			b.mu.Lock()
			b.csp[e.Response.URL] = v
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	b.do("network and the CSP probe", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe})
		return err
	}))
	if authenticator {
		// A platform authenticator that keeps discoverable credentials and
		// verifies its user, as a laptop's or phone's does.
		b.do("add a virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
				return err
			}
			res, err := cdp.Call(ctx, tg, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
				Options: &cdpwebauthn.VirtualAuthenticatorOptions{
					Protocol:                    cdpwebauthn.AuthenticatorProtocolCtap2,
					Transport:                   cdpwebauthn.AuthenticatorTransportInternal,
					HasResidentKey:              true,
					HasUserVerification:         true,
					IsUserVerified:              true,
					AutomaticPresenceSimulation: true,
				},
			})
			b.auth = res.AuthenticatorID
			return err
		}))
	}
	return b
}

func (b *idBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v (at %s)", what, err, b.eval(`location.href`))
	}
}

func (b *idBrowser) eval(script string) string {
	b.t.Helper()
	return evalAs[string](b, script)
}

func evalAs[T any](b *idBrowser, script string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: evaluate %.80q: %v", script, err)
	}
	return v
}

func (b *idBrowser) open(u string) {
	b.t.Helper()
	b.do("open "+u, chromedp.Navigate(u))
}

// waitFor polls a script until it is true.
func (b *idBrowser) waitFor(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("browser: waiting for %s: at %s:\n%s", what, b.eval(`location.href`), b.eval(`document.body ? document.body.innerText : ""`))
}

// waitPath waits until the browser is at path (the path alone).
func (b *idBrowser) waitPath(path string) {
	b.t.Helper()
	b.waitFor(path, `location.pathname === `+strconv.Quote(path)+` && document.readyState === "complete"`)
}

// waitCallback waits for the application's callback and returns its URL.
func (b *idBrowser) waitCallback(c *rp) string {
	b.t.Helper()
	b.waitFor("the callback", `location.href.startsWith(`+strconv.Quote(c.callback)+`) && document.readyState === "complete"`)
	return b.eval(`location.href`)
}

// consentIfAsked allows the application when the consent page shows.
func (b *idBrowser) consentIfAsked(c *rp) string {
	b.t.Helper()
	b.waitFor("consent or callback", `location.href.startsWith(`+strconv.Quote(c.callback)+`) || !!document.querySelector('button[name="decision"][value="allow"]')`)
	if b.eval(`location.href`) != "" && !strings.HasPrefix(b.eval(`location.href`), c.callback) {
		b.check("the consent page")
		b.do("consent", chromedp.Click(`button[name="decision"][value="allow"]`))
	}
	return b.waitCallback(c)
}

// signInWithPassword fills the login page's password form.
func (b *idBrowser) signInWithPassword(username, password string) {
	b.t.Helper()
	b.waitFor("the login page", `!!document.querySelector('input[name="password"]')`)
	b.do("sign in", chromedp.SendKeys(`input[name="username"]`, username), chromedp.SendKeys(`input[name="password"]`, password),
		chromedp.Submit(`input[name="password"]`))
}

func (b *idBrowser) clearCookies() {
	b.t.Helper()
	b.do("clear cookies", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{})
		return err
	}))
}

// check runs axe-core on the page (no serious or critical violation),
// and checks its CSP: strict (no inline script or style, nothing from
// elsewhere), and nothing on it violated it.
func (b *idBrowser) check(what string) {
	b.t.Helper()
	b.waitFor("the page to load", `document.readyState === "complete"`)
	href := b.eval(`location.href`)
	b.mu.Lock()
	csp, ok := b.csp[href]
	b.mu.Unlock()
	switch {
	case !ok:
		b.t.Errorf("%s (%s): no document response recorded", what, href)
	case !strings.HasPrefix(csp, "default-src 'none';") || strings.Contains(csp, "unsafe-") ||
		strings.Contains(csp, "*") || !strings.Contains(csp, "frame-ancestors 'none'"):
		b.t.Errorf("%s (%s): CSP %q", what, href, csp)
	}
	if s := strings.Index(csp, "script-src"); s >= 0 {
		if d, _, _ := strings.Cut(csp[s:], ";"); d != "script-src 'self'" {
			b.t.Errorf("%s: %s", what, d)
		}
	}
	if v := evalAs[[]string](b, `window.__csp || ["no probe"]`); len(v) > 0 {
		b.t.Errorf("%s (%s): CSP violations %v", what, href, v)
	}
	if b.axeSrc == "" {
		b.axeSrc = testenv.Axe(b.t)
	}
	evalAs[chromedp.Void](b, b.axeSrc+"\n;undefined")
	for _, v := range evalAs[[]string](b, testenv.AxeRun) {
		b.t.Errorf("%s (%s): axe-core: %s", what, href, v)
	}
}

func (b *idBrowser) credentials() []*cdpwebauthn.Credential {
	b.t.Helper()
	var creds []*cdpwebauthn.Credential
	b.do("list credentials", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: b.auth})
		creds = res.Credentials
		return err
	}))
	return creds
}

type credential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
	BackupEligibility    bool    `json:"backupEligibility"`
	BackupState          bool    `json:"backupState"`
}

type addCredential struct {
	AuthenticatorID cdpwebauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      credential                  `json:"credential"`
}

var addCredentialCommand = cdp.Command[addCredential, cdp.Empty]{Method: cdpwebauthn.CommandAddCredential}

// stash takes the authenticator's credentials away (their counters as
// they are now), for restore.
func (b *idBrowser) stash() []*cdpwebauthn.Credential {
	b.t.Helper()
	creds := b.credentials()
	b.setCredentials(nil)
	return creds
}

func (b *idBrowser) setCredentials(creds []*cdpwebauthn.Credential) {
	b.t.Helper()
	b.do("set credentials", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, cdpwebauthn.ClearCredentials, cdpwebauthn.ClearCredentialsParams{AuthenticatorID: b.auth}); err != nil {
			return err
		}
		for _, c := range creds {
			// Without the CMTG members of newer protocol versions, which
			// this Chromium refuses even when false.
			params := addCredential{AuthenticatorID: b.auth, Credential: credential{CredentialID: c.CredentialID,
				IsResidentCredential: c.IsResidentCredential, RpID: c.RpID, PrivateKey: c.PrivateKey, UserHandle: c.UserHandle,
				SignCount: c.SignCount, BackupEligibility: c.BackupEligibility, BackupState: c.BackupState}}
			if _, err := cdp.Call(ctx, tg, addCredentialCommand, params); err != nil {
				return err
			}
		}
		return nil
	}))
}

func wantAMR(t *testing.T, what string, got idClaims, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got.AMR, w) {
			t.Errorf("%s: amr %v lacks %q", what, got.AMR, w)
		}
	}
	if auth.HasMFA(got.AMR) != (got.ACR == auth.ACRMFA) {
		t.Errorf("%s: acr %q with amr %v", what, got.ACR, got.AMR)
	}
}

func keyAMR(got idClaims) bool {
	return slices.Contains(got.AMR, auth.AMRHardwareKey) || slices.Contains(got.AMR, auth.AMRSoftwareKey)
}

// TestChromiumPasskeysEndToEnd: a passkey registered on /account/passkeys
// signs an OAuth client's user in alone (the login page's conditional UI),
// and as the second factor after the password; the ID tokens say so.
func TestChromiumPasskeysEndToEnd(t *testing.T) {
	n, issuer := identityNode(t)
	const password = "a long and unguessable passphrase"
	var user struct {
		ID string `json:"id"`
	}
	n.cliStdin(password+"\n", &user, "users", "create", "--username", "ada", "--email", "ada@example.test", "--password-stdin")
	n.cliStdin("upstream-secret\n", &struct{}{}, "providers", "create", "--name", "github", "--kind", "oauth2",
		"--issuer", "https://github.example.test", "--client-id", "gh-client", "--client-secret-stdin", "--display-name", "GitHub",
		"--authorization-url", "https://github.example.test/login/oauth/authorize", "--token-url", "https://github.example.test/login/oauth/access_token",
		"--userinfo-url", "https://api.github.example.test/user")
	const api = "https://photos.example.test"
	app := newRP(t, n, issuer, "Photo Printer", "--audience", api)
	svc := newUpstream(t, "photos")
	n.cli("routes", "create", "--name", "photos", "--path", "/photos", "--upstream", svc.URL, "--policy", "jwt",
		"--audience", api, "--require-mfa")
	resource := oauth2.SetAuthURLParam("resource", api)
	b := newIDBrowser(t, true)

	// Register: /account sends to the login page, then back.
	b.open(issuer + "/account/passkeys")
	b.signInWithPassword("ada", password)
	b.waitPath("/account/passkeys")
	b.waitFor("the passkey form", `!!document.querySelector('form[data-passkey="register"] button')`)
	b.check("/account/passkeys")
	b.do("add a passkey", chromedp.SendKeys("#passkey-name", "Laptop"), chromedp.Click(`form[data-passkey="register"] button`))
	b.waitFor("the page after adding", `location.search === "?done=added" && document.readyState === "complete" && !!document.querySelector("main")`)
	creds := b.credentials()
	if len(creds) != 1 || !creds[0].IsResidentCredential || string(creds[0].UserHandle) != user.ID {
		t.Fatalf("authenticator credentials %+v", creds)
	}
	b.check("/account/passkeys with a passkey")

	// The passkey alone: the login page's conditional request, which
	// Chromium's virtual authenticator answers at once.
	b.clearCookies()
	a := app.start(resource)
	b.open(a.URL)
	b.waitFor("the login page", `!!document.querySelector('form[data-passkey="login"]')`)
	if got := b.eval(`[...document.querySelectorAll('a[href^="/oauth2/providers/github"], a[href*="/oauth2/providers/github"]')].map(a => a.textContent).join()`); got != "GitHub" {
		t.Errorf("provider link %q", got)
	}
	cb := b.consentIfAsked(app)
	tok, claims := app.finish(a, cb)
	if r := gwGet(t, n.main.GatewayURL()+"/photos/x", bearer(tok.AccessToken)); r.status != http.StatusOK {
		t.Errorf("require_mfa route with a passkey's token: %d %s", r.status, r.body)
	}
	wantAMR(t, "passkey alone", claims, auth.AMRUser, auth.AMRMFA)
	if !keyAMR(claims) || claims.ACR != auth.ACRMFA || slices.Contains(claims.AMR, auth.AMRPassword) {
		t.Errorf("passkey alone: amr %v acr %q", claims.AMR, claims.ACR)
	}

	// The button, with the conditional request running, asks again.
	b.clearCookies()
	a = app.start()
	creds = b.stash() // nothing for the conditional request to find
	b.open(a.URL)
	b.waitFor("the login page", `!!document.querySelector('form[data-passkey="login"] button')`)
	b.check("the login page with a provider link and the passkey form")
	b.setCredentials(creds)
	b.do("sign in with a passkey", chromedp.Click(`form[data-passkey="login"] button`))
	_, claims = app.finish(a, b.waitCallback(app))
	if !keyAMR(claims) || !auth.HasMFA(claims.AMR) || claims.ACR != auth.ACRMFA {
		t.Errorf("passkey button: amr %v acr %q", claims.AMR, claims.ACR)
	}

	// As the second factor after the password: nothing for the login
	// page's conditional request, the passkey back on the second step.
	b.clearCookies()
	creds = b.stash()
	a = app.start()
	b.open(a.URL)
	b.signInWithPassword("ada", password)
	b.waitFor("the second step", `!!document.querySelector('form[data-passkey="login"] input[name="pending"]')`)
	b.check("the second step with a passkey")
	b.setCredentials(creds)
	b.do("use the passkey", chromedp.Click(`form[data-passkey="login"] button`))
	_, claims = app.finish(a, b.waitCallback(app))
	wantAMR(t, "password and passkey", claims, auth.AMRPassword, auth.AMRMFA)
	if !keyAMR(claims) || claims.ACR != auth.ACRMFA {
		t.Errorf("password and passkey: amr %v acr %q", claims.AMR, claims.ACR)
	}

	// With an authenticator app too, the second step offers both; the
	// passkey still does.
	b.open(issuer + "/account/totp")
	b.waitPath("/account/totp")
	secret := b.eval(`document.querySelector("[data-totp-secret]").getAttribute("data-totp-secret")`)
	code, err := totp.GenerateCode(secret, n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.do("confirm the app", chromedp.SendKeys(`input[name="code"]`, code), chromedp.Submit(`input[name="code"]`))
	b.waitFor("the recovery codes", `document.querySelectorAll("[data-recovery-code]").length === 10`)
	b.clearCookies()
	creds = b.stash()
	a = app.start()
	b.open(a.URL)
	b.signInWithPassword("ada", password)
	b.waitFor("the second step", `!!document.querySelector('form[data-passkey="login"] input[name="pending"]') && !!document.querySelector('input[name="code"]')`)
	b.check("the second step with a code and a passkey")
	b.setCredentials(creds)
	b.do("use the passkey", chromedp.Click(`form[data-passkey="login"] button`))
	_, claims = app.finish(a, b.waitCallback(app))
	wantAMR(t, "password and passkey, with TOTP", claims, auth.AMRPassword, auth.AMRMFA)
	if !keyAMR(claims) || slices.Contains(claims.AMR, auth.AMROTP) {
		t.Errorf("password and passkey, with TOTP: amr %v", claims.AMR)
	}
}

// TestChromiumTOTPEndToEnd: a client that requires a second factor leads a
// user without one through the authenticator app's set-up after the
// password; the code comes from an independent TOTP implementation; the
// tokens say pwd+otp+mfa, which a require_mfa gateway route accepts where
// it refuses a password-only token; a recovery code signs in once.
func TestChromiumTOTPEndToEnd(t *testing.T) {
	n, issuer := identityNode(t)
	const password = "a long and unguessable passphrase"
	const api = "https://pay.example.test"
	var grace, linus struct {
		ID string `json:"id"`
	}
	n.cliStdin(password+"\n", &grace, "users", "create", "--username", "grace", "--email", "grace@example.test", "--password-stdin")
	n.cliStdin(password+"\n", &linus, "users", "create", "--username", "linus", "--email", "linus@example.test", "--password-stdin")
	bank := newRP(t, n, issuer, "Bank", "--mfa", "required", "--audience", api)
	notes := newRP(t, n, issuer, "Notes", "--audience", api)
	svc := newUpstream(t, "pay")
	n.cli("routes", "create", "--name", "pay", "--path", "/pay", "--upstream", svc.URL, "--policy", "jwt",
		"--audience", api, "--require-mfa")
	resource := oauth2.SetAuthURLParam("resource", api)
	b := newIDBrowser(t, false)

	// The password, then the set-up the client's policy requires.
	a := bank.start(resource)
	b.open(a.URL)
	b.signInWithPassword("grace", password)
	b.waitPath("/account/totp")
	if ret := b.eval(`new URLSearchParams(location.search).get("return") || ""`); !strings.HasPrefix(ret, "/oauth2/authorize?") {
		t.Errorf("/account/totp?return=%q", ret)
	}
	b.check("/account/totp")
	secret := b.eval(`document.querySelector("[data-totp-secret]").getAttribute("data-totp-secret")`)
	code, err := totp.GenerateCode(secret, n.clock.Now())
	if err != nil {
		t.Fatalf("TOTP secret %q: %v", secret, err)
	}
	b.do("confirm the app", chromedp.SendKeys(`input[name="code"]`, code), chromedp.Submit(`input[name="code"]`))
	b.waitFor("the recovery codes", `document.querySelectorAll("[data-recovery-code]").length > 0`)
	recovery := evalAs[[]string](b, `[...document.querySelectorAll("[data-recovery-code]")].map(e => e.getAttribute("data-recovery-code"))`)
	if len(recovery) != 10 || slices.Contains(recovery, "") {
		t.Fatalf("recovery codes %q", recovery)
	}
	b.check("/account/totp with the recovery codes")
	b.do("continue", chromedp.Click(`a[data-continue]`))
	tok, claims := bank.finish(a, b.consentIfAsked(bank))
	if want := []string{auth.AMRMFA, auth.AMROTP, auth.AMRPassword}; !slices.Equal(claims.AMR, want) || claims.ACR != auth.ACRMFA {
		t.Errorf("after the set-up: amr %v acr %q, want %v %s", claims.AMR, claims.ACR, want, auth.ACRMFA)
	}

	// The gateway: the two-factor token passes, a password-only one gets
	// RFC 9470's challenge.
	gw := n.main.GatewayURL()
	if r := gwGet(t, gw+"/pay/x", bearer(tok.AccessToken)); r.status != http.StatusOK {
		t.Errorf("require_mfa route with an MFA token: %d %s", r.status, r.body)
	}
	// The refreshed access token keeps the sign-in's methods.
	refreshed, err := bank.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || refreshed.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %v", err)
	}
	if r := gwGet(t, gw+"/pay/x", bearer(refreshed.AccessToken)); r.status != http.StatusOK {
		t.Errorf("require_mfa route with a refreshed MFA token: %d %s", r.status, r.body)
	}
	ua := newUserAgent(t, http.DefaultTransport)
	c, verifier := ua.authorizationCode(&notes.conf, "linus", password, resource)
	weak, err := notes.conf.Exchange(context.Background(), c, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	r := gwGet(t, gw+"/pay/x", bearer(weak.AccessToken))
	if wa := r.header.Get("WWW-Authenticate"); r.status != http.StatusUnauthorized ||
		!strings.HasPrefix(wa, "Bearer ") || !strings.Contains(wa, `error="insufficient_user_authentication"`) {
		t.Errorf("require_mfa route with a password-only token: %d %q %s", r.status, wa, r.body)
	}

	// The other account pages, signed in.
	b.open(issuer + "/account/providers")
	b.waitPath("/account/providers")
	b.check("/account/providers")

	// A recovery code signs in once.
	for i, want := range []bool{true, false} {
		b.clearCookies()
		a = bank.start(resource)
		b.open(a.URL)
		b.signInWithPassword("grace", password)
		b.waitFor("the second step", `!!document.querySelector('input[name="code"]') && !!document.querySelector('input[name="pending"]')`)
		if i == 0 {
			b.check("the second step")
		}
		b.do("recovery code", chromedp.SendKeys(`input[name="code"]`, recovery[3]), chromedp.Submit(`input[name="code"]`))
		if want {
			_, claims = bank.finish(a, b.waitCallback(bank))
			wantAMR(t, "recovery code", claims, auth.AMRPassword, auth.AMROTP, auth.AMRMFA)
			continue
		}
		b.waitFor("the refusal", `!!document.querySelector('[role="alert"]') && !!document.querySelector('input[name="code"]')`)
		b.check("the second step with an error")
	}

	// Step-up: signed in with the password alone, an application asking
	// acr_values for MFA leads a user without a factor to the set-up, and
	// gets pwd+otp+mfa after it.
	b.clearCookies()
	a = notes.start(resource)
	b.open(a.URL)
	b.signInWithPassword("linus", password)
	if _, claims = notes.finish(a, b.consentIfAsked(notes)); claims.ACR != auth.ACRPassword || auth.HasMFA(claims.AMR) {
		t.Errorf("password alone: amr %v acr %q", claims.AMR, claims.ACR)
	}
	a = notes.start(resource, oauth2.SetAuthURLParam("acr_values", auth.ACRMFA))
	b.open(a.URL)
	b.waitPath("/account/totp")
	secret = b.eval(`document.querySelector("[data-totp-secret]").getAttribute("data-totp-secret")`)
	if code, err = totp.GenerateCode(secret, n.clock.Now()); err != nil {
		t.Fatal(err)
	}
	b.do("confirm the app", chromedp.SendKeys(`input[name="code"]`, code), chromedp.Submit(`input[name="code"]`))
	b.waitFor("the recovery codes", `document.querySelectorAll("[data-recovery-code]").length === 10`)
	b.do("continue", chromedp.Click(`a[data-continue]`))
	_, claims = notes.finish(a, b.consentIfAsked(notes))
	if want := []string{auth.AMRMFA, auth.AMROTP, auth.AMRPassword}; !slices.Equal(claims.AMR, want) || claims.ACR != auth.ACRMFA {
		t.Errorf("after the step-up: amr %v acr %q", claims.AMR, claims.ACR)
	}

	// The reset link's page.
	var link struct {
		URL string `json:"url"`
	}
	n.cliJSON(&link, "users", "reset-link", linus.ID)
	b.clearCookies()
	b.open(link.URL)
	b.waitFor("the reset page", `!!document.querySelector('input[type="password"]')`)
	b.check("/account/reset")
}
