package oauth

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestChromiumDeviceApproval approves a device in a real headless
// Chromium, keyboard only, under the pages' real CSP: the pre-filled code
// is confirmed, the user signs in and allows, and the device collects its
// tokens.
func TestChromiumDeviceApproval(t *testing.T) {
	bctx := newChromium(t)
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.deviceClient(true)
	ts.mustUser("alice")
	da := ts.deviceAuth(c, "openid offline_access")

	err := chromedp.Do(bctx,
		chromedp.Navigate(da["verification_uri_complete"].(string)),
		chromedp.WaitVisible("#user_code"),
	)
	if err != nil {
		t.Fatalf("browser: open the device page: %v", err)
	}
	checkPageInBrowser(t, bctx, "device")
	shown, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.activeElement.id + "=" + document.activeElement.value`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "user_code=" + da["user_code"].(string); shown != want {
		t.Fatalf("focused field %q, want %q", shown, want)
	}
	err = chromedp.Do(bctx,
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible("#username"),
		chromedp.KeyEvent("alice"),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(testPassword+kb.Enter),
		chromedp.WaitVisible(`button[value="allow"]`),
	)
	if err != nil {
		t.Fatalf("browser: code and sign-in: %v", err)
	}
	checkPageInBrowser(t, bctx, "device consent")
	err = chromedp.Do(bctx,
		chromedp.Focus(`button[value="allow"]`),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`p[role="status"]`),
	)
	if err != nil {
		t.Fatalf("browser: allow: %v", err)
	}
	checkPageInBrowser(t, bctx, "device result")
	tok := decode(t, ts.poll(c, da["device_code"].(string)), http.StatusOK)
	if tok["access_token"] == nil || tok["refresh_token"] == nil {
		t.Fatalf("token response %v", tok)
	}
}
