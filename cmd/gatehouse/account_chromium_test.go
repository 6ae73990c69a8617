package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestChromiumAccountPages signs in to /account in headless Chromium
// through the real login page, runs axe-core on each account page of the
// account part (light and dark), changes the password with the keyboard
// only, and signs out.
func TestChromiumAccountPages(t *testing.T) {
	opts := testenv.Chromium(t)
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Dev = true // plain HTTP on loopback: cookies without Secure
	n := startInitialised(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	issuer := n.main.URL()
	const password, newPassword = "a long and unguessable passphrase", "another long passphrase entirely"
	var user struct {
		ID string `json:"id"`
	}
	n.cliStdin(password+"\n", &user, "users", "create", "--username", "ada", "--email", "ada@example.test", "--password-stdin")
	var client struct {
		ClientID string `json:"client_id"`
	}
	n.cliJSON(&client, "clients", "create", "--name", "Photo Printer", "--redirect-uri", "https://photos.example/cb",
		"--scopes", "openid profile")
	ctx := context.Background()
	now := time.Now()
	if err := n.main.Store.SaveConsent(ctx, &auth.Consent{UserID: user.ID, ClientID: client.ClientID, Scopes: []string{"openid", "profile"}, GrantedAt: now}); err != nil {
		t.Fatal(err)
	}
	other := &auth.Session{Hash: make([]byte, 32), UserID: user.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile Safari/604.1", Address: "198.51.100.4"}
	other.Hash[0] = 1
	if err := n.main.Store.CreateSession(ctx, other); err != nil {
		t.Fatal(err)
	}

	tctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(tctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	path := func() string {
		t.Helper()
		p, err := chromedp.Run(bctx, chromedp.Evaluate[string](`location.pathname`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	do("open /account", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible("#username"))
	do("sign in", chromedp.SendKeys("#username", "ada"), chromedp.SendKeys("#password", password+kb.Enter),
		chromedp.WaitVisible(`form[action="/account/sign-out"]`))
	if p := path(); p != "/account" {
		t.Fatalf("signing in led to %s, want /account", p)
	}

	axe := testenv.Axe(t)
	for _, p := range []string{"/account", "/account/password", "/account/sessions", "/account/applications"} {
		do("open "+p, chromedp.Navigate(issuer+p), chromedp.WaitVisible("h1"))
		if got := path(); got != p {
			t.Fatalf("%s led to %s", p, got)
		}
		do("load axe-core", chromedp.Evaluate[chromedp.Void](axe+"\n;undefined"))
		for _, scheme := range []string{"light", "dark"} {
			do("color scheme", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
					Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
				})
				return err
			}))
			violations, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](testenv.AxeRun, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("%s: axe-core: %v", p, err)
			}
			for _, v := range violations {
				t.Errorf("%s, %s: %s", p, scheme, v)
			}
		}
	}

	// The password, with the keyboard only: Tab from field to field,
	// Enter to submit.
	do("open the password page", chromedp.Navigate(issuer+"/account/password"), chromedp.WaitVisible("#current_password"))
	do("change the password", chromedp.Focus("#current_password"),
		chromedp.KeyEvent(password), chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(newPassword), chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(newPassword+kb.Enter), chromedp.WaitVisible(`p.notice`))
	if p := path(); p != "/account/password" {
		t.Fatalf("after the change: %s", p)
	}
	if _, err := n.main.Store.GetSession(ctx, other.Hash, time.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the other session survived the change: %v", err)
	}

	// Signing out from the header.
	do("sign out", chromedp.Click(`form[action="/account/sign-out"] button`), chromedp.WaitVisible("h1"))
	do("open /account again", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible("#username"))
}
