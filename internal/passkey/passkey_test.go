package passkey_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/passkey/passkeytest"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

const (
	issuer = "https://id.example.com"
	origin = "https://id.example.com"
)

// env is a passkey Service on a real SQLite store with real accounts.
type env struct {
	t        testing.TB
	db       *sqlite.DB
	accounts *account.Service
	hasher   *secret.Hasher
	clock    *testenv.Clock
	svc      *passkey.Service
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	accounts, err := account.New(account.Config{Store: db, Sessions: db, Audit: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	hasher, err := secret.NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, accounts: accounts, hasher: hasher, clock: clock}
	e.svc = e.node()
	return e
}

// node returns another Service on the same store and secret: another
// Gatehouse node.
func (e *env) node() *passkey.Service {
	e.t.Helper()
	svc, err := passkey.New(passkey.Config{Issuer: issuer, Store: e.db, Users: e.accounts, Hasher: e.hasher, Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

func (e *env) user(name string) *auth.User {
	e.t.Helper()
	u, err := e.accounts.Create(context.Background(), "", account.CreateInput{Username: name, Password: "correct horse battery"})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// register registers a passkey of a for u under name.
func (e *env) register(u *auth.User, a *passkeytest.Authenticator, name string) *auth.Passkey {
	e.t.Helper()
	opts, state, err := e.svc.BeginRegistration(context.Background(), u)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.svc.FinishRegistration(context.Background(), u, state, name, a.Create(e.t, opts))
	if err != nil {
		e.t.Fatalf("FinishRegistration: %v", err)
	}
	return p
}

// login signs in with key k of a (the last one when nil), as the only
// factor when userID is "".
func (e *env) login(userID string, a *passkeytest.Authenticator, k *passkeytest.Key) (string, []string, error) {
	e.t.Helper()
	opts, state, err := e.svc.BeginLogin(context.Background(), userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.svc.FinishLogin(context.Background(), state, a.Get(e.t, opts, k))
}

// events returns the audit events of type typ.
func (e *env) events(typ string) []auth.AuditEvent {
	e.t.Helper()
	evs, _, err := e.db.ListAuditEvents(context.Background(), auth.AuditFilter{Type: typ, Limit: auth.MaxPageSize})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := auth.ErrorCode(err); got != code {
		t.Fatalf("%s: %q (%v), want %q", what, got, err, code)
	}
}

func TestRelyingPartyIsTheIssuer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.user("alice")
	opts, _, err := e.svc.BeginRegistration(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	var o passkeytest.CreationOptions
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if o.PublicKey.RP.ID != "id.example.com" || e.svc.RPID() != "id.example.com" {
		t.Fatalf("rp.id %q", o.PublicKey.RP.ID)
	}
	if sel := o.PublicKey.AuthenticatorSelection; sel.ResidentKey != "preferred" || sel.UserVerification != "preferred" {
		t.Fatalf("authenticatorSelection %+v", sel)
	}
	if id, _ := passkeytest.B64.DecodeString(o.PublicKey.User.ID); string(id) != u.ID {
		t.Fatalf("user.id %q, want the user's ID", id)
	}
	for _, bad := range []string{"", "ftp://x", "https://", "not a url"} {
		if _, err := passkey.New(passkey.Config{Issuer: bad, Store: e.db, Users: e.accounts, Hasher: e.hasher}); err == nil {
			t.Errorf("issuer %q accepted", bad)
		}
	}
}

func TestPasskeyAloneSignsInTheUserItNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	a := &passkeytest.Authenticator{Origin: origin, UserVerified: true, Counting: true}
	p := e.register(alice, a, "  Laptop  ")
	if p.Name != "Laptop" || p.UserID != alice.ID || p.BackupEligible || !p.UserVerified || !slices.Equal(p.Transports, []string{"hybrid", "internal"}) {
		t.Fatalf("passkey %+v", p)
	}
	e.register(bob, &passkeytest.Authenticator{Origin: origin}, "")
	if ok, err := e.svc.Registered(t.Context(), alice.ID); !ok || err != nil {
		t.Fatalf("Registered = %v %v", ok, err)
	}
	// The discoverable request names no credential.
	opts, _, err := e.svc.BeginLogin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(opts), "allowCredentials") {
		t.Fatalf("discoverable options list credentials: %s", opts)
	}
	userID, amr, err := e.login("", a, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A hardware-bound passkey that verified the user is two factors.
	if userID != alice.ID || !slices.Equal(amr, []string{"hwk", "mfa", "user"}) {
		t.Fatalf("FinishLogin = %q %v", userID, amr)
	}
	got, _ := e.db.GetPasskeyByCredentialID(t.Context(), p.CredentialID)
	if got.SignCount != 1 || !got.LastUsedAt.Equal(e.clock.Now()) {
		t.Fatalf("after sign-in: count %d, last used %v", got.SignCount, got.LastUsedAt)
	}
}

func TestAMRSaysWhichKindOfPasskey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name     string
		a        *passkeytest.Authenticator
		wantAMR  []string
		register bool
	}{
		{"synced passkey with user verification", &passkeytest.Authenticator{Origin: origin, BackupEligible: true, BackupState: true, UserVerified: true}, []string{"mfa", "swk", "user"}, true},
		{"synced passkey without user verification is one factor", &passkeytest.Authenticator{Origin: origin, BackupEligible: true}, []string{"swk"}, true},
		{"security key without user verification is one factor", &passkeytest.Authenticator{Origin: origin, Counting: true}, []string{"hwk"}, true},
	} {
		u := e.user(strings.ReplaceAll(tc.name, " ", "-"))
		e.register(u, tc.a, tc.name)
		userID, amr, err := e.login("", tc.a, nil)
		if err != nil || userID != u.ID || !slices.Equal(amr, tc.wantAMR) {
			t.Errorf("%s: %q %v %v, want %v", tc.name, userID, amr, err, tc.wantAMR)
		}
		// As a second factor after a password: two factors in any case.
		if _, amr, err := e.login(u.ID, tc.a, nil); err != nil || !auth.HasMFA(auth.MergeAMR([]string{"pwd"}, amr)) {
			t.Errorf("%s as a second factor: %v %v", tc.name, amr, err)
		}
	}
}

func TestSecondFactorAllowsOnlyThatUsersPasskeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob, carol := e.user("alice"), e.user("bob"), e.user("carol")
	aliceKey := &passkeytest.Authenticator{Origin: origin, Counting: true}
	e.register(alice, aliceKey, "one")
	e.register(alice, aliceKey, "two")
	bobKey := &passkeytest.Authenticator{Origin: origin, Counting: true}
	e.register(bob, bobKey, "bob's")

	opts, state, err := e.svc.BeginLogin(t.Context(), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	var o passkeytest.RequestOptions
	json.Unmarshal(opts, &o)
	if len(o.PublicKey.AllowCredentials) != 2 {
		t.Fatalf("allowCredentials %+v", o.PublicKey.AllowCredentials)
	}
	for _, c := range o.PublicKey.AllowCredentials {
		if c.ID == passkeytest.B64.EncodeToString(bobKey.Keys[0].ID) {
			t.Fatal("bob's passkey is allowed for alice")
		}
	}
	// Attack: bob's valid passkey answers alice's second-factor challenge.
	_, _, err = e.svc.FinishLogin(t.Context(), state, bobKey.Get(t, opts, nil))
	wantCode(t, "another user's passkey", err, auth.EUNAUTHORIZED)
	evs := e.events(auth.EventPasskeyFailed)
	if len(evs) != 1 || evs[0].Reason != passkey.ReasonWrongUser || evs[0].Target() != alice.ID {
		t.Fatalf("failure events %+v", evs)
	}
	// Alice's older passkey works.
	if userID, _, err := e.login(alice.ID, aliceKey, aliceKey.Keys[0]); err != nil || userID != alice.ID {
		t.Fatalf("alice: %q %v", userID, err)
	}
	// A user without passkeys cannot begin one.
	_, _, err = e.svc.BeginLogin(t.Context(), carol.ID)
	wantCode(t, "user without passkeys", err, auth.ENOTFOUND)
	if ok, _ := e.svc.Registered(t.Context(), carol.ID); ok {
		t.Fatal("carol has no passkey")
	}
}

func TestCeremonyStateIsSingleUseAcrossNodesAndExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user("alice")
	a := &passkeytest.Authenticator{Origin: origin, Counting: true}
	e.register(alice, a, "key")
	nodeB := e.node()

	// Begun on one node, finished on another.
	opts, state, err := e.svc.BeginLogin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	resp := a.Get(t, opts, nil)
	if userID, _, err := nodeB.FinishLogin(t.Context(), state, resp); err != nil || userID != alice.ID {
		t.Fatalf("finish on node b: %q %v", userID, err)
	}
	// Replayed, on either node: refused.
	for name, n := range map[string]*passkey.Service{"a": e.svc, "b": nodeB} {
		_, _, err := n.FinishLogin(t.Context(), state, resp)
		wantCode(t, "replay at node "+name, err, auth.EUNAUTHORIZED)
	}
	// An assertion replayed under a fresh state fails its challenge.
	_, state2, _ := e.svc.BeginLogin(t.Context(), "")
	_, _, err = e.svc.FinishLogin(t.Context(), state2, resp)
	wantCode(t, "old assertion, new state", err, auth.EUNAUTHORIZED)

	// Past its lifetime a state is dead.
	opts, state, _ = e.svc.BeginLogin(t.Context(), "")
	e.clock.Add(passkey.DefaultCeremonyTTL)
	_, _, err = e.svc.FinishLogin(t.Context(), state, a.Get(t, opts, nil))
	wantCode(t, "expired state", err, auth.EUNAUTHORIZED)

	// A registration state does not finish a sign-in, nor the reverse,
	// and malformed states are refused.
	ropts, rstate, _ := e.svc.BeginRegistration(t.Context(), alice)
	_, _, err = e.svc.FinishLogin(t.Context(), rstate, a.Create(t, ropts))
	wantCode(t, "registration state at login", err, auth.EUNAUTHORIZED)
	lopts, lstate, _ := e.svc.BeginLogin(t.Context(), "")
	_, err = e.svc.FinishRegistration(t.Context(), alice, lstate, "x", a.Get(t, lopts, nil))
	wantCode(t, "login state at registration", err, auth.EUNAUTHORIZED)
	for _, bad := range []string{"", "pkc_", "pkc_" + strings.Repeat("A", 38), strings.Repeat("x", 10000)} {
		_, _, err := e.svc.FinishLogin(t.Context(), bad, resp)
		wantCode(t, "malformed state", err, auth.EUNAUTHORIZED)
	}
}

func TestRegistrationStateBelongsToItsUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, mallory := e.user("alice"), e.user("mallory")
	a := &passkeytest.Authenticator{Origin: origin}
	opts, state, _ := e.svc.BeginRegistration(t.Context(), alice)
	// Attack: mallory finishes alice's registration with her own key.
	_, err := e.svc.FinishRegistration(t.Context(), mallory, state, "mine", a.Create(t, opts))
	wantCode(t, "another user's state", err, auth.EUNAUTHORIZED)
	if list, _ := e.svc.List(t.Context(), mallory.ID); len(list) != 0 {
		t.Fatal("mallory got a passkey")
	}
	if list, _ := e.svc.List(t.Context(), alice.ID); len(list) != 0 {
		t.Fatal("alice got a passkey")
	}
}

func TestCeremoniesFromAnotherOriginOrRelyingPartyAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user("alice")
	good := &passkeytest.Authenticator{Origin: origin, Counting: true}
	e.register(alice, good, "good")
	for name, a := range map[string]*passkeytest.Authenticator{
		"phishing origin":          {Origin: "https://id.example.com.evil.example"},
		"http origin":              {Origin: "http://id.example.com"},
		"another relying party":    {Origin: origin, RPID: "evil.example"},
		"a parent domain as rp":    {Origin: origin, RPID: "example.com"},
		"origin with another port": {Origin: "https://id.example.com:8443"},
		"subdomain origin":         {Origin: "https://x.id.example.com"},
	} {
		opts, state, _ := e.svc.BeginRegistration(t.Context(), alice)
		_, err := e.svc.FinishRegistration(t.Context(), alice, state, name, a.Create(t, opts))
		wantCode(t, name+" registration", err, auth.EINVALID)
		// The good key, signing for the wrong origin or relying party.
		bad := *good
		bad.Origin, bad.RPID = a.Origin, a.RPID
		_, _, err = e.login("", &bad, nil)
		wantCode(t, name+" sign-in", err, auth.EUNAUTHORIZED)
	}
	if list, _ := e.svc.List(t.Context(), alice.ID); len(list) != 1 {
		t.Fatalf("%d passkeys", len(list))
	}
}

