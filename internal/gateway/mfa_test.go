package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// mfaChallenge is the RFC 9470 challenge of a route that requires a
// second factor.
const mfaChallenge = `Bearer realm="gatehouse", error="insufficient_user_authentication", error_description="A sign-in with a second factor is required.", acr_values="urn:gatehouse:acr:mfa"`

// TestMFAConstantsAgree: the verify package (public, standard library
// only) spells the rule's values itself; they are the domain's.
func TestMFAConstantsAgree(t *testing.T) {
	if verify.ACRMFA != auth.ACRMFA || verify.AMRMFA != auth.AMRMFA {
		t.Fatalf("verify %q %q, auth %q %q", verify.ACRMFA, verify.AMRMFA, auth.ACRMFA, auth.AMRMFA)
	}
	if !strings.Contains(mfaChallenge, `acr_values="`+auth.ACRMFA+`"`) {
		t.Fatal("the challenge asks for another class")
	}
}

func wantMFARefusal(t *testing.T, resp *http.Response, challenge string) {
	t.Helper()
	wantStatus(t, resp, http.StatusUnauthorized)
	if got := resp.Header.Get("WWW-Authenticate"); got != challenge {
		t.Errorf("WWW-Authenticate %q\nwant %q", got, challenge)
	}
	var p struct{ Type string }
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p.Type != "urn:gatehouse:problem:insufficient_user_authentication" {
		t.Errorf("problem type %q: %v", p.Type, err)
	}
}

func TestRequireMFARoutes(t *testing.T) {
	e := newTestEnv(t)
	jwtMFA := e.route("jwt-mfa", "/pay", auth.PolicyJWT)
	jwtMFA.RequireMFA = true
	jwtMFA.Scopes = []string{"pay"}
	anyMFA := e.route("any-mfa", "/admin", auth.PolicyAny)
	anyMFA.RequireMFA = true
	plain := e.route("plain", "/orders", auth.PolicyJWT)
	e.setRoutes(jwtMFA, anyMFA, plain)

	twoFactors := e.token(tokenClaims{Sub: "alice", ClientID: "web", Scope: "pay", AMR: []string{"mfa", "otp", "pwd"}, ACR: auth.ACRMFA})
	passkey := e.token(tokenClaims{Sub: "alice", ClientID: "web", Scope: "pay", AMR: []string{"hwk", "mfa", "user"}})
	acrOnly := e.token(tokenClaims{Sub: "alice", ClientID: "web", Scope: "pay", ACR: auth.ACRMFA})
	password := e.token(tokenClaims{Sub: "alice", ClientID: "web", Scope: "pay", AMR: []string{"pwd"}, ACR: auth.ACRPassword})
	// Two methods the issuer did not call independent factors: the
	// gateway does not infer "mfa" itself.
	twoMethods := e.token(tokenClaims{Sub: "alice", ClientID: "web", Scope: "pay", AMR: []string{"otp", "pwd"}})
	clientOnly := e.token(tokenClaims{Sub: "svc", ClientID: "svc", Scope: "pay"})

	t.Run("tokens of a sign-in with two factors pass", func(t *testing.T) {
		for name, tok := range map[string]string{"amr and acr": twoFactors, "passkey": passkey, "acr alone": acrOnly} {
			for _, path := range []string{"/pay/x", "/admin/x"} {
				got := echoOf(t, e.do("GET", path, "Authorization", "Bearer "+tok))
				if got.Header.Get(HeaderSubject) != "alice" {
					t.Errorf("%s on %s: subject %q", name, path, got.Header.Get(HeaderSubject))
				}
			}
		}
	})
	t.Run("the others get 401 with RFC 9470's challenge and reach no upstream", func(t *testing.T) {
		n := e.upstream.count()
		for name, tok := range map[string]string{"password": password, "two methods without mfa": twoMethods, "client credentials": clientOnly} {
			for _, path := range []string{"/pay/x", "/admin/x"} {
				t.Run(name+" "+path, func(t *testing.T) {
					wantMFARefusal(t, e.do("GET", path, "Authorization", "Bearer "+tok), mfaChallenge)
				})
			}
		}
		if e.upstream.count() != n {
			t.Error("a refused request reached the upstream")
		}
	})
	t.Run("the requirement is the route's: the same token passes elsewhere", func(t *testing.T) {
		echoOf(t, e.do("GET", "/orders/x", "Authorization", "Bearer "+password))
	})
	t.Run("step-up is asked before a missing scope", func(t *testing.T) {
		noScope := e.token(tokenClaims{Sub: "alice", ClientID: "web", AMR: []string{"pwd"}})
		wantMFARefusal(t, e.do("GET", "/pay/x", "Authorization", "Bearer "+noScope), mfaChallenge)
		mfaNoScope := e.token(tokenClaims{Sub: "alice", ClientID: "web", AMR: []string{"mfa"}})
		wantStatus(t, e.do("GET", "/pay/x", "Authorization", "Bearer "+mfaNoScope), http.StatusForbidden)
	})
	t.Run("claims forged into a token of another key are not read", func(t *testing.T) {
		parts := strings.Split(password, ".")
		other := strings.Split(twoFactors, ".")
		forged := parts[0] + "." + other[1] + "." + parts[2]
		resp := e.do("GET", "/pay/x", "Authorization", "Bearer "+forged)
		wantStatus(t, resp, http.StatusUnauthorized)
		if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="gatehouse", error="invalid_token"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
	})
	t.Run("an expired token with mfa is still expired", func(t *testing.T) {
		old := e.token(tokenClaims{Sub: "alice", ClientID: "web", Scope: "pay", AMR: []string{"mfa"}, TTL: time.Minute})
		e.clock.Add(2 * time.Minute)
		resp := e.do("GET", "/pay/x", "Authorization", "Bearer "+old)
		wantStatus(t, resp, http.StatusUnauthorized)
		if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate %q", got)
		}
	})
	t.Run("the refusals are counted under their reason", func(t *testing.T) {
		c, err := e.gw.metrics.refusals.GetMetricWithLabelValues("jwt-mfa", string(verify.ReasonInsufficientUserAuthentication))
		if err != nil || value(t, c) == 0 {
			t.Errorf("refusals of jwt-mfa: %v", err)
		}
	})
}

