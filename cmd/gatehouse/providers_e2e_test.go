package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

var providerLink = regexp.MustCompile(`<a href="([^"]*/oauth2/providers/[^"]*)">`)

// federatedNode starts an initialised node on plain HTTP (Dev: cookies
// without Secure, so the test's cookie jar sends them).
func federatedNode(t *testing.T) *node {
	t.Helper()
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Dev = true
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	return startInitialised(t, cfg, clk, &testenv.SyncBuffer{})
}

// TestProvidersSignInThroughAnotherGatehouse signs a user in to one
// Gatehouse through a second, real Gatehouse acting as the upstream
// OpenID provider: the provider is configured with the CLI, the login
// page links to it, the upstream's pages sign the user in, and the
// downstream creates the account just in time and finishes the client's
// authorization request with a code.
func TestProvidersSignInThroughAnotherGatehouse(t *testing.T) {
	t.Parallel()
	up, down := federatedNode(t), federatedNode(t)
	redirect := down.main.URL() + "/oauth2/providers/upstream/callback"

	const password = "a long and unguessable passphrase"
	var ada struct {
		ID string `json:"id"`
	}
	up.cliStdin(password+"\n", &ada, "users", "create", "--username", "ada", "--email", "ada@example.test",
		"--email-verified", "--name", "Ada Lovelace", "--password-stdin")
	var upClient struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	up.cliJSON(&upClient, "clients", "create", "--name", "Downstream Gatehouse", "--redirect-uri", redirect,
		"--grant-types", "authorization_code", "--scopes", "openid profile email")

	var prov struct {
		Name        string `json:"name"`
		RedirectURI string `json:"redirect_uri"`
		SecretSet   bool   `json:"client_secret_set"`
	}
	down.cliStdin(upClient.ClientSecret+"\n", &prov, "providers", "create", "--name", "upstream",
		"--issuer", up.main.URL(), "--client-id", upClient.ClientID, "--client-secret-stdin", "--display-name", "Upstream")
	if prov.RedirectURI != redirect || !prov.SecretSet {
		t.Fatalf("providers create printed %+v; want redirect_uri %s and a secret", prov, redirect)
	}
	if out := down.cli("providers", "list"); !strings.Contains(out, "upstream") {
		t.Fatalf("providers list:\n%s", out)
	}

	const callback = "http://127.0.0.1:9999/callback"
	var app struct {
		ClientID string `json:"client_id"`
	}
	down.cliJSON(&app, "clients", "create", "--name", "App", "--redirect-uri", callback,
		"--grant-types", "authorization_code", "--scopes", "openid profile")

	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	authz := down.main.URL() + "/oauth2/authorize?" + url.Values{
		"client_id": {app.ClientID}, "redirect_uri": {callback}, "response_type": {"code"}, "scope": {"openid profile"},
		"state": {"app-state"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode()
	ua := newUserAgent(t, nil)
	login := ua.follow(authz, callback)
	m := providerLink.FindStringSubmatch(login.body)
	if login.status != http.StatusOK || m == nil || !strings.Contains(login.body, "Upstream") {
		t.Fatalf("login page (status %d) offers no provider:\n%s", login.status, login.body)
	}
	start, _ := login.url.Parse(html.UnescapeString(m[1]))
	if !strings.HasPrefix(start.Path, "/oauth2/providers/upstream") {
		t.Fatalf("provider link %s", start)
	}
	// Through the upstream's login and consent pages.
	upLogin := ua.follow(start.String(), callback)
	if upLogin.status != http.StatusOK || !strings.HasPrefix(upLogin.url.String(), up.main.URL()) {
		t.Fatalf("expected the upstream's login page, got %d at %s:\n%s", upLogin.status, upLogin.url, upLogin.body)
	}
	r := ua.submit(upLogin, url.Values{"username": {"ada"}, "password": {password}}, callback)
	for i := 0; i < 3 && r.status == http.StatusOK && strings.Contains(r.body, `name="decision"`); i++ {
		r = ua.submit(r, url.Values{"decision": {"allow"}}, callback)
	}
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, callback) {
		t.Fatalf("the flow ended with %d at %s (Location %q):\n%s", r.status, r.url, loc, r.body)
	}
	got, _ := url.Parse(loc)
	if got.Query().Get("code") == "" || got.Query().Get("state") != "app-state" {
		t.Fatalf("callback %s", loc)
	}
	// The account was created just in time, from the upstream's claims.
	var users struct {
		Items []struct {
			ID       string `json:"id"`
			Username string `json:"username"`
			Email    string `json:"email"`
		} `json:"items"`
	}
	down.cliJSON(&users, "users", "list")
	found := false
	for _, u := range users.Items {
		found = found || (u.Username == "ada" && u.Email == "ada@example.test")
	}
	if !found {
		t.Fatalf("no user ada on the downstream: %+v", users.Items)
	}
	if out := down.cli("audit", "--type", "user.provider_linked"); !strings.Contains(out, "user.provider_linked") {
		t.Fatalf("no link audited:\n%s", out)
	}
	// The secret is never shown again, nor kept in clear in the database
	// or the logs.
	shown := down.cli("providers", "get", "upstream", "--json")
	if strings.Contains(shown, upClient.ClientSecret) || !strings.Contains(shown, `"client_secret_set": true`) {
		t.Fatalf("providers get:\n%s", shown)
	}
	for _, f := range []string{"gatehouse.db", "gatehouse.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(down.main.Config.DataDir, f)); err == nil && bytes.Contains(b, []byte(upClient.ClientSecret)) {
			t.Fatalf("%s holds the client secret in clear", f)
		}
	}
	if strings.Contains(down.logs.String(), upClient.ClientSecret) {
		t.Fatal("the logs hold the client secret")
	}
	down.cli("providers", "delete", "upstream")
	if out := down.cli("providers", "list"); strings.Contains(out, "upstream") {
		t.Fatalf("deleted provider still listed:\n%s", out)
	}
}

