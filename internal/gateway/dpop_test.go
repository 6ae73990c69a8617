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

// withDPoP gives the gateway a DPoP checker on the test clock, with an
// in-memory replay cache (one node).
func withDPoP(edit func(*verify.DPoPConfig)) func(*Config) {
	return func(c *Config) {
		dc := verify.DPoPConfig{Now: c.Now, RequestURL: DPoPRequestURL("")}
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
	htu := e.srv.URL + "/jwt/orders"
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
	wantStatus(t, e.do("GET", "/any/x", "Authorization", "DPoP "+tok, "DPoP", dc.Proof("GET", e.srv.URL+"/any/x", dpoptest.Options{AccessToken: tok})), http.StatusOK)

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
		{"proof for another URL", "GET", []string{"Authorization", "DPoP " + tok, "DPoP", dc.Proof("GET", e.srv.URL+"/jwt/admin", dpoptest.Options{AccessToken: tok})}, "invalid_dpop_proof"},
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
		resp := e.do("GET", "/jwt/x", "Authorization", scheme+" "+tok, "DPoP", dc.Proof("GET", e.srv.URL+"/jwt/x", dpoptest.Options{AccessToken: tok}))
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
	resp := e.do("GET", "/jwt/x", "Authorization", "DPoP "+tok, "DPoP", dc.Proof("GET", e.srv.URL+"/jwt/x", dpoptest.Options{AccessToken: tok}))
	wantStatus(t, resp, http.StatusUnauthorized)
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="use_dpop_nonce"`) {
		t.Errorf("WWW-Authenticate %q", ch)
	}
	n := resp.Header.Get("DPoP-Nonce")
	if n == "" {
		t.Fatal("no DPoP-Nonce")
	}
	wantStatus(t, e.do("GET", "/jwt/x", "Authorization", "DPoP "+tok, "DPoP", dc.Proof("GET", e.srv.URL+"/jwt/x", dpoptest.Options{AccessToken: tok, Nonce: n})), http.StatusOK)
}
