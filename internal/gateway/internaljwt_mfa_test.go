package gateway

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// The internal JWT carries the caller's amr and acr, so an upstream that
// requires a second factor (verify's RequireMFA) accepts a caller who
// signed in with one and refuses one who did not; the two sign-ins of one
// caller never share a minted token. API keys say nothing of a sign-in.
func TestInternalJWTCarriesTheSignInsMethods(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.InternalTokenTTL = time.Hour })
	r := e.route("internal", "/in", auth.PolicyAny)
	r.InternalJWT = true
	e.setRoutes(r)
	v, err := verify.New(verify.Config{Issuer: testIssuer, JWKS: e.keyring.JWKS, Audience: e.upstream.URL, Now: e.clock.Now, RequireMFA: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	internal := func(caller string) (string, *verify.Claims, error) {
		t.Helper()
		got := echoOf(t, e.do("GET", "/in", "Authorization", "Bearer "+caller))
		tok, ok := strings.CutPrefix(got.Header.Get("Authorization"), "Bearer ")
		if !ok {
			t.Fatalf("no internal token: %q", got.Header.Get("Authorization"))
		}
		c, err := v.Verify(context.Background(), tok)
		if err != nil {
			return tok, nil, err
		}
		return tok, c, c.CheckMFA() // what verify.RequireMFA applies
	}
	oneFactor := e.token(tokenClaims{Sub: "carol", ClientID: "web", Scope: "x", AMR: []string{"pwd"}, ACR: auth.ACRPassword})
	tok1, _, err := internal(oneFactor)
	if err == nil {
		t.Fatal("an upstream requiring MFA accepted a one-factor sign-in")
	}
	var c struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
	}
	decodePayload(t, tok1, &c)
	if !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != auth.ACRPassword {
		t.Fatalf("one factor: amr %v acr %q", c.AMR, c.ACR)
	}
	twoFactors := e.token(tokenClaims{Sub: "carol", ClientID: "web", Scope: "x", AMR: []string{"mfa", "otp", "pwd"}, ACR: auth.ACRMFA})
	tok2, claims, err := internal(twoFactors)
	if err != nil || tok2 == tok1 {
		t.Fatalf("two factors: %v (same token as one factor: %v)", err, tok2 == tok1)
	}
	if !slices.Equal(claims.AMR, []string{"mfa", "otp", "pwd"}) || claims.ACR != auth.ACRMFA {
		t.Fatalf("two factors: %+v", claims)
	}
	// And back: the one-factor caller still gets the one-factor token.
	if tok, _, _ := internal(oneFactor); tok != tok1 {
		t.Fatal("the one-factor caller got another token")
	}
	_, key := e.createKey("svc", []string{"a"}, auth.RateLimit{})
	got := echoOf(t, e.do("GET", "/in", "X-API-Key", key))
	tok, _ := strings.CutPrefix(got.Header.Get("Authorization"), "Bearer ")
	c.AMR, c.ACR = nil, ""
	decodePayload(t, tok, &c)
	if c.AMR != nil || c.ACR != "" {
		t.Fatalf("API key caller: amr %v acr %q", c.AMR, c.ACR)
	}
}
