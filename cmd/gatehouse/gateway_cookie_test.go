package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// The attack (issue 9, finding 1): with the authorization server and the
// gateway on one host name (the README's layout, two ports), a signed-in
// browser's request through the gateway carried __Host-gatehouse_session
// to the upstream, which replayed it at /oauth2/authorize with a public
// client and got a consent page "Signed in as ...", a code and a token.
//
// Here a real Chromium signs in over TLS, then visits a service behind the
// gateway on the same host name: the service must receive the browser's
// other cookies but none of Gatehouse's, must not be able to plant one, and
// what it received must not sign anybody in at /oauth2/authorize.
func TestSignedInBrowserSessionNeverReachesAnUpstream(t *testing.T) {
	opts := testenv.Chromium(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	cfg := testConfig(t, filepath.Join(dir, "data"), "")
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	hc := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}

	n := startInitialised(t, cfg, testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond)), &testenv.SyncBuffer{})
	n.env["GATEHOUSE_CA_FILE"] = certFile
	issuer, gw := n.main.URL(), n.main.GatewayURL()

	// The service behind the gateway: it records the Cookie header of each
	// request, sets a cookie of its own, and tries to plant a session.
	var mu sync.Mutex
	var received []string
	service := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received = append(received, r.Header.Get("Cookie"))
		mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "app_pref", Value: "compact", Path: "/", Secure: true})
		w.Header().Add("Set-Cookie", auth.CookieSession+"=gate_ss_planted; Path=/; Secure; HttpOnly")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!DOCTYPE html><html lang="en"><title>service</title><p id="service">service page</p></html>`)
	}))
	t.Cleanup(service.Close)
	n.cli("routes", "create", "--name", "app", "--path", "/app", "--upstream", service.URL, "--policy", "public")

	// The client application the user signs in to.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!DOCTYPE html><html lang="en"><title>app</title><p id="done">back in the app</p></html>`)
	}))
	t.Cleanup(app.Close)
	var client struct {
		ClientID string `json:"client_id"`
	}
	n.cliJSON(&client, "clients", "create", "--name", "Public app", "--redirect-uri", app.URL+"/cb",
		"--grant-types", "authorization_code", "--scopes", "openid", "--public")
	const password = "a long and unguessable passphrase"
	var user struct {
		ID string `json:"id"`
	}
	n.cliStdin(password+"\n", &user, "users", "create", "--username", "ada", "--password-stdin")
	conf := &oauth2.Config{ClientID: client.ClientID, RedirectURL: app.URL + "/cb", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/authorize"}}
	authURL := func() string {
		return conf.AuthCodeURL(oauth2.GenerateVerifier(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(opts, chromedp.Flag("ignore-certificate-errors", true))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx,
		chromedp.Navigate(authURL()),
		chromedp.WaitVisible("#username"),
		chromedp.SendKeys("#username", "ada"),
		chromedp.SendKeys("#password", password+kb.Enter),
		chromedp.WaitVisible(`button[value="allow"]`),
		chromedp.Click(`button[value="allow"]`),
		chromedp.WaitVisible("#done"),
	); err != nil {
		t.Fatalf("browser: sign in: %v", err)
	}

	// The browser holds the session, and would send it to the gateway's
	// port: cookies are not separated by port.
	cookies := func(u string) []*network.Cookie {
		t.Helper()
		res, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Cookies
	}
	sent := cookies(gw + "/app/")
	session := ""
	for _, c := range sent {
		if c.Name == auth.CookieSession {
			session = c.Value
		}
	}
	if !strings.HasPrefix(session, "gate_ss_") {
		t.Fatalf("the browser holds no session for the gateway's host: %v", sent)
	}

	// Twice through the gateway: the second visit carries the service's
	// own cookie.
	for _, page := range []string{"/app/one", "/app/two"} {
		if err := chromedp.Do(bctx, chromedp.Navigate(gw+page), chromedp.WaitVisible("#service")); err != nil {
			t.Fatalf("browser: %s: %v", page, err)
		}
	}
	mu.Lock()
	got := append([]string(nil), received...)
	mu.Unlock()
	if len(got) < 2 || !strings.Contains(got[len(got)-1], "app_pref=compact") {
		t.Fatalf("the service did not get its own cookie back: %q", got)
	}
	for _, c := range got {
		if strings.Contains(strings.ToLower(c), "gatehouse_") || strings.Contains(c, session) {
			t.Fatalf("a Gatehouse cookie reached the service: %q", c)
		}
	}

	// The attacker replays what the service received at /oauth2/authorize:
	// sent to sign in, not shown a consent page for the victim.
	req, _ := http.NewRequest(http.MethodGet, authURL(), nil)
	req.Header.Set("Cookie", got[len(got)-1])
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/oauth2/login" || strings.Contains(string(body), "Signed in as") {
		t.Fatalf("the replayed cookies at authorize: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}

	// The service could not plant a session: the browser still has its own
	// (the authorization server knows it: no login page), and no other.
	for _, c := range cookies(issuer + "/") {
		if c.Name == auth.CookieSession && c.Value != session {
			t.Fatalf("the service replaced the browser's session cookie with %q", c.Value)
		}
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(authURL()), chromedp.WaitReady("body")); err != nil {
		t.Fatal(err)
	}
	html, err := chromedp.Run(bctx, chromedp.OuterHTML("html"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, `name="password"`) {
		t.Fatal("after visiting the service the browser is signed out: its session was replaced")
	}
}
