package selfservice

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestChromiumTOTPSetUp sets up an authenticator app in a real headless
// Chromium under the page's real CSP: the inline SVG QR code is drawn
// (with a size), the browser reports no CSP violation, and the keyboard
// alone confirms the code and reaches the recovery codes.
func TestChromiumTOTPSetUp(t *testing.T) {
	opts := testenv.Chromium(t)
	h, svc := totpHarness(t, 10)
	u := h.user("ada", "correct horse battery")
	_, sess := h.signIn(u)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)

	var mu sync.Mutex
	var violations []string
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("browser: start: %v", err)
	}
	if err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*log.EventEntryAdded); ok && strings.Contains(e.Entry.Text, "Content Security Policy") {
			mu.Lock()
			violations = append(violations, e.Entry.Text)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	cookie := network.SetCookieParams{Name: testCookie, Value: base64.RawURLEncoding.EncodeToString(sess.Hash), URL: h.http.URL, Path: "/"}
	if _, err := chromedp.Call(bctx, network.SetCookie, cookie); err != nil {
		t.Fatal(err)
	}

	if err := chromedp.Do(bctx, chromedp.Navigate(h.http.URL+totpPath), chromedp.WaitVisible("[data-totp-secret]")); err != nil {
		t.Fatalf("browser: open /account/totp: %v", err)
	}
	attr, err := chromedp.Run(bctx, chromedp.AttributeValue("[data-totp-secret]", "data-totp-secret"))
	if err != nil {
		t.Fatal(err)
	}
	secret := attr.Value
	qrWidth, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`document.querySelector("figure.qr svg").getBoundingClientRect().width`))
	if err != nil {
		t.Fatal(err)
	}
	if secret == "" || qrWidth < 100 {
		t.Fatalf("secret %q, QR code width %v", secret, qrWidth)
	}

	err = chromedp.Do(bctx,
		chromedp.Focus("#code"),
		chromedp.KeyEvent(appCode(t, h, secret)+kb.Enter),
		chromedp.WaitVisible("[data-recovery-code]"),
	)
	if err != nil {
		t.Fatalf("browser: confirm the code: %v", err)
	}
	codes, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("[data-recovery-code]").length`))
	if err != nil {
		t.Fatal(err)
	}
	if codes != 10 {
		t.Fatalf("%d recovery codes shown", codes)
	}
	if ok, _ := svc.Enrolled(context.Background(), u.ID); !ok {
		t.Fatal("not enrolled after the browser's confirmation")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(violations) > 0 {
		t.Fatalf("CSP violations: %v", violations)
	}
}