// TestProvidersCodeInjectionWithARealUpstream is the code injection
// attack against the real pair: an attacker signs in at the upstream in
// their own flow, keeps the code meant for the downstream's callback, and
// has it presented in the victim's browser (with the victim's flow cookie
// and state). The code was issued for the attacker's PKCE challenge, so
// the upstream refuses the exchange, and the victim is signed in to no
// account. The attacker's own callback, without the victim's cookie,
// fails on state.
func TestProvidersCodeInjectionWithARealUpstream(t *testing.T) {
	t.Parallel()
	up, down := federatedNode(t), federatedNode(t)
	redirect := down.main.URL() + "/oauth2/providers/upstream/callback"
	const password = "a long and unguessable passphrase"
	var mallory struct {
		ID string `json:"id"`
	}
	up.cliStdin(password+"\n", &mallory, "users", "create", "--username", "mallory", "--password-stdin")
	var upClient struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	up.cliJSON(&upClient, "clients", "create", "--name", "Downstream", "--redirect-uri", redirect,
		"--grant-types", "authorization_code", "--scopes", "openid profile email")
	var prov struct{}
	down.cliStdin(upClient.ClientSecret+"\n", &prov, "providers", "create", "--name", "upstream",
		"--issuer", up.main.URL(), "--client-id", upClient.ClientID, "--client-secret-stdin")
	const callback = "http://127.0.0.1:9999/callback"
	var app struct {
		ClientID string `json:"client_id"`
	}
	down.cliJSON(&app, "clients", "create", "--name", "App", "--redirect-uri", callback,
		"--grant-types", "authorization_code", "--scopes", "openid")
	sum := sha256.Sum256([]byte(strings.Repeat("v", 50)))
	start := down.main.URL() + "/oauth2/providers/upstream?" + url.Values{
		"client_id": {app.ClientID}, "redirect_uri": {callback}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode()

	// The attacker's flow, stopped at the redirect to the downstream.
	attacker := newUserAgent(t, nil)
	upLogin := attacker.follow(start, redirect)
	r := attacker.submit(upLogin, url.Values{"username": {"mallory"}, "password": {password}}, redirect)
	for i := 0; i < 3 && r.status == http.StatusOK && strings.Contains(r.body, `name="decision"`); i++ {
		r = attacker.submit(r, url.Values{"decision": {"allow"}}, redirect)
	}
	stolen, err := url.Parse(r.header.Get("Location"))
	if err != nil || stolen.Query().Get("code") == "" {
		t.Fatalf("the attacker's flow did not end at the callback: %d %q", r.status, r.header.Get("Location"))
	}

	// The victim's flow, started at the downstream (flow cookie set),
	// receives the attacker's code with the victim's own state.
	victim := newUserAgent(t, nil)
	toUpstream := victim.do(http.MethodGet, start, nil)
	victimState := func() string {
		u, _ := url.Parse(toUpstream.header.Get("Location"))
		return u.Query().Get("state")
	}()
	if victimState == "" {
		t.Fatalf("the victim's flow did not go to the upstream: %d", toUpstream.status)
	}
	injected := victim.do(http.MethodGet, redirect+"?"+url.Values{
		"code": {stolen.Query().Get("code")}, "state": {victimState}, "iss": {up.main.URL()},
	}.Encode(), nil)
	if injected.status != http.StatusForbidden {
		t.Fatalf("the injected code got %d:\n%s", injected.status, injected.body)
	}
	// The attacker replaying their own callback elsewhere has no flow.
	if replay := newUserAgent(t, nil).do(http.MethodGet, stolen.String(), nil); replay.status != http.StatusForbidden {
		t.Fatalf("a callback without its flow got %d", replay.status)
	}
	var users struct {
		Items []struct {
			Username string `json:"username"`
		} `json:"items"`
	}
	down.cliJSON(&users, "users", "list")
	for _, u := range users.Items {
		if strings.HasPrefix(u.Username, "mallory") {
			t.Fatalf("an account was made for the attacker's identity: %+v", users.Items)
		}
	}
	if out := down.cli("audit", "--type", "user.provider_failed"); !strings.Contains(out, "code_exchange_failed") || !strings.Contains(out, "no_pending_sign_in") {
		t.Fatalf("the refusals were not audited:\n%s", out)
	}
}

// TestProvidersAdminAPIUpdateAndDisable changes a provider through PATCH
// /admin/v1/providers/{name}: a disabled provider is neither offered nor
// startable, and a bad change is refused with a problem.
func TestProvidersAdminAPIUpdateAndDisable(t *testing.T) {
	t.Parallel()
	n := federatedNode(t)
	var prov struct{}
	n.cliStdin("s3cret\n", &prov, "providers", "create", "--name", "acme", "--issuer", "https://idp.example",
		"--client-id", "c1", "--client-secret-stdin")
	patch := func(body string) (int, string) {
		req, err := http.NewRequest(http.MethodPatch, n.main.URL()+"/admin/v1/providers/acme", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+n.env["GATEHOUSE_ADMIN_KEY"])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := patch(`{"issuer": "http://idp.example"}`); code != http.StatusBadRequest || !strings.Contains(body, "https") {
		t.Fatalf("bad PATCH: %d %s", code, body)
	}
	if code, body := patch(`{"enabled": false, "display_name": "Acme"}`); code != http.StatusOK ||
		!strings.Contains(body, `"enabled":false`) || !strings.Contains(body, `"client_secret_set":true`) {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	var app struct {
		ClientID string `json:"client_id"`
	}
	n.cliJSON(&app, "clients", "create", "--name", "App", "--redirect-uri", "http://127.0.0.1:9999/cb",
		"--grant-types", "authorization_code", "--scopes", "openid")
	sum := sha256.Sum256([]byte(strings.Repeat("v", 50)))
	q := url.Values{"client_id": {app.ClientID}, "redirect_uri": {"http://127.0.0.1:9999/cb"}, "response_type": {"code"},
		"scope": {"openid"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}.Encode()
	if code, body := n.get("/oauth2/providers/acme?" + q); code != http.StatusNotFound {
		t.Fatalf("a disabled provider: %d\n%s", code, body)
	}
	if _, body := n.get("/oauth2/authorize?" + q); strings.Contains(body, "/oauth2/providers/") {
		t.Fatal("the login page offers a disabled provider")
	}
}
