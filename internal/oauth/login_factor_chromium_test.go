package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestChromiumPasswordAndTOTP signs in with a password and a TOTP code
// (computed by github.com/pquerna/otp) in a real headless Chromium, with
// the keyboard only, under the pages' real CSP: a wrong code first, then
// the right one; axe-core finds no serious or critical violation on the
// second step's page, with or without the error; and the code the app
// receives yields tokens whose amr and acr say two factors.
func TestChromiumPasswordAndTOTP(t *testing.T) {
	bctx := newChromium(t)
	ts := newMFAServer(t, func(c *Config) { c.Passkeys = nil })
	var mu sync.Mutex
	var got url.Values
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" {
			http.NotFound(w, r)
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
	alice := ts.mustUser("alice")
	key := ts.totp.enrol(alice.ID)

	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + PathAuthorize, TokenURL: ts.URL + PathToken, AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("chromium-state", oauth2.S256ChallengeOption(verifier))

	axe := testenv.Axe(t)
	checkAxe := func(name string) {
		t.Helper()
		checkPageInBrowser(t, bctx, name)
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](axe+"\n;undefined")); err != nil {
			t.Fatalf("%s: load axe-core: %v", name, err)
		}
		violations, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](testenv.AxeRun, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: axe-core: %v", name, err)
		}
		for _, v := range violations {
			t.Errorf("%s page: %s", name, v)
		}
	}

	err := chromedp.Do(bctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible("#username"),
		chromedp.KeyEvent("alice"),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(testPassword+kb.Enter),
		chromedp.WaitVisible("#code"),
	)
	if err != nil {
		t.Fatalf("browser: password: %v", err)
	}
	focused, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.activeElement.id`))
	if err != nil || focused != "code" {
		t.Errorf("focus on the second step is on %q (%v), want the code field", focused, err)
	}
	checkAxe("second step")
	err = chromedp.Do(bctx,
		chromedp.KeyEvent("abcdef"+kb.Enter),
		chromedp.WaitVisible("#factor-error"),
	)
	if err != nil {
		t.Fatalf("browser: wrong code: %v", err)
	}
	checkAxe("second step with an error")
	code := totpCode(t, key, ts.Clock.Now())
	err = chromedp.Do(bctx,
		chromedp.Focus("#code"),
		chromedp.KeyEvent(kb.End),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("code").value = ""`),
		chromedp.KeyEvent(code+kb.Enter),
		chromedp.WaitVisible(`button[value="allow"]`),
		chromedp.Focus(`button[value="allow"]`),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible("#done"),
	)
	if err != nil {
		t.Fatalf("browser: code and consent: %v", err)
	}
	mu.Lock()
	q := got
	mu.Unlock()
	if q.Get("state") != "chromium-state" || !strings.HasPrefix(q.Get("code"), PrefixAuthCode) {
		t.Fatalf("the app received %v", q)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	idt, _ := tok.Extra("id_token").(string)
	for name, cl := range map[string]map[string]any{"ID": jwtClaims(t, idt), "access": jwtClaims(t, tok.AccessToken)} {
		if cl["acr"] != auth.ACRMFA || !slices.Equal(amrOf(cl), []string{"mfa", "otp", "pwd"}) {
			t.Errorf("%s token: acr %v amr %v", name, cl["acr"], cl["amr"])
		}
	}
}
