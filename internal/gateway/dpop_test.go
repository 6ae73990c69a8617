package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// testPublicURL is the gateway's public URL in the DPoP tests: what
// clients reach it at (through a proxy), not the test server's address.
const testPublicURL = "https://api.example.test"

// withDPoP gives the gateway a DPoP checker on the test clock, with an
// in-memory replay cache (one node), and testPublicURL.
func withDPoP(edit func(*verify.DPoPConfig)) func(*Config) {
	return func(c *Config) {
		c.PublicURL = testPublicURL
		dc := verify.DPoPConfig{Now: c.Now}
		if edit != nil {
			edit(&dc)
		}
		d, err := verify.NewDPoP(dc)
		if err != nil {
			panic(err)
		}
		c.DPoP = d
	}
}

// boundToken mints a Gatehouse token bound to a DPoP key.
func (e *testEnv) boundToken(jkt string) string {
	e.t.Helper()
	now := e.clock.Now()
	tok, err := e.keyring.Sign("at+jwt", verify.Claims{
		Issuer: testIssuer, Subject: "usr_1", ClientID: "cli_1", Scopes: []string{"read"}, ID: "jti-" + jkt[:8],
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), JKT: jkt,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *testEnv) dpopClient() *dpoptest.Client {
	c := dpoptest.MustNew(jose.ES256)
	c.Now = e.clock.Now
	return c
}

const gatewayDPoPAlgs = `algs="ES256 EdDSA RS256"`

func TestGatewayDPoPAttacks(t *testing.T) {
	e := newTestEnv(t, withDPoP(nil))
	e.setRoutes(e.route("jwt", "/jwt", auth.PolicyJWT), e.route("any", "/any", auth.PolicyAny))
	dc := e.dpopClient()
	tok := e.boundToken(dc.JKT())
	htu := testPublicURL + "/jwt/orders"
	proof := func(o dpoptest.Options) string {
		if o.AccessToken == "" {
			o.AccessToken = tok
		}
		return dc.Proof("GET", htu, o)
	}

	// The bound token with a fresh proof of its key passes, on either
	// policy, and the upstream sees the verified identity.
	resp := e.do("GET", "/jwt/orders?x=1", "Authorization", "DPoP "+tok, "DPoP", proof(dpoptest.Options{}))
	wantStatus(t, resp, http.StatusOK)
	if got := echoOf(t, resp).Header.Get(HeaderSubject); got != "usr_1" {
		t.Errorf("subject %q", got)
	}
	wantStatus(t, e.do("GET", "/any/x", "Authorization", "DPoP "+tok, "DPoP", dc.Proof("GET", testPublicURL+"/any/x", dpoptest.Options{AccessToken: tok})), http.StatusOK)

	replayed := proof(dpoptest.Options{})
	wantStatus(t, e.do("GET", "/jwt/orders", "Authorization", "DPoP "+tok, "DPoP", replayed), http.StatusOK)
	other := e.dpopClient()
	otherTok := e.boundToken(other.JKT())
	for _, tc := range []struct {
		name    string
		method  string
		headers []string
		errCode string
	}{
		{"bound token downgraded to Bearer", "GET", []string{"Authorization", "Bearer " + tok, "DPoP", proof(dpoptest.Options{})}, "invalid_token"},
		{"bound token without a proof", "GET", []string{"Authorization", "DPoP " + tok}, "invalid_dpop_proof"},
		{"replayed proof", "GET", []string{"Authorization", "DPoP " + tok, "DPoP", replayed}, "invalid_dpop_proof"},
		{"proof for another method", "DELETE", []string{"Authorization", "DPoP " + tok, "DPoP", proof(dpoptest.Options{})}, "invalid_dpop_proof"},
		{"proof for another URL", "GET", []string{"Authorization", "DPoP " + tok, "DPoP", dc.Proof("GET", testPublicURL+"/jwt/admin", dpoptest.Options{AccessToken: tok})}, "invalid_dpop_proof"},
		{"proof for another token (ath)", "GET", []string{"Authorization", "DPoP " + tok, "DPoP", proof(dpoptest.Options{AccessToken: otherTok})}, "invalid_dpop_proof"},
		{"proof by another key", "GET", []string{"Authorization", "DPoP " + tok, "DPoP", other.Proof("GET", htu, dpoptest.Options{AccessToken: tok})}, "invalid_token"},
		{"expired proof", "GET", []string{"Authorization", "DPoP " + tok, "DPoP", proof(dpoptest.Options{IssuedAt: e.clock.Now().Add(-5 * time.Minute)})}, "invalid_dpop_proof"},
		{"unbound token in the DPoP scheme", "GET", []string{"Authorization", "DPoP " + e.token(tokenClaims{Sub: "u", ClientID: "c"}), "DPoP", proof(dpoptest.Options{})}, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(tc.method, "/jwt/orders", tc.headers...)
			wantStatus(t, resp, http.StatusUnauthorized)
			want := `DPoP realm="` + Realm + `", error="` + tc.errCode + `", ` + gatewayDPoPAlgs
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
		})
	}
	// Plain bearer tokens are untouched.
	wantStatus(t, e.do("GET", "/jwt/orders", "Authorization", "Bearer "+e.token(tokenClaims{Sub: "u", ClientID: "c"})), http.StatusOK)
}

