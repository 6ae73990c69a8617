package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func TestCSRFTokensCheckOnlyForWhatTheyWereMadeFor(t *testing.T) {
	h, err := secret.NewHasher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	clock := testenv.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := CSRF{Hasher: h, Now: clock.Now}
	tok := c.Token("consent", "session-a", "request-1")
	if !c.Check("consent", "session-a", "request-1", tok) {
		t.Fatal("a fresh token does not check")
	}
	for name, ok := range map[string]bool{
		"another purpose": c.Check("logout", "session-a", "request-1", tok),
		"another binding": c.Check("consent", "session-b", "request-1", tok),
		"another request": c.Check("consent", "session-a", "request-2", tok),
		"no binding":      c.Check("consent", "", "request-1", tok),
		"no token":        c.Check("consent", "session-a", "request-1", ""),
		"tampered":        c.Check("consent", "session-a", "request-1", tok[:len(tok)-1]+"A"),
		"not a token":     c.Check("consent", "session-a", "request-1", "abc"),
		"too long":        c.Check("consent", "session-a", "request-1", tok+string(make([]byte, 64))),
		"another secret":  CSRF{Hasher: mustHasher(t, 1), Now: clock.Now}.Check("consent", "session-a", "request-1", tok),
	} {
		if ok {
			t.Errorf("%s: checked", name)
		}
	}
	clock.Add(DefaultCSRFTTL + time.Second)
	if c.Check("consent", "session-a", "request-1", tok) {
		t.Error("an expired token checked")
	}
	short := CSRF{Hasher: h, Now: clock.Now, TTL: time.Minute}
	tok = short.Token("f", "b", "")
	clock.Add(2 * time.Minute)
	if short.Check("f", "b", "", tok) {
		t.Error("a token older than its TTL checked")
	}
}

func mustHasher(t *testing.T, fill byte) *secret.Hasher {
	t.Helper()
	k := make([]byte, 32)
	for i := range k {
		k[i] = fill
	}
	h, err := secret.NewHasher(k)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSameOriginRefusesCrossSitePosts(t *testing.T) {
	const origin = "https://auth.example"
	for _, tc := range []struct {
		site, origin string
		want         bool
	}{
		{"same-origin", "", true},
		{"none", "", true},
		{"cross-site", "", false},
		{"same-site", "", false},
		{"", origin, true},
		{"", "null", true},
		{"", "https://evil.example", false},
		{"", "", true},
	} {
		r := httptest.NewRequest(http.MethodPost, origin+"/x", nil)
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := SameOrigin(r, origin); got != tc.want {
			t.Errorf("Sec-Fetch-Site %q, Origin %q: %v, want %v", tc.site, tc.origin, got, tc.want)
		}
	}
}
