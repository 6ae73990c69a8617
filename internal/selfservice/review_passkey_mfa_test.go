package selfservice

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/mfa"
	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/passkey/passkeytest"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
)

// factorHarness is a harness with the real TOTP and passkey services and
// the fake providers.
func factorHarness(t *testing.T) (*harness, *mfa.Service, *passkey.Service, *fakeProviders) {
	var totpSvc *mfa.Service
	var pk *passkey.Service
	fp := &fakeProviders{providers: []*auth.Provider{{Name: "acme", DisplayName: "Acme ID"}}, links: map[string][]*auth.ProviderLink{}}
	h := newHarness(t, func(c *Config) {
		c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1)
		var err error
		pk, err = passkey.New(passkey.Config{Issuer: c.Issuer, Store: c.Store.(passkey.Store), Users: c.Accounts, Hasher: c.Hasher, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Passkeys = pk
		key := make([]byte, 32)
		rand.Read(key)
		sealer, err := signing.NewSealer(signing.DeriveMasterKey(key))
		if err != nil {
			t.Fatal(err)
		}
		lim, _ := account.NewFactorLimiter(account.FactorConfig{Failures: 10, Window: time.Hour, Now: c.Now})
		totpSvc, err = mfa.New(mfa.Config{Store: c.Store.(*sqlite.DB), Sealer: sealer, Hasher: c.Hasher, Limiter: lim, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.TOTP = totpSvc
		c.Providers = fp
	})
	return h, totpSvc, pk, fp
}

// REVIEW (F2): a session with one factor (password alone, from before the
// app was set up; or "fed") of a user who has an authenticator app may
// not add a passkey — which used to upgrade it to "mfa" — and so cannot
// go on to remove the app.
func TestReviewOneFactorSessionAddsPasskeyThenRemovesTOTP(t *testing.T) {
	h, totpSvc, pk, _ := factorHarness(t)
	u := h.user("ada", "correct horse battery")
	enrolled(t, h, u)

	attacker, sess := h.signIn(u, auth.AMRPassword) // one factor only
	if _, page := h.get(attacker, pathPasskeys); strings.Contains(page, `data-passkey="register"`) {
		t.Fatalf("a one-factor session is offered the passkey form")
	}
	tok := h.srv.csrfToken(sess, purposePasskeyCreate)
	resp, out := h.postJSON(attacker, pathPasskeyBegin, tok, map[string]string{"name": "attacker"}, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(out["error"].(string), "second factor") {
		t.Fatalf("begin from a one-factor session: %d %v", resp.StatusCode, out)
	}
	resp, out = h.postJSON(attacker, pathPasskeyFinish, tok, map[string]any{"name": "attacker", "state": "x", "credential": map[string]string{}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("finish from a one-factor session: %d %v", resp.StatusCode, out)
	}
	if list, _ := pk.List(context.Background(), u.ID); len(list) != 0 {
		t.Fatalf("a passkey was added: %v", list)
	}
	if got := mustSession(t, h, attacker); !slices.Equal(got.AMR, []string{auth.AMRPassword}) {
		t.Fatalf("session amr %v", got.AMR)
	}
	resp, _ = h.post(attacker, totpPath+"/remove", url.Values{"csrf_token": {h.srv.csrfToken(sess, purposeTOTPRemove)}})
	if ok, _ := totpSvc.Enrolled(context.Background(), u.ID); !ok {
		t.Fatalf("a password-only session removed the authenticator app (status %d)", resp.StatusCode)
	}
	if last := h.sessions.signIns[len(h.sessions.signIns)-1]; resp.StatusCode != http.StatusSeeOther || !last.mfa {
		t.Fatalf("remove: %d, SignIn %+v", resp.StatusCode, last)
	}
}

// Every factor change of a user who has a second factor needs a recent
// sign-in with two factors: a fresh one-factor session is sent to sign in
// with a second factor (to the page of the form), and nothing changes.
func TestFactorChangesNeedTwoFactorsWhenTheUserHasOne(t *testing.T) {
	h, totpSvc, pk, fp := factorHarness(t)
	u := h.user("ada", "correct horse battery")
	enrolled(t, h, u)
	strong, strongSess := h.signIn(u, auth.AMRPassword, auth.AMROTP)
	h.addPasskey(strong, &passkeytest.Authenticator{Origin: h.srv.origin, UserVerified: true}, "mine", "")
	// Adding a second factor did not change the two-factor session.
	if got := mustSession(t, h, strong); !slices.Equal(got.AMR, strongSess.AMR) {
		t.Fatalf("session amr after a second enrolment %v, want %v", got.AMR, strongSess.AMR)
	}
	list, _ := pk.List(context.Background(), u.ID)
	fp.links[u.ID] = []*auth.ProviderLink{{Provider: "acme", Subject: "1", UserID: u.ID}}

	for _, amr := range [][]string{{auth.AMRPassword}, {auth.AMRFederated}, {auth.AMRHardwareKey}} {
		weak, sess := h.signIn(u, amr...)
		tok := func(p string) url.Values { return url.Values{"csrf_token": {h.srv.csrfToken(sess, p)}} }
		for _, tc := range []struct {
			name, method, path, back string
			form                     url.Values
		}{
			{"add a passkey", http.MethodGet, pathPasskeyAdd, pathPasskeyAdd, nil},
			{"rename a passkey", http.MethodPost, pathPasskeys, pathPasskeys, merge(tok(purposePasskeys), url.Values{"op": {"rename"}, "id": {list[0].ID}, "name": {"x"}})},
			{"remove a passkey", http.MethodPost, pathPasskeys, pathPasskeys, merge(tok(purposePasskeys), url.Values{"op": {"remove"}, "id": {list[0].ID}})},
			{"remove the app", http.MethodPost, totpPath + "/remove", totpPath, tok(purposeTOTPRemove)},
			{"new recovery codes", http.MethodPost, totpPath + "/recovery-codes", totpPath, tok(purposeTOTPRegenerate)},
			{"link a provider", http.MethodPost, pathProviders + "/link", pathProviders, merge(tok(purposeProviderLink), url.Values{"provider": {"acme"}})},
			{"unlink a provider", http.MethodPost, pathProviders + "/unlink", pathProviders, merge(tok(purposeProviderUnlink), url.Values{"provider": {"acme"}})},
		} {
			var resp *http.Response
			if tc.method == http.MethodGet {
				resp, _ = h.get(weak, tc.path)
			} else {
				resp, _ = h.post(weak, tc.path, tc.form)
			}
			last := h.sessions.signIns[len(h.sessions.signIns)-1]
			if resp.StatusCode != http.StatusSeeOther || !last.mfa || last.maxAge != DefaultRecentAuth || !strings.HasPrefix(last.returnTo, tc.back) {
				t.Errorf("%v: %s: status %d, SignIn %+v", amr, tc.name, resp.StatusCode, last)
			}
		}
	}
	if got, _ := pk.List(context.Background(), u.ID); len(got) != 1 || got[0].Name != "mine" {
		t.Errorf("passkeys changed: %v", got)
	}
	if ok, _ := totpSvc.Enrolled(context.Background(), u.ID); !ok || len(fp.started) != 0 || len(fp.unlinked) != 0 {
		t.Errorf("factors changed: totp %v, links started %v, unlinked %v", ok, fp.started, fp.unlinked)
	}
	// The two-factor session may.
	resp, _ := h.post(strong, pathPasskeys, merge(url.Values{"csrf_token": {h.srv.csrfToken(strongSess, purposePasskeys)}}, url.Values{"op": {"remove"}, "id": {list[0].ID}}))
	if got, _ := pk.List(context.Background(), u.ID); resp.StatusCode != http.StatusSeeOther || len(got) != 0 {
		t.Errorf("a two-factor session could not remove its passkey: %d", resp.StatusCode)
	}
}

// Setting up the app for a user who has a passkey (not the first factor)
// needs two factors and does not upgrade the session.
func TestTOTPEnrolmentWithAPasskeyNeedsTwoFactors(t *testing.T) {
	h, totpSvc, _, _ := factorHarness(t)
	u := h.user("ada", "correct horse battery")
	first, _ := h.signIn(u, auth.AMRPassword)
	h.addPasskey(first, &passkeytest.Authenticator{Origin: h.srv.origin}, "key", "")
	if got := mustSession(t, h, first); !auth.HasMFA(got.AMR) {
		t.Fatalf("the first factor did not upgrade the session: %v", got.AMR)
	}
	weak, _ := h.signIn(u, auth.AMRPassword)
	if resp, _ := h.get(weak, totpPath); resp.StatusCode != http.StatusSeeOther || !h.sessions.signIns[len(h.sessions.signIns)-1].mfa {
		t.Fatalf("a one-factor session got the set-up page: %d", resp.StatusCode)
	}
	strong, sess := h.signIn(u, auth.AMRPassword, auth.AMRHardwareKey)
	secret, page := enrolPage(t, h, strong, totpPath)
	if resp, body := h.post(strong, totpPath, url.Values{"csrf_token": {csrfOf(t, page, totpPath)}, "code": {appCode(t, h, secret)}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d\n%s", resp.StatusCode, body)
	}
	if ok, _ := totpSvc.Enrolled(context.Background(), u.ID); !ok {
		t.Fatal("not enrolled")
	}
	if got := mustSession(t, h, strong); !slices.Equal(got.AMR, sess.AMR) {
		t.Fatalf("session amr %v, want %v unchanged", got.AMR, sess.AMR)
	}
}

func merge(a, b url.Values) url.Values {
	for k, v := range b {
		a[k] = v
	}
	return a
}