func TestACounterGoingBackFlagsThePasskeyAndStopsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user("alice")
	a := &passkeytest.Authenticator{Origin: origin, Counting: true}
	p := e.register(alice, a, "key")
	for range 3 {
		if _, _, err := e.login("", a, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A copy of the key, made after its first use, signs in.
	clone := &passkeytest.Authenticator{Origin: origin, Counting: true, Keys: []*passkeytest.Key{{Priv: a.Keys[0].Priv, ID: a.Keys[0].ID, UserHandle: a.Keys[0].UserHandle, Counter: 1}}}
	_, _, err := e.login("", clone, nil)
	wantCode(t, "clone", err, auth.EUNAUTHORIZED)
	got, _ := e.db.GetPasskeyByCredentialID(t.Context(), p.CredentialID)
	if !got.CloneWarning || got.SignCount != 3 {
		t.Fatalf("after the clone: %+v", got)
	}
	// The original no longer signs in either, nor is it offered.
	_, _, err = e.login("", a, nil)
	wantCode(t, "flagged original", err, auth.EUNAUTHORIZED)
	if ok, _ := e.svc.Registered(t.Context(), alice.ID); ok {
		t.Fatal("a flagged passkey counts as registered")
	}
	_, _, err = e.svc.BeginLogin(t.Context(), alice.ID)
	wantCode(t, "second factor with only a flagged passkey", err, auth.ENOTFOUND)
	evs := e.events(auth.EventPasskeyFailed)
	if len(evs) != 2 || evs[0].Reason != passkey.ReasonCloneWarning || evs[0].Details["passkey_id"] != p.ID {
		t.Fatalf("events %+v", evs)
	}
	// The failure goes to webhooks.
	if typ, data, ok := auth.WebhookEvent(evs[0]); !ok || typ != auth.WebhookPasskeyFailed || data["reason"] != passkey.ReasonCloneWarning {
		t.Fatalf("webhook %q %v", typ, data)
	}
}

func TestZeroCountersAreNoClones(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user("alice")
	a := &passkeytest.Authenticator{Origin: origin, BackupEligible: true, BackupState: true} // synced: counter stays 0
	e.register(alice, a, "phone")
	for i := range 3 {
		if _, _, err := e.login("", a, nil); err != nil {
			t.Fatalf("sign-in %d: %v", i, err)
		}
	}
}

func TestTamperedAssertionsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user("alice")
	a := &passkeytest.Authenticator{Origin: origin, Counting: true}
	e.register(alice, a, "key")
	other := &passkeytest.Authenticator{Origin: origin}
	other.Keys = []*passkeytest.Key{{Priv: passkeytest.MustKey(t), ID: a.Keys[0].ID, UserHandle: a.Keys[0].UserHandle}}
	for name, mutate := range map[string]func(opts []byte) []byte{
		"signed by another key": func(opts []byte) []byte { return other.Get(t, opts, nil) },
		"user handle of another user": func(opts []byte) []byte {
			k := *a.Keys[0]
			k.UserHandle = []byte("usr_someoneelse")
			return a.Get(t, opts, &k)
		},
		"unknown credential": func(opts []byte) []byte {
			k := *a.Keys[0]
			k.ID = []byte("unknown credential id")
			return a.Get(t, opts, &k)
		},
		"not JSON": func([]byte) []byte { return []byte("{") },
		"empty":    func([]byte) []byte { return nil },
		"huge":     func([]byte) []byte { return []byte(`{"id":"` + strings.Repeat("A", 100<<10) + `"}`) },
		"wrong type": func(opts []byte) []byte {
			return []byte(strings.Replace(string(a.Get(t, opts, nil)), `"public-key"`, `"password"`, 1))
		},
	} {
		opts, state, _ := e.svc.BeginLogin(t.Context(), "")
		_, _, err := e.svc.FinishLogin(t.Context(), state, mutate(opts))
		wantCode(t, name, err, auth.EUNAUTHORIZED)
	}
	if _, _, err := e.login("", a, nil); err != nil {
		t.Fatalf("the real key after the attempts: %v", err)
	}
}

func TestDisabledUsersPasskeysDoNotSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user("alice")
	a := &passkeytest.Authenticator{Origin: origin}
	e.register(alice, a, "key")
	if _, err := e.accounts.Disable(t.Context(), "key_admin", alice.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.login("", a, nil)
	wantCode(t, "disabled user", err, auth.EUNAUTHORIZED)
}

func TestManageNamedPasskeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	a := &passkeytest.Authenticator{Origin: origin}
	first := e.register(alice, a, "")
	second := e.register(alice, a, "Work key")
	if first.Name != "Passkey 1" || second.Name != "Work key" {
		t.Fatalf("names %q %q", first.Name, second.Name)
	}
	// The registered keys are excluded from a new registration.
	opts, _, _ := e.svc.BeginRegistration(t.Context(), alice)
	var o passkeytest.CreationOptions
	json.Unmarshal(opts, &o)
	if len(o.PublicKey.ExcludeCredentials) != 2 {
		t.Fatalf("excludeCredentials %+v", o.PublicKey.ExcludeCredentials)
	}
	// The same credential cannot be registered twice.
	opts, state, _ := e.svc.BeginRegistration(t.Context(), alice)
	dup := &passkeytest.Authenticator{Origin: origin}
	_, err := e.svc.FinishRegistration(t.Context(), alice, state, "dup", dup.CreateWith(t, opts, &passkeytest.Key{Priv: passkeytest.MustKey(t), ID: a.Keys[0].ID}))
	wantCode(t, "duplicate credential", err, auth.ECONFLICT)

	if err := e.svc.Rename(t.Context(), alice, first.ID, "Laptop"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", auth.MaxPasskeyName+1), "a\nb"} {
		wantCode(t, "bad name", e.svc.Rename(t.Context(), alice, first.ID, bad), auth.EINVALID)
	}
	wantCode(t, "bob renames alice's", e.svc.Rename(t.Context(), bob, first.ID, "mine"), auth.ENOTFOUND)
	wantCode(t, "bob removes alice's", e.svc.Remove(t.Context(), bob, first.ID), auth.ENOTFOUND)
	if err := e.svc.Remove(t.Context(), alice, second.ID); err != nil {
		t.Fatal(err)
	}
	list, _ := e.svc.List(t.Context(), alice.ID)
	if len(list) != 1 || list[0].Name != "Laptop" {
		t.Fatalf("list %+v", list)
	}
	// The removed passkey no longer signs in.
	_, _, err = e.login("", a, a.Keys[1])
	wantCode(t, "removed passkey", err, auth.EUNAUTHORIZED)

	reg, ren, rem := e.events(auth.EventPasskeyRegistered), e.events(auth.EventPasskeyRenamed), e.events(auth.EventPasskeyRemoved)
	if len(reg) != 2 || len(ren) != 1 || len(rem) != 1 {
		t.Fatalf("events: %d registered, %d renamed, %d removed", len(reg), len(ren), len(rem))
	}
	if rem[0].Target() != alice.ID || rem[0].Details["name"] != "Work key" || rem[0].Actor != alice.ID {
		t.Fatalf("removed event %+v", rem[0])
	}
	if typ, _, ok := auth.WebhookEvent(reg[0]); !ok || typ != auth.WebhookPasskeyRegistered {
		t.Fatalf("registered webhook %q", typ)
	}
}

func TestAUserHasAtMostMaxPasskeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user("alice")
	for i := range passkey.MaxPasskeys {
		now := e.clock.Now()
		if err := e.db.CreatePasskey(t.Context(), &auth.Passkey{ID: "pk_" + string(rune('a'+i)), UserID: alice.ID, Name: "k",
			CredentialID: []byte{byte(i)}, PublicKey: []byte{1}, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := e.svc.BeginRegistration(t.Context(), alice)
	wantCode(t, "one too many", err, auth.EINVALID)
}
