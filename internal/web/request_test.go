package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSetRetryAfterRoundsUpAndIsNeverZero(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1", -time.Second: "1", time.Millisecond: "1", 999 * time.Millisecond: "1",
		time.Second: "1", 1500 * time.Millisecond: "2", time.Minute: "60",
	} {
		h := http.Header{}
		SetRetryAfter(h, d)
		if got := h.Get("Retry-After"); got != want {
			t.Errorf("SetRetryAfter(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSameOriginScript(t *testing.T) {
	const origin = "https://id.example"
	for _, c := range []struct {
		site, from string
		ok         bool
	}{
		{"same-origin", origin, true},
		{"", origin, true},
		{"same-origin", "", false}, // a script's POST always carries Origin
		{"", "", false},
		{"", "null", false},
		{"none", origin, false},
		{"cross-site", origin, false},
		{"same-site", "https://other.id.example", false},
	} {
		r := httptest.NewRequest(http.MethodPost, origin+"/x", nil)
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if c.from != "" {
			r.Header.Set("Origin", c.from)
		}
		if got := SameOriginScript(r, origin); got != c.ok {
			t.Errorf("Sec-Fetch-Site %q, Origin %q: %v, want %v", c.site, c.from, got, c.ok)
		}
	}
}

func TestJSONErrorIsNeitherCachedNorSniffed(t *testing.T) {
	w := httptest.NewRecorder()
	JSONError(w, http.StatusForbidden, "no")
	for k, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store",
		"Pragma": "no-cache", "X-Content-Type-Options": "nosniff"} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if w.Code != http.StatusForbidden || w.Body.String() != `{"error":"no"}` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
