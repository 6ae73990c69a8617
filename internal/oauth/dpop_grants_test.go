package oauth

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
)

// TestDPoPBindsDeviceGrantTokens polls the device grant with DPoP proofs:
// the access token and the public client's refresh token are bound to the
// key, and a refresh with a proof of another key is refused.
func TestDPoPBindsDeviceGrantTokens(t *testing.T) {
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.deviceClient(true)
	ts.mustUser("alice")
	dc := ts.dpopClient(jose.ES256)
	other := ts.dpopClient(jose.EdDSA)

	da := ts.deviceAuth(c, "openid offline_access")
	newBrowser(t, ts).approveDevice(t, ts.URL+PathDevice, da["user_code"].(string), "alice", "allow")
	ts.Clock.Add(6 * time.Second)
	poll := url.Values{"grant_type": {auth.GrantDeviceCode}, "client_id": {c.ID}, "device_code": {da["device_code"].(string)}}
	tok := decode(t, ts.postDPoP(PathToken, poll, ts.tokenProof(dc, dpoptest.Options{})), http.StatusOK)
	if tok["token_type"] != "DPoP" {
		t.Fatalf("token_type %v, want DPoP", tok["token_type"])
	}
	claims, err := ts.verifyAccess(tok["access_token"].(string), "")
	if err != nil || claims.JKT != dc.JKT() {
		t.Fatalf("access token cnf.jkt %q (%v), want %q", claims.JKT, err, dc.JKT())
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {c.ID}, "refresh_token": {tok["refresh_token"].(string)}}
	wantError(t, ts.postDPoP(PathToken, refresh, ts.tokenProof(other, dpoptest.Options{})), http.StatusBadRequest, CodeInvalidGrant)
	wantError(t, ts.post(PathToken, refresh), http.StatusBadRequest, CodeInvalidDPoPProof)
	decode(t, ts.postDPoP(PathToken, refresh, ts.tokenProof(dc, dpoptest.Options{})), http.StatusOK)
}

// TestDPoPBindsExchangedTokens exchanges a token with a DPoP proof: the
// exchanged token is bound to the exchanging client's key.
func TestDPoPBindsExchangedTokens(t *testing.T) {
	ts := newTestServer(t)
	caller, callerSecret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	cc := decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, caller.ID, callerSecret), http.StatusOK)
	svc, secret := ts.exchangeClient(nil)
	dc := ts.dpopClient(jose.ES256)
	form := url.Values{"grant_type": {auth.GrantTokenExchange},
		"subject_token": {cc["access_token"].(string)}, "subject_token_type": {TokenTypeAccessToken}}
	m := decode(t, ts.postDPoP(PathToken, form, ts.tokenProof(dc, dpoptest.Options{}), svc.ID, secret), http.StatusOK)
	if m["token_type"] != "DPoP" || m["issued_token_type"] != TokenTypeAccessToken {
		t.Fatalf("response %v", m)
	}
	claims, err := ts.verifyAccess(m["access_token"].(string), audB)
	if err != nil || claims.JKT != dc.JKT() {
		t.Fatalf("exchanged token cnf.jkt %q (%v), want %q", claims.JKT, err, dc.JKT())
	}
	// Without a proof, the exchange issues a bearer token, as before.
	m = decode(t, ts.exchange(svc, secret, url.Values{"subject_token": form["subject_token"], "subject_token_type": form["subject_token_type"]}), http.StatusOK)
	if m["token_type"] != "Bearer" {
		t.Fatalf("token_type %v without a proof", m["token_type"])
	}
}
