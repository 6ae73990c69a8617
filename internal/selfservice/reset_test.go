package selfservice

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// lockedBuffer collects the server's logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// resetHarness is a harness whose account service makes reset links to
// its own /account/reset, with every log line kept.
func resetHarness(t *testing.T) (*harness, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	h := newHarness(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	key := make([]byte, 32)
	rand.Read(key)
	hasher, _ := secret.NewHasher(key)
	accounts, err := account.New(account.Config{Store: h.db, Sessions: h.db, Audit: h.db, Now: h.clock.Now,
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
		ResetLinks: account.ResetLinkConfig{Hasher: hasher, URL: h.http.URL + Path + "/reset", TTL: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	h.accounts = accounts
	h.srv.cfg.Accounts = accounts
	h.sessions.accounts = accounts
	return h, logs
}

// resetLink makes a link for u and returns its path and query.
func (h *harness) resetLink(u *auth.User) (pathQuery, token string) {
	h.t.Helper()
	l, err := h.accounts.CreateResetLink(context.Background(), "key_admin", u.ID, false)
	if err != nil {
		h.t.Fatal(err)
	}
	pu, _ := url.Parse(l.URL)
	return pu.RequestURI(), pu.Query().Get("token")
}

func TestResetPage(t *testing.T) {
	t.Parallel()
	h, logs := resetHarness(t)
	u := h.user("ann", "correct horse battery")
	signedIn, sess := h.signIn(u)
	link, token := h.resetLink(u)
	jar, _ := cookiejar.New(nil)
	anon := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// The link moves its token into a cookie for /account/reset and
	// redirects to the page without the query: the token leaves the
	// address bar and the history. Twice: the link keeps working.
	for range 2 {
		resp, _ := h.get(anon, link)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Path+"/reset" {
			t.Fatalf("GET %s: %d, Location %q; want 303 to %s", link, resp.StatusCode, resp.Header.Get("Location"), Path+"/reset")
		}
		var ck *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == resetCookie {
				ck = c
			}
		}
		if ck == nil || ck.Value != token || !ck.HttpOnly || ck.Path != Path+"/reset" || ck.SameSite != http.SameSiteLaxMode ||
			ck.MaxAge <= 0 || ck.MaxAge > int(resetCookieTTL/time.Second) {
			t.Fatalf("reset cookie %+v", ck)
		}
	}
	// GET shows the form from the cookie, twice: showing does not use the
	// link up.
	var page string
	for range 2 {
		resp, body := h.get(anon, Path+"/reset")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", link, resp.StatusCode, body)
		}
		for _, hdr := range [][2]string{{"Referrer-Policy", "no-referrer"}, {"Cache-Control", "no-store"}} {
			if got := resp.Header.Get(hdr[0]); got != hdr[1] {
				t.Errorf("%s: %q, want %q", hdr[0], got, hdr[1])
			}
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("CSP %q", resp.Header.Get("Content-Security-Policy"))
		}
		page = body
	}
	for _, want := range []string{`name="password"`, `name="confirm"`, `autocomplete="new-password"`, `minlength="8"`, "ann", `name="token" value="` + token + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %q", want)
		}
	}
	csrf := csrfOf(t, page, Path+"/reset")
	form := func(pw, confirm string) url.Values {
		return url.Values{"csrf_token": {csrf}, "token": {token}, "password": {pw}, "confirm": {confirm}}
	}

	t.Run("the two passwords must match", func(t *testing.T) {
		resp, body := h.post(anon, Path+"/reset", form("a new passphrase", "a new passphrasf"))
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "differ") {
			t.Fatalf("%d\n%s", resp.StatusCode, body)
		}
	})
	t.Run("the policy applies, with its message", func(t *testing.T) {
		resp, body := h.post(anon, Path+"/reset", form("password123", "password123"))
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "exposed in data breaches") {
			t.Fatalf("%d\n%s", resp.StatusCode, body)
		}
		resp, body = h.post(anon, Path+"/reset", form("ann", "ann"))
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "at least 8") {
			t.Fatalf("%d\n%s", resp.StatusCode, body)
		}
	})
	t.Run("a form from another site is refused", func(t *testing.T) {
		req := httptestPost(t, anon, h.http.URL+Path+"/reset", form("a new passphrase", "a new passphrase"), "cross-site")
		resp, err := anon.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site POST: %d", resp.StatusCode)
		}
	})
	t.Run("the CSRF token is bound to the link", func(t *testing.T) {
		other := h.user("bob", "correct horse battery")
		_, otherToken := h.resetLink(other)
		f := form("a new passphrase", "a new passphrase")
		f.Set("token", otherToken)
		resp, _ := h.post(anon, Path+"/reset", f)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("ann's form with bob's link: %d", resp.StatusCode)
		}
	})

	resp, body := h.post(anon, Path+"/reset", form("a new passphrase", "a new passphrase"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "signed out everywhere") {
		t.Fatalf("reset: %d\n%s", resp.StatusCode, body)
	}
	stored, _ := h.db.GetUser(context.Background(), u.ID)
	if ok, _ := password.Verify(stored.PasswordHash, "a new passphrase"); !ok {
		t.Fatal("the password was not set")
	}
	if _, err := h.db.GetSession(context.Background(), sess.Hash, h.clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the user's session survived: %v", err)
	}
	if resp, _ := h.get(signedIn, Path); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the old session still opens /account: %d", resp.StatusCode)
	}

	// Single use: the page and the form now refuse the link.
	if resp, body := h.get(anon, link); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "not valid") {
		t.Fatalf("GET after use: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := h.post(anon, Path+"/reset", form("another passphrase", "another passphrase")); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("POST after use: %d", resp.StatusCode)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatalf("the token is in the logs:\n%s", logs.String())
	}
}

func TestResetPageRefusesBadLinks(t *testing.T) {
	t.Parallel()
	h, _ := resetHarness(t)
	u := h.user("ann", "correct horse battery")
	anon := &http.Client{}
	link, _ := h.resetLink(u)
	forged, _ := secret.Generate(account.ResetTokenPrefix)
	for name, path := range map[string]string{
		"no token":        Path + "/reset",
		"garbage":         Path + "/reset?token=%3Cscript%3E",
		"forged":          Path + "/reset?token=" + forged,
		"twice the token": link + "&token=x",
	} {
		resp, body := h.get(anon, path)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, `name="password"`) {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	h.clock.Add(time.Hour)
	if resp, _ := h.get(anon, link); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("expired link: %d", resp.StatusCode)
	}
}
