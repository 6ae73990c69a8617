package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// cliStdin runs a gatehouse command in-process with stdin.
func (n *node) cliStdin(stdin string, v any, args ...string) {
	n.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newRootCommand(&stdout, &stderr, func(k string) string { return n.env[k] })
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append(args, "--json"))
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		n.t.Fatalf("gatehouse %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		n.t.Fatalf("gatehouse %s --json: %v\n%s", strings.Join(args, " "), err, stdout.String())
	}
}

// userAgent is a browser without JavaScript: a cookie jar, and redirects
// followed by hand so each step can be checked.
type userAgent struct {
	t          *testing.T
	c          *http.Client
	setCookies []string // every Set-Cookie header received
}

func newUserAgent(t *testing.T, tr http.RoundTripper) *userAgent {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &userAgent{t: t, c: &http.Client{
		Transport:     tr,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}}
}

type response struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func (ua *userAgent) do(method, u string, form url.Values) response {
	ua.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		ua.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// A browser sends Origin with every form POST.
		req.Header.Set("Origin", req.URL.Scheme+"://"+req.URL.Host)
	}
	resp, err := ua.c.Do(req)
	if err != nil {
		ua.t.Fatal(err)
	}
	defer resp.Body.Close()
	ua.setCookies = append(ua.setCookies, resp.Header.Values("Set-Cookie")...)
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b), url: req.URL}
}

// follow GETs u and follows redirects within the server; it stops at the
// first redirect whose target starts with stopAt (the client's callback).
func (ua *userAgent) follow(u, stopAt string) response {
	ua.t.Helper()
	for range 10 {
		r := ua.do(http.MethodGet, u, nil)
		if r.status != http.StatusFound && r.status != http.StatusSeeOther {
			return r
		}
		loc, err := r.url.Parse(r.header.Get("Location"))
		if err != nil {
			ua.t.Fatal(err)
		}
		if strings.HasPrefix(loc.String(), stopAt) {
			r.header.Set("Location", loc.String())
			return r
		}
		u = loc.String()
	}
	ua.t.Fatal("too many redirects")
	return response{}
}

var (
	formAction  = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
)

// submit fills the page's form with its hidden fields and values, posts it
// and follows redirects until stopAt.
func (ua *userAgent) submit(page response, values url.Values, stopAt string) response {
	ua.t.Helper()
	m := formAction.FindStringSubmatch(page.body)
	if m == nil {
		ua.t.Fatalf("no form on the page (status %d):\n%s", page.status, page.body)
	}
	action, err := page.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		ua.t.Fatal(err)
	}
	form := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(page.body, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	for k, v := range values {
		form[k] = v
	}
	r := ua.do(http.MethodPost, action.String(), form)
	if r.status == http.StatusSeeOther || r.status == http.StatusFound {
		loc, _ := r.url.Parse(r.header.Get("Location"))
		if strings.HasPrefix(loc.String(), stopAt) {
			r.header.Set("Location", loc.String())
			return r
		}
		return ua.follow(loc.String(), stopAt)
	}
	return r
}

