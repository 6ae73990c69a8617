package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestChromiumLoginAndConsent signs in and consents in a real headless
// Chromium, with the keyboard only, under the pages' real CSP: it proves
// the forms work, that form-action lets the browser follow the redirect
// to the client's origin, and that the code it brings back is redeemable.
func TestChromiumLoginAndConsent(t *testing.T) {
	bctx := newChromium(t)
	ts := newTestServer(t, insecureCookies)

	// The client application: a page on another origin that shows what
	// it received.
	var mu sync.Mutex
	var got url.Values
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" {
			http.NotFound(w, r) // the browser also asks for /favicon.ico
			return
		}
		mu.Lock()
		got = r.URL.Query()
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!DOCTYPE html><html lang="en"><title>app</title><p id="done">back in the app</p></html>`))
	}))
	t.Cleanup(app.Close)
	redirect := app.URL + "/cb"
	c, secret := ts.mustClient(client.Input{RedirectURIs: []string{redirect}, Scopes: []string{"openid", "profile"}})
	ts.mustUser("alice")

	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + PathAuthorize, TokenURL: ts.URL + PathToken, AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("chromium-state", oauth2.S256ChallengeOption(verifier))

	err := chromedp.Do(bctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible("#username"),
	)
	if err != nil {
		t.Fatalf("browser: open the login page: %v", err)
	}
	// autofocus puts the cursor in the username field.
	focused, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.activeElement.id`))
	if err != nil {
		t.Fatal(err)
	}
	checkPageInBrowser(t, bctx, "login")
	err = chromedp.Do(bctx,
		chromedp.KeyEvent("alice"),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(testPassword+kb.Enter),
		chromedp.WaitVisible(`button[value="allow"]`),
	)
	if err != nil {
		t.Fatalf("browser: sign in: %v", err)
	}
	checkPageInBrowser(t, bctx, "consent")
	err = chromedp.Do(bctx,
		chromedp.Focus(`button[value="allow"]`),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible("#done"),
	)
	if err != nil {
		t.Fatalf("browser: consent: %v", err)
	}
	if focused != "username" {
		t.Errorf("focus starts on %q, want the username field", focused)
	}
	mu.Lock()
	q := got
	mu.Unlock()
	if q.Get("state") != "chromium-state" || q.Get("iss") != ts.URL || !strings.HasPrefix(q.Get("code"), PrefixAuthCode) {
		t.Fatalf("the app received %v", q)
	}
	if _, err := conf.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
}

// newChromium starts a headless Chromium for the test (skipped where
// there is none, see testenv.Chromium), stopped when it ends, within 90
// seconds.
func newChromium(t *testing.T) context.Context {
	opts := testenv.Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	return bctx
}

// pageProblems lists, from the page as the browser built it, what a screen
// reader or the CSP would trip on: a document without a language or a
// heading, a control without an accessible name, a stylesheet the policy
// blocked.
const pageProblems = `(() => {
	const problems = [];
	if (!document.documentElement.lang) problems.push("no lang attribute");
	if (!document.querySelector("h1")) problems.push("no h1");
	for (const el of document.querySelectorAll("input:not([type=hidden]), button, select, textarea")) {
		const label = el.labels && el.labels.length ? el.labels[0].textContent : "";
		const name = (label || el.getAttribute("aria-label") || el.textContent || "").trim();
		if (!name) problems.push("a " + el.tagName.toLowerCase() + " without an accessible name");
	}
	for (const l of document.querySelectorAll("link[rel=stylesheet]")) {
		if (!l.sheet) problems.push("stylesheet not loaded: " + l.href);
	}
	if (!document.querySelector("link[rel=stylesheet]")) problems.push("no stylesheet");
	return problems.join("; ");
})()`

func checkPageInBrowser(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[string](pageProblems))
	if err != nil {
		t.Fatalf("%s page: %v", name, err)
	}
	if problems != "" {
		t.Errorf("%s page: %s", name, problems)
	}
}
