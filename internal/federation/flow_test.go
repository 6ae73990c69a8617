package federation

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestOIDCSignInCreatesTheAccountJustInTime(t *testing.T) {
	t.Parallel()
	f, e := newFakeIdP(t), newEnv(t, false)
	e.addOIDC(f, nil)
	authURL, cookie := e.start("idp", Pending{Purpose: PurposeLogin, Request: "client_id=x"})
	u, _ := url.Parse(authURL)
	q := u.Query()
	for k, want := range map[string]string{
		"response_type": "code", "client_id": fakeClientID, "code_challenge_method": "S256",
		"redirect_uri": "https://gatehouse.example/oauth2/providers/idp/callback", "scope": "openid email profile",
	} {
		if q.Get(k) != want {
			t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("state")) < 43 || len(q.Get("nonce")) < 43 || len(q.Get("code_challenge")) != 43 {
		t.Fatalf("state, nonce or challenge missing or short: %v", q)
	}
	code := f.issue(authURL, nil)
	res, err := e.callback("idp", url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {f.srv.URL}}, cookie)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending.Request != "client_id=x" || res.Identity.Subject != "up-123" || !res.Identity.EmailVerified {
		t.Fatalf("result %+v %+v", res.Pending, res.Identity)
	}
	user, how, err := e.svc.Resolve(t.Context(), res.Provider, res.Identity)
	if err != nil || how != ResolvedNew || user.Username != "ada" || user.Email != "ada@example.test" || user.PasswordHash != "" {
		t.Fatalf("Resolve = %+v, %q, %v", user, how, err)
	}
	// The second sign-in finds the link.
	again, how, err := e.svc.Resolve(t.Context(), res.Provider, res.Identity)
	if err != nil || how != ResolvedLink || again.ID != user.ID {
		t.Fatalf("second Resolve = %+v, %q, %v", again, how, err)
	}
	evs, _, _ := e.store.ListAuditEvents(t.Context(), auth.AuditFilter{Target: user.ID})
	types := []string{}
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if strings.Join(types, ",") != "user.created,user.provider_linked" {
		t.Fatalf("events of the new user: %v", types)
	}
}

// Attacks on the callback: each must be refused with its reason, and
// none may yield an identity.
func TestOIDCCallbackAttacks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		issParam bool
		shape    func(c map[string]any)
		query    func(q url.Values, f *fakeIdP)
		reason   string
	}{
		{name: "state of another flow (CSRF)", query: func(q url.Values, _ *fakeIdP) { q.Set("state", randomValue()) }, reason: ReasonStateMismatch},
		{name: "no state", query: func(q url.Values, _ *fakeIdP) { q.Del("state") }, reason: ReasonStateMismatch},
		{name: "nonce of another flow (replayed ID token)", shape: func(c map[string]any) { c["nonce"] = randomValue() }, reason: ReasonNonceMismatch},
		{name: "no nonce", shape: func(c map[string]any) { delete(c, "nonce") }, reason: ReasonNonceMismatch},
		{name: "ID token for another audience", shape: func(c map[string]any) { c["aud"] = "another-client" }, reason: ReasonInvalidIDToken},
		{name: "ID token with us among audiences but azp another", shape: func(c map[string]any) {
			c["aud"] = []string{fakeClientID, "another-client"}
			c["azp"] = "another-client"
		}, reason: ReasonInvalidIDToken},
		{name: "ID token with several audiences and no azp", shape: func(c map[string]any) { c["aud"] = []string{fakeClientID, "x"} }, reason: ReasonInvalidIDToken},
		{name: "ID token from another issuer", shape: func(c map[string]any) { c["iss"] = "https://evil.example" }, reason: ReasonInvalidIDToken},
		{name: "expired ID token", shape: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, reason: ReasonInvalidIDToken},
		{name: "iss parameter of another provider (RFC 9207 mix-up)", query: func(q url.Values, _ *fakeIdP) { q.Set("iss", "https://evil.example") }, reason: ReasonIssuerMismatch},
		{name: "iss parameter missing though promised (RFC 9207)", issParam: true, query: func(q url.Values, _ *fakeIdP) { q.Del("iss") }, reason: ReasonIssuerMismatch},
		{name: "code injection: a code issued to another flow", query: func(q url.Values, f *fakeIdP) {
			// The attacker's own code, bound to the attacker's PKCE challenge.
			q.Set("code", f.issue("https://x/?code_challenge=attackers-challenge&nonce=n", nil))
		}, reason: ReasonExchangeFailed},
		{name: "error from the upstream", query: func(q url.Values, _ *fakeIdP) { q.Del("code"); q.Set("error", "access_denied") }, reason: ReasonUpstreamError},
		{name: "parameter twice", query: func(q url.Values, _ *fakeIdP) { q.Add("code", "second") }, reason: ReasonInvalidIdentity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, e := newFakeIdP(t), newEnv(t, false)
			f.issParam = tc.issParam
			e.addOIDC(f, nil)
			authURL, cookie := e.start("idp", Pending{Purpose: PurposeLogin})
			q := url.Values{"code": {f.issue(authURL, tc.shape)}, "state": {stateOf(t, authURL)}, "iss": {f.srv.URL}}
			if tc.query != nil {
				tc.query(q, f)
			}
			res, err := e.callback("idp", q, cookie)
			if res != nil {
				t.Fatalf("the attack yielded %+v", res.Identity)
			}
			wantReason(t, err, tc.reason)
		})
	}
}