// oauthLifecycle is what the README walks a newcomer through: register a
// client and a user with the CLI, sign in through the pages, get tokens,
// verify them offline against the JWKS, refresh, and revoke — on the real
// server, over TLS as in production, with independent clients (x/oauth2,
// go-oidc).
func oauthLifecycle(t *testing.T, cfg config.Config, dbFiles func() []string) {
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	// Real time: go-oidc and x/oauth2 read the wall clock.
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	logs := &testenv.SyncBuffer{}
	pre := &node{t: t, env: map[string]string{}}
	var initOut struct {
		AdminKey string `json:"admin_key"`
	}
	initArgs := []string{"init", "--data", cfg.DataDir}
	if cfg.DB != "" {
		initArgs = append(initArgs, "--db", cfg.DB)
	}
	pre.cliJSON(&initOut, initArgs...)
	n := startNode(t, cfg, clk, logs)
	n.env["GATEHOUSE_ADMIN_KEY"] = initOut.AdminKey
	n.env["GATEHOUSE_CA_FILE"] = certFile
	issuer := n.main.URL()
	ctx := context.WithValue(oidc.ClientContext(context.Background(), hc), oauth2.HTTPClient, hc)

	const callback = "http://127.0.0.1:9999/callback"
	const api = "https://api.example.test"
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	n.cliJSON(&client, "clients", "create", "--name", "Demo app", "--redirect-uri", callback,
		"--grant-types", "authorization_code,refresh_token", "--scopes", "openid offline_access profile email api:read",
		"--audience", api)
	if !strings.HasPrefix(client.ClientID, "cli_") || !strings.HasPrefix(client.ClientSecret, "gate_cs_") {
		t.Fatalf("clients create printed %+v", client)
	}
	const password = "a long and unguessable passphrase"
	var user struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	n.cliStdin(password+"\n", &user, "users", "create", "--username", "ada", "--email", "ada@example.test", "--email-verified", "--name", "Ada Lovelace", "--password-stdin")

	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	conf := oauth2.Config{
		ClientID:     client.ClientID,
		ClientSecret: client.ClientSecret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  callback,
		Scopes:       []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "profile", "email", "api:read"},
	}
	idVerifier := provider.Verifier(&oidc.Config{ClientID: client.ClientID, Now: clk.Now})
	ua := newUserAgent(t, tr)

	// authorize signs in and consents when asked, and returns the code.
	authorize := func(expectPages bool) (code, verifier, nonce string) {
		t.Helper()
		verifier, nonce, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		u := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce), oauth2.SetAuthURLParam("resource", api))
		r := ua.follow(u, callback)
		if expectPages {
			if r.status != http.StatusOK || !strings.Contains(r.body, `name="password"`) {
				t.Fatalf("expected the login page, got %d:\n%s", r.status, r.body)
			}
			r = ua.submit(r, url.Values{"username": {"ada"}, "password": {password}}, callback)
			wantSessionCookie(t, ua.setCookies)
			if r.status != http.StatusOK || !strings.Contains(r.body, `name="decision"`) {
				t.Fatalf("expected the consent page, got %d:\n%s", r.status, r.body)
			}
			r = ua.submit(r, url.Values{"decision": {"allow"}}, callback)
		}
		loc, err := url.Parse(r.header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), callback) {
			t.Fatalf("expected a redirect to the client, got %d %q:\n%s", r.status, r.header.Get("Location"), r.body)
		}
		q := loc.Query()
		if q.Get("state") != state || q.Get("iss") != issuer || q.Get("code") == "" || q.Get("error") != "" {
			t.Fatalf("callback query %v", q)
		}
		return q.Get("code"), verifier, nonce
	}

	code, verifier, nonce := authorize(true)
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := idVerifier.Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc rejects the ID token: %v", err)
	}
	if idt.Nonce != nonce || idt.Subject != user.ID {
		t.Fatalf("ID token nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}

	// Offline verification of the access token against the published JWKS,
	// with nothing of Gatehouse's code.
	keySet := oidc.NewRemoteKeySet(ctx, issuer+"/.well-known/jwks.json")
	payload, err := keySet.VerifySignature(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("access token against the JWKS: %v", err)
	}
	jws, err := jose.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || jws.Signatures[0].Protected.ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("access token header: %v %+v", err, jws)
	}
	var at struct {
		Iss, Sub, Scope, Jti string
		Aud                  any
		ClientID             string `json:"client_id"`
		Exp, Iat             int64
	}
	if err := json.Unmarshal(payload, &at); err != nil {
		t.Fatal(err)
	}
	if at.Iss != issuer || at.Sub != user.ID || at.Aud != api || at.ClientID != client.ClientID || at.Jti == "" ||
		at.Exp-at.Iat != int64((10*time.Minute).Seconds()) || !strings.Contains(at.Scope, "api:read") {
		t.Fatalf("access token claims %+v", at)
	}

	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != user.ID || info.Email != "ada@example.test" || !info.EmailVerified {
		t.Fatalf("userinfo: %v %+v", err, info)
	}

	// Refresh rotates the refresh token; the old one, presented again,
	// revokes the whole family.
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if !strings.HasPrefix(refreshed.RefreshToken, "gate_rt_") || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh returned refresh token %q", refreshed.RefreshToken)
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Fatal("a used refresh token was accepted")
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
		t.Fatal("after reuse, the family's current refresh token still works")
	}
	if active := introspect(t, hc, issuer, client.ClientID, client.ClientSecret, refreshed.AccessToken); active {
		t.Fatal("after reuse, the family's access token is still active")
	}

	// A second authorization: the session and the consent are remembered.
	// Its code, presented twice, fails and revokes what it gave.
	code, verifier, _ = authorize(false)
	replayed, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("second exchange: %v", err)
	}
	if !introspect(t, hc, issuer, client.ClientID, client.ClientSecret, replayed.AccessToken) {
		t.Fatal("a fresh access token is not active")
	}
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a code was redeemed twice")
	}
	if introspect(t, hc, issuer, client.ClientID, client.ClientSecret, replayed.AccessToken) {
		t.Fatal("the tokens of a replayed code are still active")
	}

	code, verifier, _ = authorize(false)
	tok2, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("third exchange: %v", err)
	}
	// RFC 7009: revoking the refresh token revokes the family's access token.
	form := url.Values{"token": {tok2.RefreshToken}, "token_type_hint": {"refresh_token"}}
	if status := postForm(t, hc, issuer+"/oauth2/revoke", client.ClientID, client.ClientSecret, form, nil); status != http.StatusOK {
		t.Fatalf("revoke = %d", status)
	}
	if introspect(t, hc, issuer, client.ClientID, client.ClientSecret, tok2.AccessToken) {
		t.Fatal("the access token is active after its refresh token was revoked")
	}
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok2)); err == nil {
		t.Fatal("userinfo accepts a revoked access token")
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); err == nil {
		t.Fatal("a revoked refresh token still refreshes")
	}

	// No secret in the logs or the database files.
	n.main.Close()
	secrets := []string{client.ClientSecret, password, tok.RefreshToken, refreshed.RefreshToken, tok2.RefreshToken, code, initOut.AdminKey}
	haystacks := map[string]string{"logs": logs.String()}
	for _, f := range dbFiles() {
		if b, err := os.ReadFile(f); err == nil {
			haystacks[f] = string(b)
		}
	}
	for name, h := range haystacks {
		for _, s := range secrets {
			if strings.Contains(h, s) {
				t.Errorf("%s holds a secret (%.12s...)", name, s)
			}
		}
	}
}

