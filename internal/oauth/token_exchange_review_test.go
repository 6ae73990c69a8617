package oauth

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/accesstoken"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// clientToken is a client-credentials token of c, bound to dc's key if dc
// is not nil.
func (ts *testServer) clientToken(t *testing.T, c *auth.Client, secret string, dc *dpoptest.Client) string {
	t.Helper()
	var proofs []string
	if dc != nil {
		proofs = ts.tokenProof(dc, dpoptest.Options{})
	}
	m := decode(t, ts.postDPoP(PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, proofs, c.ID, secret), http.StatusOK)
	return m["access_token"].(string)
}

// The attack: client A names another party as the actor with that
// party's token of this server, and drops itself from the act chain.
func TestTokenExchangeActorSpoofing(t *testing.T) {
	ts := newTestServer(t)
	u := ts.mustUser("erin")
	userTok, _, _ := ts.userToken(u, "read")
	svcA, secretA := ts.exchangeClient(nil)
	svcB, secretB := ts.exchangeClient(nil)
	tokB := ts.clientToken(t, svcB, secretB, nil)
	exchange := func(actor string) *http.Response {
		return ts.exchange(svcA, secretA, url.Values{"subject_token": {userTok}, "subject_token_type": {TokenTypeAccessToken},
			"actor_token": {actor}, "actor_token_type": {TokenTypeAccessToken}})
	}
	t.Run("another client's token as the actor", func(t *testing.T) {
		wantError(t, exchange(tokB), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("the user's own token as the actor", func(t *testing.T) {
		wantError(t, exchange(userTok), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("a token B exchanged for itself", func(t *testing.T) {
		// sub is B, but the client is A: still B's token, not A's.
		m := decode(t, ts.exchange(svcA, secretA, url.Values{"subject_token": {tokB}, "subject_token_type": {TokenTypeAccessToken}}), http.StatusOK)
		wantError(t, exchange(m["access_token"].(string)), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("the client's own token names the client", func(t *testing.T) {
		m := decode(t, exchange(ts.clientToken(t, svcA, secretA, nil)), http.StatusOK)
		c, err := ts.verifyAccess(m["access_token"].(string), audB)
		if err != nil || c.Actor == nil || *c.Actor != (verify.Actor{Subject: svcA.ID}) {
			t.Fatalf("claims %+v act %+v, %v", c, c.Actor, err)
		}
	})
	t.Run("a trusted issuer's actor token nests below the client", func(t *testing.T) {
		idp := newExchangeIdP(t)
		trusting, trustingSecret := ts.exchangeClient(func(in *client.Input) { in.ExchangeIssuers = []string{idp.URL} })
		m := decode(t, ts.exchange(trusting, trustingSecret, url.Values{"subject_token": {userTok}, "subject_token_type": {TokenTypeAccessToken},
			"actor_token": {idp.token(t, "frontend", []string{trusting.ID}, "")}, "actor_token_type": {TokenTypeJWT}}), http.StatusOK)
		c, err := ts.verifyAccess(m["access_token"].(string), audB)
		want := &verify.Actor{Subject: trusting.ID, Actor: &verify.Actor{Subject: "frontend", Issuer: idp.URL}}
		if err != nil || !reflect.DeepEqual(c.Actor, want) {
			t.Fatalf("claims %+v act %+v, %v", c, c.Actor, err)
		}
		// One naming a client of ours would read as ours to a reader
		// that skips act.iss.
		wantError(t, ts.exchange(trusting, trustingSecret, url.Values{"subject_token": {userTok}, "subject_token_type": {TokenTypeAccessToken},
			"actor_token": {idp.token(t, svcB.ID, []string{trusting.ID}, "")}, "actor_token_type": {TokenTypeJWT}}), http.StatusBadRequest, CodeInvalidGrant)
	})
}

// The attack: a DPoP-bound token, stolen, exchanged without its key for
// a token that is not bound (or bound to the thief's key).
func TestTokenExchangeKeepsDPoPBinding(t *testing.T) {
	ts := newTestServer(t)
	caller, callerSecret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	owner := ts.dpopClient(jose.ES256)
	thief := ts.dpopClient(jose.ES256)
	bound := ts.clientToken(t, caller, callerSecret, owner)
	svc, secret := ts.exchangeClient(nil)
	form := func(subject, actor string) url.Values {
		f := url.Values{"grant_type": {auth.GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {TokenTypeAccessToken}}
		if actor != "" {
			f.Set("actor_token", actor)
			f.Set("actor_token_type", TokenTypeAccessToken)
		}
		return f
	}
	t.Run("a bound subject token without a proof", func(t *testing.T) {
		wantError(t, ts.postDPoP(PathToken, form(bound, ""), nil, svc.ID, secret), http.StatusBadRequest, CodeInvalidDPoPProof)
	})
	t.Run("a bound subject token with a proof of another key", func(t *testing.T) {
		wantError(t, ts.postDPoP(PathToken, form(bound, ""), ts.tokenProof(thief, dpoptest.Options{}), svc.ID, secret), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("a bound subject token with a proof of its key", func(t *testing.T) {
		m := decode(t, ts.postDPoP(PathToken, form(bound, ""), ts.tokenProof(owner, dpoptest.Options{}), svc.ID, secret), http.StatusOK)
		c, err := ts.verifyAccess(m["access_token"].(string), audB)
		if err != nil || c.JKT != owner.JKT() || m["token_type"] != "DPoP" {
			t.Fatalf("claims %+v, %v, response %v", c, err, m)
		}
	})
	t.Run("a bound actor token without a proof", func(t *testing.T) {
		plain := ts.clientToken(t, caller, callerSecret, nil)
		actor := ts.clientToken(t, svc, secret, owner)
		wantError(t, ts.postDPoP(PathToken, form(plain, actor), nil, svc.ID, secret), http.StatusBadRequest, CodeInvalidDPoPProof)
		wantError(t, ts.postDPoP(PathToken, form(plain, actor), ts.tokenProof(thief, dpoptest.Options{}), svc.ID, secret), http.StatusBadRequest, CodeInvalidGrant)
		decode(t, ts.postDPoP(PathToken, form(plain, actor), ts.tokenProof(owner, dpoptest.Options{}), svc.ID, secret), http.StatusOK)
	})
}

// The attack: two trusted issuers each have a subject "alice"; the tokens
// exchanged for them must not name one principal. And the exchanged
// token is active at introspection.
func TestTokenExchangeForeignSubjects(t *testing.T) {
	ts := newTestServer(t)
	idp1, idp2 := newExchangeIdP(t), newExchangeIdP(t)
	svc, secret := ts.exchangeClient(func(in *client.Input) { in.ExchangeIssuers = []string{idp1.URL, idp2.URL} })
	exchanged := func(idp *exchangeIdP, sub string) (string, *verify.Claims) {
		t.Helper()
		m := decode(t, ts.exchange(svc, secret, url.Values{"subject_token": {idp.token(t, sub, []string{svc.ID}, "read")},
			"subject_token_type": {TokenTypeAccessToken}}), http.StatusOK)
		tok := m["access_token"].(string)
		c, err := ts.verifyAccess(tok, audB)
		if err != nil {
			t.Fatal(err)
		}
		return tok, c
	}
	tok1, c1 := exchanged(idp1, "alice")
	_, c2 := exchanged(idp2, "alice")
	_, again := exchanged(idp1, "alice")
	if c1.Subject == c2.Subject || c1.Subject == "alice" || !strings.HasPrefix(c1.Subject, "ext_") || again.Subject != c1.Subject {
		t.Fatalf("subjects %q (idp1), %q (idp2), %q (idp1 again)", c1.Subject, c2.Subject, again.Subject)
	}
	wantSubID := map[string]any{"format": "iss_sub", "iss": idp1.URL, "sub": "alice"}
	if got := subIDClaim(t, tok1); !reflect.DeepEqual(got, wantSubID) {
		t.Errorf("sub_id %v, want %v", got, wantSubID)
	}
	t.Run("introspection says active, with sub_id", func(t *testing.T) {
		m := decode(t, ts.post(PathIntrospect, url.Values{"token": {tok1}}, svc.ID, secret), http.StatusOK)
		if m["active"] != true || m["sub"] != c1.Subject || !reflect.DeepEqual(m["sub_id"], wantSubID) {
			t.Fatalf("introspection %v", m)
		}
		decode(t, ts.post(PathRevoke, url.Values{"token": {tok1}}, svc.ID, secret), http.StatusOK)
		if introspectActive(t, ts, svc, secret, tok1) {
			t.Error("active after revocation")
		}
	})
	t.Run("exchanged again, it keeps its sub and sub_id", func(t *testing.T) {
		tok, _ := exchanged(idp1, "bob")
		svc2, secret2 := ts.exchangeClient(nil)
		m := decode(t, ts.exchange(svc2, secret2, url.Values{"subject_token": {tok}, "subject_token_type": {TokenTypeAccessToken}}), http.StatusOK)
		c, err := ts.verifyAccess(m["access_token"].(string), audB)
		if err != nil || c.Subject != foreignSubject(idp1.URL, "bob") {
			t.Fatalf("claims %+v, %v", c, err)
		}
		if got := subIDClaim(t, m["access_token"].(string)); !reflect.DeepEqual(got, map[string]any{"format": "iss_sub", "iss": idp1.URL, "sub": "bob"}) {
			t.Errorf("sub_id %v", got)
		}
	})
	t.Run("a foreign subject named like one of our users is not that user", func(t *testing.T) {
		u := ts.mustUser("frank")
		_, c := exchanged(idp1, u.ID)
		if c.Subject == u.ID || c.AuthTime != (time.Time{}) {
			t.Fatalf("claims %+v", c)
		}
	})
}

// subIDClaim is the sub_id claim of a token of ours, read without checks.
func subIDClaim(t *testing.T, token string) any {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m["sub_id"]
}

// The attack: an upstream behind the gateway takes the internal JWT it
// was sent (same issuer, same keys) to userinfo, introspection or the
// token exchange as if it were an access token of the server's.
func TestGatewayInternalTokensRefused(t *testing.T) {
	ts := newTestServer(t)
	u := ts.mustUser("grace")
	svc, secret := ts.exchangeClient(nil)
	mint := func(prefix string) string {
		now := ts.Clock.Now()
		tok, err := accesstoken.Sign(ts.Keys, &accesstoken.Exchange{
			Issuer: ts.URL, Subject: u.ID, ClientID: svc.ID, Audience: []string{"https://upstream.example"},
			Scope: "openid read", AuthTime: now, Actor: &verify.Actor{Subject: "gatehouse-gateway"},
			IssuedAt: now, ExpiresAt: now.Add(time.Minute), JTIPrefix: prefix, Auth: "jwt",
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Value
	}
	userinfoStatus := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+PathUserinfo, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	subject := func(tok string) url.Values {
		return url.Values{"subject_token": {tok}, "subject_token_type": {TokenTypeAccessToken}}
	}
	// The same token without the gateway's prefix passes everywhere: the
	// prefix is all that is refused.
	control := mint("")
	if st := userinfoStatus(control); st != http.StatusOK {
		t.Fatalf("control token at userinfo: %d", st)
	}
	if !introspectActive(t, ts, svc, secret, control) {
		t.Fatal("control token inactive")
	}
	decode(t, ts.exchange(svc, secret, subject(control)), http.StatusOK)

	internal := mint(accesstoken.InternalJTIPrefix)
	if st := userinfoStatus(internal); st != http.StatusUnauthorized {
		t.Errorf("internal token at userinfo: %d", st)
	}
	if introspectActive(t, ts, svc, secret, internal) {
		t.Error("internal token active at introspection")
	}
	wantError(t, ts.exchange(svc, secret, subject(internal)), http.StatusBadRequest, CodeInvalidGrant)
}
