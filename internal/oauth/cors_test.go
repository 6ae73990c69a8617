package oauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

func TestCORS(t *testing.T) {
	ts := newTestServer(t)
	// A single-page app: a public client whose page lives at app.example.com.
	spa, _ := ts.mustClient(client.Input{
		Public:       true,
		RedirectURIs: []string{"https://app.example.com/callback"},
		GrantTypes:   []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken},
		Scopes:       []string{"openid", "offline_access", "read"},
		Audiences:    []string{"https://api.example.com"},
	})
	u := ts.mustUser("sam")
	const appOrigin, evilOrigin = "https://app.example.com", "https://evil.example.net"

	send := func(method, path, origin string, header http.Header, form url.Values) *http.Response {
		t.Helper()
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, ts.URL+path, body)
		for k, v := range header {
			req.Header[k] = v
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	t.Run("preflight of the token endpoint", func(t *testing.T) {
		resp := send(http.MethodOptions, PathToken, appOrigin, http.Header{
			"Access-Control-Request-Method":  {"POST"},
			"Access-Control-Request-Headers": {"content-type"},
		}, nil)
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != appOrigin ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
			t.Fatalf("preflight = %d %v", resp.StatusCode, h)
		}
	})

	code, verifier, _ := ts.issueCode(spa, u, codeOpts{scopes: []string{"openid", "offline_access", "read"}})
	exchange := url.Values{"grant_type": {"authorization_code"}, "client_id": {spa.ID}, "code": {code},
		"redirect_uri": {spa.RedirectURIs[0]}, "code_verifier": {verifier}}

	t.Run("another origin cannot read the token response", func(t *testing.T) {
		code2, verifier2, _ := ts.issueCode(spa, u, codeOpts{scopes: []string{"read"}})
		f := url.Values{"grant_type": {"authorization_code"}, "client_id": {spa.ID}, "code": {code2},
			"redirect_uri": {spa.RedirectURIs[0]}, "code_verifier": {verifier2}}
		resp := send(http.MethodPost, PathToken, evilOrigin, nil, f)
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("a foreign origin was allowed: %v", resp.Header)
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Origin") {
			t.Errorf("no Vary: Origin")
		}
	})

	var access string
	t.Run("the client's own origin can", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+PathToken, strings.NewReader(exchange.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", appOrigin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != appOrigin {
			t.Fatalf("Access-Control-Allow-Origin = %q", got)
		}
		m := decode(t, resp, http.StatusOK)
		access = m["access_token"].(string)
	})

	t.Run("userinfo answers the client's origin", func(t *testing.T) {
		resp := send(http.MethodGet, PathUserinfo, appOrigin, http.Header{"Authorization": {"Bearer " + access}}, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != appOrigin {
			t.Fatalf("userinfo = %d %v", resp.StatusCode, resp.Header)
		}
		resp = send(http.MethodGet, PathUserinfo, evilOrigin, http.Header{"Authorization": {"Bearer " + access}}, nil)
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("userinfo allowed a foreign origin")
		}
	})

	t.Run("introspection stays same-origin", func(t *testing.T) {
		resp := send(http.MethodOptions, PathIntrospect, appOrigin, http.Header{"Access-Control-Request-Method": {"POST"}}, nil)
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("introspection preflight allowed: %v", resp.Header)
		}
	})

	t.Run("discovery and the JWKS are public", func(t *testing.T) {
		for _, p := range []string{PathOIDCDiscovery, PathASMetadata, PathJWKS} {
			resp := send(http.MethodGet, p, evilOrigin, nil, nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("%s: %d %q", p, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
		}
	})
}

func TestIsWebOrigin(t *testing.T) {
	c := &auth.Client{RedirectURIs: []string{"https://App.Example.com:8443/cb", "http://127.0.0.1/cb", "com.example.app:/cb"}}
	for origin, want := range map[string]bool{
		"https://app.example.com:8443": true,
		"https://app.example.com":      false,
		"http://app.example.com:8443":  false,
		"http://127.0.0.1":             true,
		"http://127.0.0.1:9000":        false,
		"null":                         false,
		"":                             false,
		"com.example.app:":             false,
	} {
		if got := isWebOrigin(c, origin); got != want {
			t.Errorf("isWebOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
}