// An API key proves no one's sign-in: on an any route that requires a
// second factor it is refused like a one-factor token, before it is looked
// up, so it spends none of its rate limit and is not recorded as a use.
func TestRequireMFARefusesAPIKeys(t *testing.T) {
	e := newTestEnv(t)
	anyMFA := e.route("any-mfa", "/admin", auth.PolicyAny)
	anyMFA.RequireMFA = true
	e.setRoutes(anyMFA, e.route("keys", "/keys", auth.PolicyAPIKey))
	k, key := e.createKey("svc", nil, auth.RateLimit{Rate: 0.001, Burst: 2})

	n := e.upstream.count()
	for range 2 {
		wantMFARefusal(t, e.do("GET", "/admin/x", "X-API-Key", key), mfaChallenge)
		wantMFARefusal(t, e.do("GET", "/admin/x", "Authorization", "Bearer "+key), mfaChallenge)
	}
	if e.upstream.count() != n {
		t.Error("a refused key reached the upstream")
	}
	if n := verifications(t, e, apikey.CodeValid); n != 0 {
		t.Errorf("%v refusals counted as valid verifications", n)
	}
	if err := e.keys.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, err := e.keys.Get(context.Background(), k.ID); err != nil || !got.LastUsedAt.IsZero() {
		t.Fatalf("last used %v after refusals only (%v)", got.LastUsedAt, err)
	}
	// The whole bucket is still there.
	for i, want := range []string{"1", "0"} {
		resp := e.do("GET", "/keys/x", "X-API-Key", key)
		wantStatus(t, resp, http.StatusOK)
		if got := resp.Header.Get("RateLimit-Remaining"); got != want {
			t.Errorf("request %d: RateLimit-Remaining %q, want %q", i, got, want)
		}
	}
}

