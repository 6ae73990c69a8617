package oauth

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Issue 9's targeted lockout, played against the login page: a guesser
// at one address, Alice at others.

const (
	guesserAddr = "203.0.113.66:40000"
	homeAddr    = "198.51.100.7:50000"
	cafeAddr    = "192.0.2.44:50000"
)

// withAccountLimits gives the server an account service with changed
// throttling, over the same store and clock.
func withAccountLimits(t *testing.T, mod func(*account.Config)) func(*Config) {
	return func(c *Config) {
		cfg := account.Config{Store: c.Store, Sessions: c.Store, Now: c.Now, Logger: c.Logger}
		mod(&cfg)
		a, err := account.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Accounts = a
	}
}

// browserAt is a new browser at addr.
func browserAt(t *testing.T, ts *testServer, addr string) *browser {
	b := newBrowser(t, ts)
	b.addr = addr
	return b
}

// signIn submits the login form of a fresh authorization request (with
// prompt=login, so a browser signed in before is asked again).
func (b *browser) signIn(c *auth.Client, username, password string) *page {
	b.t.Helper()
	return b.submit(b.loginPage(b.ts.authorizeURL(authParams(c, "prompt", "login"))), url.Values{"username": {username}, "password": {password}})
}

func signedIn(p *page) bool {
	return sessionCookieOf(p.Response, sessionCookieInsecure) != nil
}

// deviceCookie returns the device cookie in b's jar.
func (b *browser) deviceCookie() *http.Cookie {
	u, _ := url.Parse(b.ts.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == auth.CookieDeviceInsecure {
			return c
		}
	}
	return nil
}

// (1) and (3): the guesser's failures at one address back him off,
// 1 s then 2 s ..., and Alice's browser, with the device cookie of her
// earlier sign-in, signs in at once with the right password.
func TestAGuesserCannotLockAliceOutOfHerBrowser(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	alice := browserAt(t, ts, homeAddr)
	if p := alice.signIn(c, "alice", testPassword); !signedIn(p) || alice.deviceCookie() == nil {
		t.Fatalf("Alice's first sign-in: %d, device cookie %v", p.StatusCode, alice.deviceCookie())
	}

	guesser := browserAt(t, ts, guesserAddr)
	retryAfter := func(p *page) int {
		t.Helper()
		if p.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("guesser: %d, want 429", p.StatusCode)
		}
		n, err := strconv.Atoi(p.Header.Get("Retry-After"))
		if err != nil {
			t.Fatalf("Retry-After %q", p.Header.Get("Retry-After"))
		}
		return n
	}
	for i := range account.DefaultSourceFailures {
		if p := guesser.signIn(c, "alice", "wrong password"); p.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, p.StatusCode)
		}
	}
	for _, want := range []int{1, 2, 4, 8} {
		if got := retryAfter(guesser.signIn(c, "alice", "wrong password")); got != want {
			t.Fatalf("guesser's wait %d s, want %d s", got, want)
		}
		ts.Clock.Add(time.Duration(want) * time.Second)
		if p := guesser.signIn(c, "alice", "wrong password"); p.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess after the wait: %d", p.StatusCode)
		}
	}
	// At once: no clock moves between the guesser's last failure and her.
	if p := alice.signIn(c, "alice", testPassword); !signedIn(p) {
		t.Fatalf("Alice with her device cookie: %d\n%s", p.StatusCode, p.body)
	}
}

// (2) The rule for a browser without the device cookie: failures at one
// address never refuse the username at another (the per-username limit
// is more than one address's back-off lets through), so Alice at a café
// signs in while the guesser is backed off. Only guessers at many
// addresses reach the per-username limit; then her browser with its
// device cookie still gets in, while one without it waits.
func TestAliceWithoutHerDeviceCookie(t *testing.T) {
	t.Parallel()
	t.Run("one guesser", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, insecureCookies)
		c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
		ts.mustUser("alice")
		guesser := browserAt(t, ts, guesserAddr)
		for range account.DefaultSourceFailures + 2 {
			guesser.signIn(c, "alice", "wrong password")
		}
		if p := guesser.signIn(c, "alice", testPassword); p.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("the guesser's address: %d, want 429", p.StatusCode)
		}
		if p := browserAt(t, ts, cafeAddr).signIn(c, "alice", testPassword); !signedIn(p) {
			t.Fatalf("Alice at the café: %d", p.StatusCode)
		}
	})
	t.Run("many guessers", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, insecureCookies, withAccountLimits(t, func(c *account.Config) { c.AccountFailures = 3 }))
		c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
		ts.mustUser("alice")
		ts.Clock.Add(time.Millisecond) // a cookie of the account's first instant is not trusted
		alice := browserAt(t, ts, homeAddr)
		alice.signIn(c, "alice", testPassword)
		for i := range 3 {
			browserAt(t, ts, "203.0.113."+strconv.Itoa(i+1)+":1").signIn(c, "alice", "wrong password")
		}
		if p := browserAt(t, ts, cafeAddr).signIn(c, "alice", testPassword); p.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a new browser during a distributed attack: %d, want 429", p.StatusCode)
		}
		if p := alice.signIn(c, "alice", testPassword); !signedIn(p) {
			t.Fatalf("Alice's browser during a distributed attack: %d", p.StatusCode)
		}
	})
}