func TestCallbackWithoutOrWithAForeignFlowCookie(t *testing.T) {
	t.Parallel()
	f, e := newFakeIdP(t), newEnv(t, false)
	e.addOIDC(f, nil)
	authURL, cookie := e.start("idp", Pending{Purpose: PurposeLogin})
	q := url.Values{"code": {f.issue(authURL, nil)}, "state": {stateOf(t, authURL)}}
	_, err := e.callback("idp", q, nil)
	wantReason(t, err, ReasonNoPending)
	forged := *cookie
	forged.Value = cookie.Value[:len(cookie.Value)-2] + "AA"
	_, err = e.callback("idp", q, &forged)
	wantReason(t, err, ReasonNoPending)
	// A flow started for one provider does not finish at another's
	// callback.
	e.addOIDC(f, func(in *Input) { in.Name = "other" })
	_, err = e.callback("other", q, cookie)
	wantReason(t, err, ReasonStateMismatch)
	// A flow that outlived FlowTTL.
	e.svc.now = func() time.Time { return time.Now().Add(time.Hour) }
	_, err = e.callback("idp", q, cookie)
	wantReason(t, err, ReasonExpired)
}

func TestResolveByEmail(t *testing.T) {
	t.Parallel()
	id := func(verified bool) *Identity {
		return &Identity{Provider: "idp", Subject: "up-9", Username: "mallory", Email: "victim@example.test", EmailVerified: verified}
	}
	t.Run("unverified upstream address never links to the account that has it", func(t *testing.T) {
		t.Parallel()
		f, e := newFakeIdP(t), newEnv(t, true)
		p := e.addOIDC(f, nil)
		victim := mustUser(t, e.store, "usr_victim", "victim", "victim@example.test", true)
		u, how, err := e.svc.Resolve(t.Context(), p, id(false))
		if err != nil || u.ID == victim.ID || how != ResolvedNew {
			t.Fatalf("Resolve = %+v, %q, %v; want a new account", u, how, err)
		}
		if u.Email != "" {
			t.Fatalf("the new account took the unverified address %q", u.Email)
		}
	})
	t.Run("verified upstream address links only when the operator allows it", func(t *testing.T) {
		t.Parallel()
		f, e := newFakeIdP(t), newEnv(t, false)
		p := e.addOIDC(f, nil)
		victim := mustUser(t, e.store, "usr_victim", "victim", "victim@example.test", true)
		u, _, err := e.svc.Resolve(t.Context(), p, id(true))
		if err != nil || u.ID == victim.ID || u.Email != "" {
			t.Fatalf("Resolve = %+v, %v; want a new account without the address", u, err)
		}
	})
	t.Run("verified address and link_verified_email link to the one account", func(t *testing.T) {
		t.Parallel()
		f, e := newFakeIdP(t), newEnv(t, true)
		p := e.addOIDC(f, func(in *Input) { in.TrustEmail = ptr(true) })
		owner := mustUser(t, e.store, "usr_owner", "owner", "Victim@Example.test", true)
		u, how, err := e.svc.Resolve(t.Context(), p, id(true))
		if err != nil || u.ID != owner.ID || how != ResolvedEmail {
			t.Fatalf("Resolve = %+v, %q, %v", u, how, err)
		}
	})
	t.Run("the server switch alone does not trust a provider's addresses", func(t *testing.T) {
		// Provider "idp" is trusted by the operator, "other" is not: the
		// same verified address links through the first only.
		t.Parallel()
		f, e := newFakeIdP(t), newEnv(t, true)
		untrusted := e.addOIDC(f, func(in *Input) { in.Name = "other" })
		trusted := e.addOIDC(f, func(in *Input) { in.TrustEmail = ptr(true) })
		if untrusted.TrustEmail || !trusted.TrustEmail {
			t.Fatalf("TrustEmail: untrusted %v, trusted %v", untrusted.TrustEmail, trusted.TrustEmail)
		}
		owner := mustUser(t, e.store, "usr_owner", "owner", "victim@example.test", true)
		other := *id(true)
		other.Provider = "other"
		u, how, err := e.svc.Resolve(t.Context(), untrusted, &other)
		if err != nil || u.ID == owner.ID || how != ResolvedNew || u.Email != "" {
			t.Fatalf("untrusted provider: Resolve = %+v, %q, %v; want a new account without the address", u, how, err)
		}
		u, how, err = e.svc.Resolve(t.Context(), trusted, id(true))
		if err != nil || u.ID != owner.ID || how != ResolvedEmail {
			t.Fatalf("trusted provider: Resolve = %+v, %q, %v; want the owner", u, how, err)
		}
	})
	t.Run("a plain OAuth 2.0 provider is not trusted unless the operator says so", func(t *testing.T) {
		t.Parallel()
		f, e := newFakeIdP(t), newEnv(t, true)
		p := e.addOIDC(f, func(in *Input) {
			in.Kind = ptr(auth.ProviderOAuth2)
			in.AuthorizationURL, in.TokenURL, in.UserinfoURL = ptr(f.srv.URL+"/authorize"), ptr(f.srv.URL+"/token"), ptr(f.srv.URL+"/userinfo")
			in.ClaimMapping = &map[string]string{"email_verified": "verified"}
		})
		owner := mustUser(t, e.store, "usr_owner", "owner", "victim@example.test", true)
		u, how, err := e.svc.Resolve(t.Context(), p, id(true))
		if err != nil || u.ID == owner.ID || how != ResolvedNew {
			t.Fatalf("Resolve = %+v, %q, %v; want a new account", u, how, err)
		}
		p, err = e.svc.Update(t.Context(), "key_admin", Input{Name: "idp", TrustEmail: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := e.svc.Get(t.Context(), "idp")
		if !got.TrustEmail {
			t.Fatal("TrustEmail was not stored")
		}
		other := *id(true)
		other.Subject = "up-10"
		u, how, err = e.svc.Resolve(t.Context(), p, &other)
		if err != nil || u.ID != owner.ID || how != ResolvedEmail {
			t.Fatalf("after trust_email: Resolve = %+v, %q, %v; want the owner", u, how, err)
		}
	})
	t.Run("a local address not verified is not linked to", func(t *testing.T) {
		t.Parallel()
		f, e := newFakeIdP(t), newEnv(t, true)
		p := e.addOIDC(f, func(in *Input) { in.TrustEmail = ptr(true) })
		other := mustUser(t, e.store, "usr_other", "other", "victim@example.test", false)
		u, _, err := e.svc.Resolve(t.Context(), p, id(true))
		if err != nil || u.ID == other.ID {
			t.Fatalf("Resolve = %+v, %v", u, err)
		}
	})
}

func TestJITUsernameCollisionNeverTakesTheOtherAccount(t *testing.T) {
	t.Parallel()
	f, e := newFakeIdP(t), newEnv(t, false)
	p := e.addOIDC(f, nil)
	ada := mustUser(t, e.store, "usr_ada", "ada", "", false)
	u, how, err := e.svc.Resolve(t.Context(), p, &Identity{Provider: "idp", Subject: "s1", Username: "ADA"})
	if err != nil || how != ResolvedNew || u.ID == ada.ID || !strings.HasPrefix(u.Username, "ADA-") {
		t.Fatalf("Resolve = %+v, %q, %v", u, how, err)
	}
	// A username claim that is no valid username falls back to the
	// provider and subject.
	u, _, err = e.svc.Resolve(t.Context(), p, &Identity{Provider: "idp", Subject: "s2", Username: "\u00e9\u00e9"})
	if err != nil || u.Username != "idp-s2" {
		t.Fatalf("Resolve = %+v, %v", u, err)
	}
}

func TestUnknownIdentityWithoutAccountCreationMustBeLinkedFirst(t *testing.T) {
	t.Parallel()
	f, e := newFakeIdP(t), newEnv(t, false)
	p := e.addOIDC(f, func(in *Input) { in.CreateUsers = ptr(false) })
	id := &Identity{Provider: "idp", Subject: "s1", Username: "ada"}
	_, _, err := e.svc.Resolve(t.Context(), p, id)
	wantReason(t, err, ReasonNotLinked)
	if !strings.Contains(MessageOf(err), "Sign in with your password") {
		t.Fatalf("message %q", MessageOf(err))
	}
	ada := mustUser(t, e.store, "usr_ada", "ada", "", false)
	if err := e.svc.Link(t.Context(), ada.ID, p, id); err != nil {
		t.Fatal(err)
	}
	u, how, err := e.svc.Resolve(t.Context(), p, id)
	if err != nil || u.ID != ada.ID || how != ResolvedLink {
		t.Fatalf("Resolve after linking = %+v, %q, %v", u, how, err)
	}
	// The identity cannot be linked to a second account.
	bob := mustUser(t, e.store, "usr_bob", "bob", "", false)
	wantReason(t, e.svc.Link(t.Context(), bob.ID, p, id), ReasonLinkedElsewhere)
}

func TestUnlinkRefusesTheLastWayToSignIn(t *testing.T) {
	t.Parallel()
	f, e := newFakeIdP(t), newEnv(t, false)
	p := e.addOIDC(f, nil)
	u, _, err := e.svc.Resolve(t.Context(), p, &Identity{Provider: "idp", Subject: "s1", Username: "fed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unlink(t.Context(), u.ID, "idp"); auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("Unlink of the only way in = %v, want ECONFLICT", err)
	}
	ada := mustUser(t, e.store, "usr_ada", "ada", "", false)
	if err := e.svc.Link(t.Context(), ada.ID, p, &Identity{Provider: "idp", Subject: "s2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unlink(t.Context(), ada.ID, "idp"); err != nil {
		t.Fatalf("Unlink of a user with a password: %v", err)
	}
	if err := e.svc.Unlink(t.Context(), ada.ID, "idp"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("second Unlink = %v", err)
	}
}

func TestStartRefusesUnknownOrDisabledProviders(t *testing.T) {
	t.Parallel()
	f, e := newFakeIdP(t), newEnv(t, false)
	e.addOIDC(f, func(in *Input) { in.Enabled = ptr(false) })
	for _, name := range []string{"idp", "nope", "../x"} {
		if _, err := e.svc.Start(t.Context(), httptest.NewRecorder(), name, Pending{}); auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Errorf("Start(%q) = %v, want ENOTFOUND", name, err)
		}
	}
	if _, err := e.svc.Start(t.Context(), httptest.NewRecorder(), "idp", Pending{Request: strings.Repeat("x", 5000)}); err == nil {
		t.Error("Start took a request too large for the cookie")
	}
}

func TestClientSecretIsSealedAtRest(t *testing.T) {
	t.Parallel()
	f, e := newFakeIdP(t), newEnv(t, false)
	e.addOIDC(f, nil)
	p, err := e.store.GetProvider(t.Context(), "idp")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ClientSecret) == 0 || strings.Contains(string(p.ClientSecret), f.secret) {
		t.Fatalf("stored secret %q", p.ClientSecret)
	}
	// Sealed for its provider: copied to another row, it does not open.
	p.Name = "copy"
	if _, err := e.svc.clientSecret(p); err == nil {
		t.Fatal("a secret copied to another provider opened")
	}
}

func TestAdminValidation(t *testing.T) {
	t.Parallel()
	_, e := newFakeIdP(t), newEnv(t, false)
	for name, in := range map[string]Input{
		"bad name":              {Name: "Bad", Issuer: ptr("https://x.example"), ClientID: ptr("c")},
		"http issuer":           {Name: "a", Issuer: ptr("http://x.example"), ClientID: ptr("c")},
		"no client":             {Name: "a", Issuer: ptr("https://x.example")},
		"oidc without openid":   {Name: "a", Issuer: ptr("https://x.example"), ClientID: ptr("c"), Scopes: ptr([]string{"email"})},
		"oauth2 without URLs":   {Name: "a", Kind: ptr(auth.ProviderOAuth2), Issuer: ptr("https://x.example"), ClientID: ptr("c")},
		"unknown mapping key":   {Name: "a", Issuer: ptr("https://x.example"), ClientID: ptr("c"), ClaimMapping: ptr(map[string]string{"role": "x"})},
		"bad auth method":       {Name: "a", Issuer: ptr("https://x.example"), ClientID: ptr("c"), AuthMethod: ptr("none")},
		"fragment in token URL": {Name: "a", Issuer: ptr("https://x.example"), ClientID: ptr("c"), TokenURL: ptr("https://x.example/t#f")},
	} {
		if _, err := e.svc.Create(t.Context(), "key_admin", in); auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("%s: Create = %v, want EINVALID", name, err)
		}
	}
	_ = http.StatusOK
}
