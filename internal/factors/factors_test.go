package factors

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/factors/factorstest"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// Fixture builds a store holding a user with an authenticator app (3
// recovery codes), two passkeys and a session, and another user alike; it
// is exported to the admin and CLI tests through the same helpers.
type fixture struct {
	svc        *Service
	db         *sqlite.DB
	clock      *testenv.Clock
	ada, bob   *auth.User
	adaKeys    []string
	adaSession []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testenv.NewClock(time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC))
	accounts, err := account.New(account.Config{Store: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, clock: clock}
	if f.svc, err = New(db, accounts, clock.Now); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ada", "bob"} {
		u, err := accounts.Create(ctx, "", account.CreateInput{Username: name, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		keys, sess := factorstest.Seed(t, db, u.ID, clock.Now())
		if name == "ada" {
			f.ada, f.adaKeys, f.adaSession = u, keys, sess
		} else {
			f.bob = u
		}
	}
	return f
}

func TestListShowsFactorsNeverSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	got, err := f.svc.List(context.Background(), f.ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.TOTP == nil || got.TOTP.RecoveryCodesLeft != 3 || !got.TOTP.EnrolledAt.Equal(f.clock.Now()) {
		t.Fatalf("totp %+v", got.TOTP)
	}
	if len(got.Passkeys) != 2 || got.Passkeys[0].ID != f.adaKeys[0] || got.Passkeys[0].Name != "YubiKey 1" {
		t.Fatalf("passkeys %+v", got.Passkeys)
	}
	b, _ := json.Marshal(got)
	if bytes.Contains(b, []byte("sealed-secret")) || bytes.Contains(b, []byte("public-key")) {
		t.Fatalf("a secret or key leaks: %s", b)
	}
	if _, err := f.svc.List(context.Background(), "usr_0123456789abcdefghijklmnop"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestResetAll(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.Reset(ctx, "key_admin", f.ada.ID, Which{}); err != nil {
		t.Fatal(err)
	}
	got, _ := f.svc.List(ctx, f.ada.ID)
	if got.TOTP != nil || len(got.Passkeys) != 0 {
		t.Fatalf("left: %+v", got)
	}
	if _, err := f.db.GetSession(ctx, f.adaSession, f.clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the session survives: %v", err)
	}
	if n, _ := f.db.CountRecoveryCodes(ctx, f.ada.ID); n != 0 {
		t.Fatalf("%d recovery codes left", n)
	}
	// Bob keeps his.
	if other, _ := f.svc.List(ctx, f.bob.ID); other.TOTP == nil || len(other.Passkeys) != 2 {
		t.Fatalf("bob's factors went too: %+v", other)
	}
	evs, _, _ := f.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventUserFactorsReset, Limit: 10})
	if len(evs) != 1 || evs[0].Actor != "key_admin" || evs[0].Target() != f.ada.ID || evs[0].Details["count"] != "3" {
		t.Fatalf("audit %+v", evs)
	}
	for _, typ := range []string{auth.EventTOTPRemoved, auth.EventPasskeyRemoved} {
		evs, _, _ := f.db.ListAuditEvents(ctx, auth.AuditFilter{Type: typ, Limit: 10})
		if len(evs) == 0 || evs[0].Actor != "key_admin" {
			t.Fatalf("%s: %+v", typ, evs)
		}
	}
	// A user without factors: nothing to remove is no error.
	if err := f.svc.Reset(ctx, "key_admin", f.ada.ID, Which{}); err != nil {
		t.Fatal(err)
	}
}

func TestResetOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.Reset(ctx, "key_admin", f.ada.ID, Which{PasskeyID: f.adaKeys[1]}); err != nil {
		t.Fatal(err)
	}
	got, _ := f.svc.List(ctx, f.ada.ID)
	if got.TOTP == nil || len(got.Passkeys) != 1 || got.Passkeys[0].ID != f.adaKeys[0] {
		t.Fatalf("left: %+v", got)
	}
	if _, err := f.db.GetSession(ctx, f.adaSession, f.clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the session survives: %v", err)
	}
	if err := f.svc.Reset(ctx, "key_admin", f.ada.ID, Which{TOTP: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.List(ctx, f.ada.ID); got.TOTP != nil || len(got.Passkeys) != 1 {
		t.Fatalf("left: %+v", got)
	}
	for name, w := range map[string]Which{
		"totp again":        {TOTP: true},
		"someone's passkey": {PasskeyID: "pk_nope"},
	} {
		if err := f.svc.Reset(ctx, "key_admin", f.ada.ID, w); auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Bob's passkey is not Ada's to lose.
	bobs, _ := f.svc.List(ctx, f.bob.ID)
	if err := f.svc.Reset(ctx, "key_admin", f.ada.ID, Which{PasskeyID: bobs.Passkeys[0].ID}); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("another user's passkey: %v", err)
	}
	if err := f.svc.Reset(ctx, "key_admin", f.ada.ID, Which{TOTP: true, PasskeyID: "pk_x"}); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("both: %v", err)
	}
	if err := f.svc.Reset(ctx, "key_admin", "usr_0123456789abcdefghijklmnop", Which{}); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("unknown user: %v", err)
	}
}
