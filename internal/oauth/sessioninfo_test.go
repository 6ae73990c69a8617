package oauth

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// A session records the User-Agent and the address of its sign-in, and
// the consent page shows them with the time, so a user who sees a session
// they did not start can notice.
func TestSessionRecordsWhereItCameFrom(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	b := newBrowser(t, ts)
	b.addr = "[2001:db8::7]:51000"
	// A tab (a control character) and a byte that is not UTF-8 are dropped.
	b.userAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\t\xff"
	consent := b.login(ts.authorizeURL(authParams(c)), "alice", testPassword)
	since := ts.Clock.Now().UTC().Format("2 Jan 2006 15:04 MST")
	want := "Signed in as <strong>Test alice (alice)</strong> — since " + since + ", from 2001:db8::7, Firefox on Linux."
	if !strings.Contains(consent.body, want) {
		t.Fatalf("consent page lacks %q:\n%s", want, consent.body)
	}

	var sc *http.Cookie
	for _, ck := range b.c.Jar.Cookies(consent.Request.URL) {
		if ck.Name == sessionCookieInsecure {
			sc = ck
		}
	}
	if sc == nil {
		t.Fatal("no session cookie")
	}
	hash, _ := ts.parseSecret(PrefixSession, sc.Value)
	sess, err := ts.Store.GetSession(context.Background(), hash, ts.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if sess.Address != "2001:db8::7" || sess.UserAgent != strings.TrimSuffix(b.userAgent, "\t\xff") {
		t.Fatalf("recorded address %q, user agent %q", sess.Address, sess.UserAgent)
	}
}

func TestRecordedTextIsBoundedPrintableUTF8(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "curl/8.5.0", "curl/8.5.0"},
		{"control characters dropped", "a\x00b\r\nc\x7fd", "abcd"},
		{"invalid UTF-8 dropped", "a\xffb\xc3", "ab"},
		{"cut at the bound", strings.Repeat("x", 300), strings.Repeat("x", maxRecordedUserAgent)},
		{"cut on a character boundary", strings.Repeat("x", 255) + "é", strings.Repeat("x", 255)},
	} {
		got := recordedText(tc.in, maxRecordedUserAgent)
		if got != tc.want || !utf8.ValidString(got) || len(got) > maxRecordedUserAgent {
			t.Errorf("%s: recordedText(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestRecordedAddressIsTheIPWithoutPort(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1:4321":         "192.0.2.1",
		"[2001:db8::1]:443":      "2001:db8::1",
		"[::ffff:192.0.2.9]:1":   "192.0.2.9",
		"198.51.100.2":           "198.51.100.2",
		"@unix\x00socket":        "@unixsocket",
		strings.Repeat("z", 100): strings.Repeat("z", maxRecordedAddress),
	} {
		r := &http.Request{RemoteAddr: in}
		if got := recordedAddress(r); got != want {
			t.Errorf("recordedAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