func TestGatewayWithoutDPoPRefusesBoundTokens(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("jwt", "/jwt", auth.PolicyJWT))
	dc := e.dpopClient()
	tok := e.boundToken(dc.JKT())
	for _, scheme := range []string{"Bearer", "DPoP"} {
		resp := e.do("GET", "/jwt/x", "Authorization", scheme+" "+tok, "DPoP", dc.Proof("GET", testPublicURL+"/jwt/x", dpoptest.Options{AccessToken: tok}))
		wantStatus(t, resp, http.StatusUnauthorized)
		if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "DPoP ") {
			t.Errorf("%s: WWW-Authenticate %q", scheme, ch)
		}
	}
}

func TestGatewayDPoPNonce(t *testing.T) {
	nonces, err := verify.NewHMACNonces([]byte(strings.Repeat("k", 32)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, withDPoP(func(c *verify.DPoPConfig) { c.Nonces = nonces }))
	e.setRoutes(e.route("jwt", "/jwt", auth.PolicyJWT))
	dc := e.dpopClient()
	tok := e.boundToken(dc.JKT())
	resp := e.do("GET", "/jwt/x", "Authorization", "DPoP "+tok, "DPoP", dc.Proof("GET", testPublicURL+"/jwt/x", dpoptest.Options{AccessToken: tok}))
	wantStatus(t, resp, http.StatusUnauthorized)
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="use_dpop_nonce"`) {
		t.Errorf("WWW-Authenticate %q", ch)
	}
	n := resp.Header.Get("DPoP-Nonce")
	if n == "" {
		t.Fatal("no DPoP-Nonce")
	}
	wantStatus(t, e.do("GET", "/jwt/x", "Authorization", "DPoP "+tok, "DPoP", dc.Proof("GET", testPublicURL+"/jwt/x", dpoptest.Options{AccessToken: tok, Nonce: n})), http.StatusOK)
}

// A token and proof captured at another resource server (or at another
// port of one of the gateway's hosts), replayed to the gateway with the
// Host header set to that server, are refused: the URL a proof must name
// is one the gateway serves, never the Host header alone.
func TestGatewayDPoPHostSwapReplayRefused(t *testing.T) {
	e := newTestEnv(t, withDPoP(nil))
	hosted := e.route("hosted", "/h", auth.PolicyJWT)
	hosted.Hosts = []string{"orders.example.test", "*.svc.example.test"}
	e.setRoutes(e.route("jwt", "/jwt", auth.PolicyJWT), hosted)
	dc := e.dpopClient()
	tok := e.boundToken(dc.JKT())
	call := func(host, htu string) *http.Response {
		t.Helper()
		return e.do("GET", strings.TrimPrefix(strings.TrimPrefix(htu, "https://"+host), testPublicURL),
			"Host", host, "Authorization", "DPoP "+tok, "DPoP", dc.Proof("GET", htu, dpoptest.Options{AccessToken: tok}))
	}
	for _, tc := range []struct{ host, htu string }{
		// Route without hosts: the proof was made for another server.
		{"rs.elsewhere.test", "https://rs.elsewhere.test/jwt/orders"},
		{"rs.elsewhere.test:8443", "https://rs.elsewhere.test:8443/jwt/orders"},
		// Route with hosts: the gateway's host, another port.
		{"orders.example.test:9443", "https://orders.example.test:9443/h/x"},
	} {
		resp := call(tc.host, tc.htu)
		wantStatus(t, resp, http.StatusUnauthorized)
		if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_dpop_proof"`) {
			t.Errorf("%s: WWW-Authenticate %q", tc.htu, ch)
		}
	}
	// The same requests with proofs for the gateway's own URLs pass,
	// whatever the Host header on a route without hosts.
	for _, tc := range []struct{ host, htu string }{
		{"rs.elsewhere.test", testPublicURL + "/jwt/orders"},
		{"orders.example.test", "https://orders.example.test/h/x"},
		{"Billing.SVC.example.test.", "https://billing.svc.example.test/h/x"},
	} {
		resp := e.do("GET", strings.TrimPrefix(strings.TrimPrefix(tc.htu, "https://"+strings.ToLower(strings.TrimSuffix(tc.host, "."))), testPublicURL),
			"Host", tc.host, "Authorization", "DPoP "+tok, "DPoP", dc.Proof("GET", tc.htu, dpoptest.Options{AccessToken: tok}))
		wantStatus(t, resp, http.StatusOK)
	}
}

