package passkey_test

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/passkey/passkeytest"
)

// FinishLoginFrom counts refused assertions against the passkey's account
// and the address, with the one-time codes' limiter: once spent, the right
// passkey is refused ERATELIMITED with a Retry-After until the window
// passes; a success gives its attempt back. An unknown credential counts
// against the address alone.
func TestFinishLoginFromThrottlesFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	lim, err := account.NewFactorLimiter(account.FactorConfig{Failures: 3, Window: 10 * time.Minute, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := passkey.New(passkey.Config{Issuer: issuer, Store: e.db, Users: e.accounts, Hasher: e.hasher, Now: e.clock.Now, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	alice := e.user("alice")
	a := &passkeytest.Authenticator{Origin: origin, Counting: true}
	e.register(alice, a, "key")
	other := &passkeytest.Authenticator{Origin: origin}
	other.Keys = []*passkeytest.Key{{Priv: passkeytest.MustKey(t), ID: a.Keys[0].ID, UserHandle: a.Keys[0].UserHandle}}
	try := func(k *passkeytest.Authenticator, addr string) error {
		opts, state, err := svc.BeginLogin(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = svc.FinishLoginFrom(t.Context(), state, k.Get(t, opts, nil), addr)
		return err
	}
	// A success costs nothing.
	for range 4 {
		if err := try(a, "192.0.2.1:1"); err != nil {
			t.Fatalf("the real key: %v", err)
		}
	}
	// Forged assertions for alice's passkey from three addresses spend
	// her account's budget: the right key from a fourth is refused.
	for _, addr := range []string{"192.0.2.2:1", "192.0.2.3:1", "192.0.2.4:1"} {
		wantCode(t, "forged", try(other, addr), auth.EUNAUTHORIZED)
	}
	err = try(a, "192.0.2.5:1")
	if d, ok := account.RetryAfter(err); auth.ErrorCode(err) != auth.ERATELIMITED || !ok || d <= 0 {
		t.Fatalf("the right key while the account is throttled: %v", err)
	}
	e.clock.Add(11 * time.Minute)
	if err := try(a, "192.0.2.5:1"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// Unknown credentials spend the address's budget, not a shared one.
	unknown := &passkeytest.Authenticator{Origin: origin}
	unknown.Keys = []*passkeytest.Key{{Priv: passkeytest.MustKey(t), ID: []byte("no such credential"), UserHandle: []byte(alice.ID)}}
	for range 3 {
		wantCode(t, "unknown", try(unknown, "198.51.100.7:1"), auth.EUNAUTHORIZED)
	}
	wantCode(t, "unknown, address throttled", try(unknown, "198.51.100.7:2"), auth.ERATELIMITED)
	wantCode(t, "unknown, another address", try(unknown, "198.51.100.8:1"), auth.EUNAUTHORIZED)
	if err := try(a, "203.0.113.1:1"); err != nil {
		t.Fatalf("alice from elsewhere: %v", err)
	}
}
