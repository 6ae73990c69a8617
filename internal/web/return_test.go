package web

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeReturn(t *testing.T) {
	allowed := []string{"/account", "/oauth2/authorize"}
	for _, ok := range []string{"/account", "/account/", "/account/totp", "/account/totp?return=%2Faccount", "/oauth2/authorize?client_id=x&state=y"} {
		if got := SafeReturn(ok, allowed...); got != ok {
			t.Errorf("SafeReturn(%q) = %q, want it kept", ok, got)
		}
	}
	for _, bad := range []string{
		"", "account", "/accountX", "/account/../admin", "/account/..", "/account/./x", "/account/.", "/account/..%2fx",
		"//evil.example/account", "/\\evil.example", "https://evil.example/account", "/account#frag", "/account\r\nx",
		"/account/%0a", "/oauth2/authorizeX", "/oauth2/token", "/dashboard", "/" + strings.Repeat("a", maxReturn),
	} {
		if got := SafeReturn(bad, allowed...); got != "" {
			t.Errorf("SafeReturn(%q) = %q, want refused", bad, got)
		}
	}
}

// FuzzSafeReturn: whatever SafeReturn keeps stays on this server, below an
// allowed path, with no dot segment.
func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/account", "/account/../x", "//x", "/\\x", "/oauth2/authorize?a=b", "/account/%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := SafeReturn(raw, "/account", "/oauth2/authorize")
		if got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || strings.HasPrefix(got, "//") {
			t.Fatalf("kept %q", got)
		}
		p := u.Path
		if p != "/account" && !strings.HasPrefix(p, "/account/") && p != "/oauth2/authorize" && !strings.HasPrefix(p, "/oauth2/authorize/") {
			t.Fatalf("kept %q outside the allowed paths", got)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("kept a dot segment: %q", got)
			}
		}
	})
}
