package selfservice

import (
	"crypto/rand"
	"context"
	"net/http"
	"net/url"
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

// REVIEW: a session with one factor (password alone, from before the app
// was set up; or "fed") of a user who has an authenticator app may add a
// passkey; the registration upgrades that session to "mfa", which then
// removes the authenticator app that requireSecondFactor was protecting.
func TestReviewOneFactorSessionAddsPasskeyThenRemovesTOTP(t *testing.T) {
	var totpSvc *mfa.Service
	h := newHarness(t, func(c *Config) {
		c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1)
		pk, err := passkey.New(passkey.Config{Issuer: c.Issuer, Store: c.Store.(passkey.Store), Users: c.Accounts, Hasher: c.Hasher, Now: c.Now})
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
	})
	u := h.user("ada", "correct horse battery")
	enrolled(t, h, u)

	attacker, _ := h.signIn(u, auth.AMRPassword) // one factor only
	a := &passkeytest.Authenticator{Origin: h.srv.origin, UserVerified: true}
	h.addPasskey(attacker, a, "attacker", "")
	sess := mustSession(t, h, attacker)
	t.Logf("session amr after adding a passkey: %v", sess.AMR)
	_, page := h.get(attacker, totpPath)
	resp, body := h.post(attacker, totpPath+"/remove", url.Values{"csrf_token": {csrfOf(t, page, totpPath+"/remove")}})
	if ok, _ := totpSvc.Enrolled(context.Background(), u.ID); !ok {
		t.Errorf("a password-only session removed the authenticator app after adding its own passkey (status %d)", resp.StatusCode)
		return
	}
	if resp.StatusCode == http.StatusOK {
		t.Logf("%s", body)
	}
}
