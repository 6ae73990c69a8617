package oauth

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// TestPasskeyFailuresThrottled: refused passkeys are throttled per account
// and per address like one-time codes (the one FactorLimiter): once the
// budget is spent, even the right passkey gets 429 with Retry-After, on
// the login page and as the second factor, until the window passes.
func TestPasskeyFailuresThrottled(t *testing.T) {
	t.Parallel()
	ts := newMFAServer(t)
	lim, err := account.NewFactorLimiter(account.FactorConfig{Failures: 2, Window: 10 * time.Minute, Now: ts.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts.passkeys.limiter = lim
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	alice := ts.mustUser("alice")
	ts.passkeys.register(alice.ID)
	authURL := ts.authorizeURL(authParams(c))

	b := newBrowser(t, ts.testServer)
	for i := range 2 {
		p := b.passkeyCeremony(b.loginPage(authURL), func(string) string { return passkeyCredential(alice.ID, "not-the-state", true) })
		if p.StatusCode != http.StatusUnauthorized {
			t.Fatalf("refused passkey %d: %d %s", i, p.StatusCode, p.body)
		}
	}
	p := b.passkeyCeremony(b.loginPage(authURL), func(s string) string { return passkeyCredential(alice.ID, s, true) })
	if p.StatusCode != http.StatusTooManyRequests || b.session() != nil || !strings.Contains(p.body, "Too many passkeys") {
		t.Fatalf("the right passkey while throttled: %d %s", p.StatusCode, p.body)
	}
	if ra, err := strconv.Atoi(p.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", p.Header.Get("Retry-After"))
	}
	// As the second factor after the password, the same budget holds.
	fp := b.login(authURL, "alice", testPassword)
	p = b.passkeyCeremony(fp, func(s string) string { return passkeyCredential(alice.ID, s, false) })
	if p.StatusCode != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
		t.Fatalf("second factor while throttled: %d %s", p.StatusCode, p.body)
	}
	// After the window, the right passkey signs in.
	ts.Clock.Add(11 * time.Minute)
	b2 := newBrowser(t, ts.testServer)
	p = b2.passkeyCeremony(b2.loginPage(authURL), func(s string) string { return passkeyCredential(alice.ID, s, true) })
	if p.StatusCode != http.StatusOK || b2.session() == nil {
		t.Fatalf("after the window: %d %s", p.StatusCode, p.body)
	}
}