// wantSessionCookie checks the session cookie's attributes outside --dev.
func wantSessionCookie(t *testing.T, setCookies []string) {
	t.Helper()
	for _, c := range setCookies {
		if !strings.HasPrefix(c, "__Host-gatehouse_session=") {
			continue
		}
		for _, attr := range []string{"; HttpOnly", "; Secure", "; SameSite=Lax", "; Path=/"} {
			if !strings.Contains(c, attr) {
				t.Errorf("session cookie without %q", attr)
			}
		}
		if strings.Contains(strings.ToLower(c), "domain=") {
			t.Error("session cookie with a Domain")
		}
		return
	}
	t.Errorf("no __Host-gatehouse_session cookie was set; Set-Cookie headers: %d", len(setCookies))
}

func introspect(t *testing.T, hc *http.Client, issuer, id, secret, token string) bool {
	t.Helper()
	var out struct {
		Active bool `json:"active"`
	}
	if status := postForm(t, hc, issuer+"/oauth2/introspect", id, secret, url.Values{"token": {token}}, &out); status != http.StatusOK {
		t.Fatalf("introspect = %d", status)
	}
	return out.Active
}

func postForm(t *testing.T, hc *http.Client, u, id, secret string, form url.Values, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	return resp.StatusCode
}

func TestOAuthLifecycleSQLite(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	oauthLifecycle(t, cfg, func() []string {
		p := cfg.SQLitePath()
		return []string{p, p + "-wal", p + "-shm"}
	})
}

func TestOAuthLifecyclePostgres(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), pgDSN(t))
	oauthLifecycle(t, cfg, func() []string { return nil })
}