// (4) Only a device cookie this server signed for this user, less than a
// year ago, exempts: a tampered one, one re-signed for another user, one
// of another user, or an expired one is ignored.
func TestAForgedDeviceCookieGivesNoExemption(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies, withAccountLimits(t, func(c *account.Config) { c.AccountFailures = 3 }))
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	alice := ts.mustUser("alice")
	bob := ts.mustUser("bob")
	ts.Clock.Add(time.Millisecond) // a cookie of the accounts' first instant is not trusted
	aliceBrowser := browserAt(t, ts, homeAddr)
	aliceBrowser.signIn(c, "alice", testPassword)
	bobBrowser := browserAt(t, ts, cafeAddr)
	bobBrowser.signIn(c, "bob", testPassword)
	genuine, bobs := aliceBrowser.deviceCookie().Value, bobBrowser.deviceCookie().Value
	if !strings.HasPrefix(genuine, alice.ID+".") || !strings.HasPrefix(bobs, bob.ID+".") {
		t.Fatalf("device cookies %q, %q do not name their users", genuine, bobs)
	}
	// Lock alice out of browsers without her cookie.
	for i := range 3 {
		browserAt(t, ts, "203.0.113."+strconv.Itoa(i+1)+":1").signIn(c, "alice", "wrong password")
	}

	flip := func(v string) string {
		last := v[len(v)-1]
		if last == 'A' {
			return v[:len(v)-1] + "B"
		}
		return v[:len(v)-1] + "A"
	}
	withCookie := func(v string) *browser {
		b := browserAt(t, ts, guesserAddr)
		u, _ := url.Parse(ts.URL)
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: auth.CookieDeviceInsecure, Value: v, Path: "/"}})
		return b
	}
	// The first format: the issue time in seconds, signed without a
	// version. Genuine then, and no exemption now.
	parts := strings.Split(genuine, ".")
	firstIssued := strconv.FormatInt(ts.Clock.Now().Unix(), 10)
	sum := ts.hasher.Sum("gatehouse-device\x00" + alice.ID + "\x00" + firstIssued + "\x00" + parts[2])
	firstFormat := alice.ID + "." + firstIssued + "." + parts[2] + "." + base64.RawURLEncoding.EncodeToString(sum[:])
	for name, v := range map[string]string{
		"of the first format":   firstFormat,
		"tampered MAC":          flip(genuine),
		"user ID changed":       bob.ID + strings.TrimPrefix(genuine, alice.ID),
		"issue time changed":    strings.Replace(genuine, ".", ".1", 1),
		"another user's cookie": bobs,
		"garbage":               "x.y.z.w",
	} {
		if p := withCookie(v).signIn(c, "alice", testPassword); p.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s: %d, want 429", name, p.StatusCode)
		}
	}
	if p := withCookie(genuine).signIn(c, "alice", testPassword); !signedIn(p) {
		t.Fatalf("the genuine cookie in another browser: %d", p.StatusCode)
	}
	// A year later the cookie has expired (the failures have drained by
	// then: lock the name again).
	ts.Clock.Add(DefaultDeviceTTL + time.Second)
	for i := range 3 {
		browserAt(t, ts, "203.0.113."+strconv.Itoa(i+1)+":1").signIn(c, "alice", "wrong password")
	}
	if p := withCookie(genuine).signIn(c, "alice", testPassword); p.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("an expired cookie: %d, want 429", p.StatusCode)
	}
}

// (5) A sign-in sets a new device cookie: __Host- prefixed, HttpOnly,
// Secure, SameSite=Lax, Path=/, no Domain, for a year; a failed one sets
// none.
func TestSignInSetsTheDeviceCookie(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t) // Secure cookies
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn := func(password string) *http.Response {
		t.Helper()
		resp, err := client.Get(ts.URL + PathLogin + "?" + authParams(c).Encode())
		if err != nil {
			t.Fatal(err)
		}
		pre := sessionCookieOf(resp, loginCookie)
		f := readPage(t, resp).form(t)
		f.fields.Set("username", "alice")
		f.fields.Set("password", password)
		req, _ := http.NewRequest(http.MethodPost, f.action, strings.NewReader(f.fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(pre)
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if dc := sessionCookieOf(signIn("wrong password"), auth.CookieDevice); dc != nil {
		t.Fatalf("a failed sign-in set a device cookie: %+v", dc)
	}
	first := sessionCookieOf(signIn(testPassword), auth.CookieDevice)
	if first == nil {
		t.Fatal("no device cookie after signing in")
	}
	if !first.HttpOnly || !first.Secure || first.SameSite != http.SameSiteLaxMode || first.Path != "/" || first.Domain != "" ||
		first.MaxAge != int(DefaultDeviceTTL/time.Second) {
		t.Fatalf("device cookie %+v", first)
	}
	if !strings.HasPrefix(first.Value, u.ID+"."+strconv.FormatInt(ts.Clock.Now().UnixMicro(), 10)+".") {
		t.Fatalf("device cookie value %q", first.Value)
	}
	if second := sessionCookieOf(signIn(testPassword), auth.CookieDevice); second == nil || second.Value == first.Value {
		t.Fatal("the device cookie was not renewed at the next sign-in")
	}
	if !auth.GatehouseCookie(auth.CookieDevice) || !auth.GatehouseCookie(auth.CookieDeviceInsecure) {
		t.Fatal("the gateway would forward the device cookie upstream")
	}
}
