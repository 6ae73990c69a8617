package apikey_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
)

func TestExtract(t *testing.T) {
	t.Parallel()
	key := "sk_test_00000000000000000000000000000000127lYz"
	tests := []struct {
		name    string
		headers [][2]string
		want    string
		ok      bool
	}{
		{"X-API-Key", [][2]string{{"X-API-Key", key}}, key, true},
		{"X-API-Key in another case", [][2]string{{"x-api-key", key}}, key, true},
		{"bearer", [][2]string{{"Authorization", "Bearer " + key}}, key, true},
		{"bearer scheme in lower case", [][2]string{{"Authorization", "bearer " + key}}, key, true},
		{"bearer scheme in odd case", [][2]string{{"Authorization", "BeArEr " + key}}, key, true},
		{"extra spaces", [][2]string{{"Authorization", "Bearer   " + key + " "}}, key, true},
		{"X-API-Key wins over Authorization", [][2]string{{"X-API-Key", key}, {"Authorization", "Bearer other"}}, key, true},
		{"near-miss lengths still reach Verify", [][2]string{{"X-API-Key", key + "xx"}}, key + "xx", true},
		{"no header", nil, "", false},
		{"basic auth", [][2]string{{"Authorization", "Basic dXNlcjpwYXNz"}}, "", false},
		{"bearer without credential", [][2]string{{"Authorization", "Bearer "}}, "", false},
		{"bearer without space", [][2]string{{"Authorization", "Bearer" + key}}, "", false},
		{"empty X-API-Key", [][2]string{{"X-API-Key", ""}}, "", false},
		{"two X-API-Key headers", [][2]string{{"X-API-Key", key}, {"X-API-Key", key}}, "", false},
		{"two Authorization headers", [][2]string{{"Authorization", "Bearer " + key}, {"Authorization", "Bearer " + key}}, "", false},
		{"absurdly long X-API-Key", [][2]string{{"X-API-Key", strings.Repeat("a", 100_000)}}, "", false},
		{"absurdly long bearer", [][2]string{{"Authorization", "Bearer " + strings.Repeat("a", 300)}}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, h := range tt.headers {
				r.Header.Add(h[0], h[1])
			}
			got, ok := apikey.Extract(r)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Extract = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzExtract(f *testing.F) {
	f.Add("Bearer sk_live_x")
	f.Add("bearer \t x ")
	f.Add("")
	f.Fuzz(func(t *testing.T, auth string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", auth)
		key, ok := apikey.Extract(r)
		if ok && (key == "" || len(key) > 256 || !strings.Contains(auth, key)) {
			t.Fatalf("Extract(%q) = %q", auth, key)
		}
	})
}