// Without a public URL, the gateway does not know its own name for a
// route without hosts: bound tokens are refused there, whatever the proof
// (a proof for the Host header's URL above all), and still pass on routes
// with hosts.
func TestGatewayDPoPWithoutPublicURL(t *testing.T) {
	e := newTestEnv(t, withDPoP(nil), func(c *Config) { c.PublicURL, c.PublicScheme = "", "https" })
	hosted := e.route("hosted", "/h", auth.PolicyJWT)
	hosted.Hosts = []string{"orders.example.test"}
	e.setRoutes(e.route("jwt", "/jwt", auth.PolicyJWT), hosted)
	dc := e.dpopClient()
	tok := e.boundToken(dc.JKT())
	resp := e.do("GET", "/jwt/orders", "Host", "rs.elsewhere.test", "Authorization", "DPoP "+tok,
		"DPoP", dc.Proof("GET", "https://rs.elsewhere.test/jwt/orders", dpoptest.Options{AccessToken: tok}))
	wantStatus(t, resp, http.StatusUnauthorized)
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate %q", ch)
	}
	wantStatus(t, e.do("GET", "/h/x", "Host", "orders.example.test", "Authorization", "DPoP "+tok,
		"DPoP", dc.Proof("GET", "https://orders.example.test/h/x", dpoptest.Options{AccessToken: tok})), http.StatusOK)
	// Bearer tokens are untouched.
	wantStatus(t, e.do("GET", "/jwt/orders", "Authorization", "Bearer "+e.token(tokenClaims{Sub: "u", ClientID: "c"})), http.StatusOK)
}

// A proof names the path the client sent: on a case-insensitive route,
// "/API/orders" (forwarded as "/api/orders") passes with a proof for
// "/API/orders", and not with one for the path the gateway rewrote.
func TestGatewayDPoPProofOnCanonicalisedPath(t *testing.T) {
	e := newTestEnv(t, withDPoP(nil))
	rt := e.route("api", "/api", auth.PolicyJWT)
	rt.CaseInsensitive = true
	e.setRoutes(rt)
	dc := e.dpopClient()
	tok := e.boundToken(dc.JKT())
	resp := e.do("GET", "/API/orders", "Authorization", "DPoP "+tok,
		"DPoP", dc.Proof("GET", testPublicURL+"/API/orders", dpoptest.Options{AccessToken: tok}))
	wantStatus(t, resp, http.StatusOK)
	if got := echoOf(t, resp).Path; got != "/api/orders" {
		t.Errorf("upstream path %q", got)
	}
	// Percent-encoded as sent: %7E and ~ are one URL once normalised.
	wantStatus(t, e.do("GET", "/Api/%7Eme", "Authorization", "DPoP "+tok,
		"DPoP", dc.Proof("GET", testPublicURL+"/Api/~me", dpoptest.Options{AccessToken: tok})), http.StatusOK)
	wantStatus(t, e.do("GET", "/API/orders", "Authorization", "DPoP "+tok,
		"DPoP", dc.Proof("GET", testPublicURL+"/api/orders", dpoptest.Options{AccessToken: tok})), http.StatusUnauthorized)
}

func TestGatewayPublicURLChecked(t *testing.T) {
	for _, bad := range []string{"api.example.test", "ftp://api.example.test", "https://api.example.test/base", "https://u@api.example.test", "https://api.example.test?x=1"} {
		if _, err := parsePublicURL(bad, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	p, err := parsePublicURL("HTTPS://API.example.test:443", "")
	if err != nil || p != (publicURL{"https", "api.example.test", ""}) {
		t.Errorf("%+v, %v", p, err)
	}
	if p, err := parsePublicURL("http://[::1]:8081", ""); err != nil || p != (publicURL{"http", "[::1]", ":8081"}) {
		t.Errorf("%+v, %v", p, err)
	}
}