// A DPoP-bound token of a one-factor sign-in, with a good proof, is
// refused in the DPoP scheme like the gateway's other DPoP refusals.
func TestRequireMFAWithDPoP(t *testing.T) {
	e := newTestEnv(t, withDPoP(nil))
	r := e.route("jwt-mfa", "/pay", auth.PolicyJWT)
	r.RequireMFA = true
	e.setRoutes(r)
	dc := e.dpopClient()
	bound := func(amr ...string) string {
		now := e.clock.Now()
		tok, err := e.keyring.Sign("at+jwt", verify.Claims{
			Issuer: testIssuer, Subject: "usr_1", ClientID: "cli_1", ID: "jti-" + strings.Join(amr, "-"),
			IssuedAt: now, ExpiresAt: now.Add(time.Hour), JKT: dc.JKT(), AMR: amr,
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	one, two := bound("pwd"), bound("mfa", "otp", "pwd")
	proof := func(tok string) string {
		return dc.Proof("GET", testPublicURL+"/pay/x", dpoptest.Options{AccessToken: tok})
	}
	wantStatus(t, e.do("GET", "/pay/x", "Authorization", "DPoP "+two, "DPoP", proof(two)), http.StatusOK)
	wantMFARefusal(t, e.do("GET", "/pay/x", "Authorization", "DPoP "+one, "DPoP", proof(one)),
		`DPoP realm="gatehouse", error="insufficient_user_authentication", error_description="A sign-in with a second factor is required.", acr_values="urn:gatehouse:acr:mfa", `+gatewayDPoPAlgs)
	// Without a proof the binding fails first: no hint about the sign-in
	// is given to a holder who cannot prove the key.
	resp := e.do("GET", "/pay/x", "Authorization", "DPoP "+one)
	wantStatus(t, resp, http.StatusUnauthorized)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_dpop_proof"`) {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

// Another provider's tokens satisfy a route's require_mfa by the same
// rule: their amr holds "mfa".
func TestRequireMFAOfAnotherIssuer(t *testing.T) {
	e := newTestEnv(t)
	idp := newTestIdP(t)
	ext := e.route("partner", "/partner", auth.PolicyJWT)
	ext.Issuer, ext.Audience, ext.AnyAudience, ext.RequireMFA = idp.URL, "partner-api", false, true
	e.setRoutes(ext)
	withMFA := idp.token(t, e.clock.Now(), map[string]any{"sub": "u", "aud": "partner-api", "amr": []string{"pwd", "mfa"}})
	echoOf(t, e.doOnceKeysFetched("GET", "/partner/x", "Authorization", "Bearer "+withMFA))
	withoutMFA := idp.token(t, e.clock.Now(), map[string]any{"sub": "u", "aud": "partner-api", "amr": []string{"pwd"}, "acr": "1"})
	wantMFARefusal(t, e.do("GET", "/partner/x", "Authorization", "Bearer "+withoutMFA), mfaChallenge)
}

// TestRequireMFAAllocatesNothing: the check costs a route nothing on the
// hot path: a verified (cached) token passes a require_mfa route with the
// allocations it needs on a route without it.
func TestRequireMFAAllocatesNothing(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need the race detector off")
	}
	e := newTestEnv(t)
	with := e.route("with", "/with", auth.PolicyJWT)
	with.RequireMFA = true
	e.setRoutes(with, e.route("without", "/without", auth.PolicyJWT))
	tok := e.token(tokenClaims{Sub: "alice", ClientID: "web", AMR: []string{"mfa", "otp", "pwd"}})
	allocs := func(path string) float64 {
		t.Helper()
		tbl := e.gw.table.Load()
		rt, _ := tbl.match("", path, http.MethodGet)
		if rt == nil {
			t.Fatalf("no route for %s", path)
		}
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		var id identity
		if err := e.gw.checkJWT(r, rt, &id); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return testing.AllocsPerRun(200, func() {
			id = identity{}
			if err := e.gw.checkJWT(r, rt, &id); err != nil {
				t.Fatal(err)
			}
		})
	}
	without, withMFA := allocs("/without/x"), allocs("/with/x")
	if withMFA != without {
		t.Errorf("a require_mfa route allocates %.1f times per token, one without %.1f", withMFA, without)
	}
}
