package oauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestChromiumFormPost runs response_mode=form_post in a real headless
// Chromium: after the consent, the page that carries the code submits
// itself to the client under its strict CSP (its one inline script is
// allowed by hash), with no click; the client receives code, state and
// iss in a POST body, never in the URL.
func TestChromiumFormPost(t *testing.T) {
	opts := testenv.Chromium(t)
	ts := newTestServer(t, insecureCookies)

	var mu sync.Mutex
	var got url.Values
	var gotQuery string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		r.ParseForm()
		mu.Lock()
		got, gotQuery = r.PostForm, r.URL.RawQuery
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!DOCTYPE html><html lang="en"><title>app</title><p id="done">back in the app</p></html>`))
	}))
	t.Cleanup(app.Close)
	redirect := app.URL + "/cb"
	c, secret := ts.mustClient(client.Input{RedirectURIs: []string{redirect}, Scopes: []string{"openid"}})
	ts.mustUser("alice")
	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + PathAuthorize, TokenURL: ts.URL + PathToken, AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("fp-state", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("response_mode", "form_post"))

	ctx, bctx := chromiumTab(t, opts)
	err := chromedp.Do(bctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible("#username"),
		chromedp.SendKeys("#username", "alice"),
		chromedp.SendKeys("#password", testPassword+kb.Enter),
		chromedp.WaitVisible(`button[value="allow"]`),
		chromedp.Click(`button[value="allow"]`),
		chromedp.WaitVisible("#done"),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	mu.Lock()
	q, rawQuery := got, gotQuery
	mu.Unlock()
	if rawQuery != "" {
		t.Fatalf("the response went into the URL: %q", rawQuery)
	}
	if q.Get("state") != "fp-state" || q.Get("iss") != ts.URL || !strings.HasPrefix(q.Get("code"), PrefixAuthCode) {
		t.Fatalf("the app received %v", q)
	}
	if _, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
}
