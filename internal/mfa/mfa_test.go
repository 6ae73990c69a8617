package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

type fixture struct {
	svc    *Service
	db     *sqlite.DB
	clock  *testenv.Clock
	user   *auth.User
	other  *auth.User
	sealer *signing.Sealer
}

const addr = "192.0.2.10:5555"

func newFixture(t *testing.T, mod ...func(*Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testenv.NewClock(time.Date(2026, 12, 7, 17, 0, 5, 0, time.UTC))
	serverSecret := make([]byte, 32)
	rand.Read(serverSecret)
	sealer, err := signing.NewSealer(signing.DeriveMasterKey(serverSecret))
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := secret.NewHasher(serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := account.New(account.Config{Store: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, clock: clock, sealer: sealer}
	for _, name := range []string{"ada", "bob"} {
		u, err := accounts.Create(ctx, "", account.CreateInput{Username: name, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		if f.user == nil {
			f.user = u
		} else {
			f.other = u
		}
	}
	cfg := Config{Store: db, Sealer: sealer, Hasher: hasher, Issuer: "Gatehouse Test", Now: clock.Now}
	for _, m := range mod {
		m(&cfg)
	}
	if f.svc, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// code is what an authenticator app (pquerna/otp, an independent
// implementation) shows for secret at now+offset.
func (f *fixture) code(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, f.clock.Now().Add(offset), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol sets up an authenticator app for the user and returns its secret
// and recovery codes.
func (f *fixture) enrol(t *testing.T, u *auth.User) (string, []string) {
	t.Helper()
	e, err := f.svc.BeginEnrollment(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := f.svc.ConfirmEnrollment(context.Background(), u, f.code(t, e.Secret, 0), addr)
	if err != nil {
		t.Fatalf("ConfirmEnrollment: %v", err)
	}
	// The next code is a step later: the confirmation's is used up.
	f.clock.Add(Period)
	return e.Secret, codes
}

func (f *fixture) events(t *testing.T, typ string) []auth.AuditEvent {
	t.Helper()
	evs, _, err := f.db.ListAuditEvents(context.Background(), auth.AuditFilter{Type: typ, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if auth.ErrorCode(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

func TestEnrolmentWithAnAuthenticatorApp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if ok, err := f.svc.Enrolled(ctx, f.user.ID); ok || err != nil {
		t.Fatalf("Enrolled before = %v, %v", ok, err)
	}
	e, err := f.svc.BeginEnrollment(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	k, err := otp.NewKeyFromURL(e.URI)
	if err != nil || k.Secret() != e.Secret || k.Issuer() != "Gatehouse Test" || k.AccountName() != "ada" {
		t.Fatalf("URI %s: %v", e.URI, err)
	}
	if !strings.HasPrefix(e.QRSVG, "<svg") || !e.Expires.Equal(f.clock.Now().Add(DefaultPendingTTL)) {
		t.Fatalf("enrolment = %+v", e)
	}
	// A reloaded page shows the same secret.
	again, err := f.svc.BeginEnrollment(ctx, f.user)
	if err != nil || again.Secret != e.Secret {
		t.Fatalf("second BeginEnrollment: %v, secret changed %v", err, again.Secret != e.Secret)
	}
	// Pending: signs nobody in.
	if ok, _ := f.svc.Enrolled(ctx, f.user.ID); ok {
		t.Fatal("a pending secret counts as enrolled")
	}
	if _, err := f.svc.VerifyCode(ctx, f.user.ID, f.code(t, e.Secret, 0), addr); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("a pending secret's code signed in: %v", err)
	}
	_, err = f.svc.ConfirmEnrollment(ctx, f.user, "000000", addr)
	if auth.ErrorCode(err) != auth.EUNAUTHORIZED && f.code(t, e.Secret, 0) != "000000" {
		t.Fatalf("a wrong first code: %v", err)
	}
	codes, err := f.svc.ConfirmEnrollment(ctx, f.user, f.code(t, e.Secret, 0), addr)
	if err != nil {
		t.Fatalf("ConfirmEnrollment: %v", err)
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d recovery codes", len(codes))
	}
	st, err := f.svc.Status(ctx, f.user.ID)
	if err != nil || !st.Enrolled || st.RecoveryCodesLeft != 10 || !st.EnrolledAt.Equal(f.clock.Now()) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	// The confirming code cannot sign in again.
	if _, err := f.svc.VerifyCode(ctx, f.user.ID, f.code(t, e.Secret, 0), addr); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("the confirming code was accepted again: %v", err)
	}
	if _, err := f.svc.BeginEnrollment(ctx, f.user); auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("BeginEnrollment when enrolled: %v", err)
	}
	for _, typ := range []string{auth.EventTOTPEnrolled, auth.EventRecoveryCodesGenerated} {
		evs := f.events(t, typ)
		if len(evs) != 1 || evs[0].Details["user_id"] != f.user.ID || evs[0].Target() != f.user.ID {
			t.Fatalf("%s events: %+v", typ, evs)
		}
	}
	if evs := f.events(t, auth.EventOTPFailed); len(evs) < 2 {
		t.Fatalf("wrong codes audited: %d", len(evs))
	}
}

func TestAPendingSecretExpires(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	e, err := f.svc.BeginEnrollment(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(DefaultPendingTTL)
	_, err = f.svc.ConfirmEnrollment(ctx, f.user, f.code(t, e.Secret, 0), addr)
	wantCode(t, "confirm after the TTL", err, auth.ENOTFOUND)
	fresh, err := f.svc.BeginEnrollment(ctx, f.user)
	if err != nil || fresh.Secret == e.Secret {
		t.Fatalf("after the TTL: %v, same secret %v", err, fresh.Secret == e.Secret)
	}
	// The old secret's code does not confirm the new one.
	_, err = f.svc.ConfirmEnrollment(ctx, f.user, f.code(t, e.Secret, 0), addr)
	wantCode(t, "the replaced secret's code", err, auth.EUNAUTHORIZED)
}

func TestVerifyCodeAcceptsOneStepEitherWayAndNeverTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	sec, _ := f.enrol(t, f.user)
	f.clock.Add(2 * Period) // the confirmation's step is well behind
	for _, tc := range []struct {
		name   string
		offset time.Duration
		ok     bool
	}{
		{"two steps behind", -2 * Period, false},
		{"two steps ahead", 2 * Period, false},
		{"one step behind (a slow phone)", -Period, true},
		{"the same code again", -Period, false},
		{"the current code", 0, true},
		{"the current code again", 0, false},
		{"an earlier step after a later one", -Period, false},
		{"one step ahead", Period, true},
		{"the current code after a later one", 0, false},
	} {
		amr, err := f.svc.VerifyCode(ctx, f.user.ID, f.code(t, sec, tc.offset), addr)
		if tc.ok && (err != nil || amr != auth.AMROTP) {
			t.Fatalf("%s: %q, %v", tc.name, amr, err)
		}
		if !tc.ok && auth.ErrorCode(err) != auth.EUNAUTHORIZED {
			t.Fatalf("%s: %v, want EUNAUTHORIZED", tc.name, err)
		}
	}
	// Another user's code does not work for this one.
	osec, _ := f.enrol(t, f.other)
	f.clock.Add(5 * Period)
	if _, err := f.svc.VerifyCode(ctx, f.user.ID, f.code(t, osec, 0), addr); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("another user's code: %v", err)
	}
	if _, err := f.svc.VerifyCode(ctx, f.user.ID, " "+f.code(t, sec, 0)[:3]+" "+f.code(t, sec, 0)[3:], addr); err != nil {
		t.Fatalf("a code typed with spaces: %v", err)
	}
	evs := f.events(t, auth.EventOTPFailed)
	if len(evs) == 0 || evs[0].Details["address"] != "192.0.2.10" || evs[0].Details["user_id"] != f.user.ID || evs[0].Details["during"] != "sign-in" {
		t.Fatalf("failure events: %+v", evs)
	}
}

func TestRecoveryCodesAreSingleUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, codes := f.enrol(t, f.user)
	_, otherCodes := f.enrol(t, f.other)
	if _, err := f.svc.VerifyCode(ctx, f.user.ID, otherCodes[0], addr); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("another user's recovery code: %v", err)
	}
	// Typed in capitals without the hyphen.
	typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
	if amr, err := f.svc.VerifyCode(ctx, f.user.ID, typed, addr); err != nil || amr != auth.AMROTP {
		t.Fatalf("recovery code: %q, %v", amr, err)
	}
	if _, err := f.svc.VerifyCode(ctx, f.user.ID, codes[3], addr); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("a used recovery code: %v", err)
	}
	if st, _ := f.svc.Status(ctx, f.user.ID); st.RecoveryCodesLeft != 9 {
		t.Fatalf("codes left = %d", st.RecoveryCodesLeft)
	}
	if evs := f.events(t, auth.EventRecoveryCodeUsed); len(evs) != 1 || evs[0].Details["user_id"] != f.user.ID {
		t.Fatalf("used events: %+v", evs)
	}
	// New codes void the old ones.
	fresh, err := f.svc.RegenerateRecoveryCodes(ctx, f.user)
	if err != nil || len(fresh) != 10 {
		t.Fatalf("RegenerateRecoveryCodes: %d, %v", len(fresh), err)
	}
	if _, err := f.svc.VerifyCode(ctx, f.user.ID, codes[4], addr); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("an old code after regeneration: %v", err)
	}
	if _, err := f.svc.VerifyCode(ctx, f.user.ID, fresh[9], addr); err != nil {
		t.Fatalf("a new code: %v", err)
	}
	if evs := f.events(t, auth.EventRecoveryCodesGenerated); len(evs) != 3 { // two enrolments, one regeneration
		t.Fatalf("generated events: %d", len(evs))
	}
}

func TestRemovalEndsTheSecondFactor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	wantCode(t, "Remove without an app", f.svc.Remove(ctx, f.user), auth.ENOTFOUND)
	sec, codes := f.enrol(t, f.user)
	if err := f.svc.Remove(ctx, f.user); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.svc.Enrolled(ctx, f.user.ID); ok {
		t.Fatal("still enrolled")
	}
	for _, c := range []string{f.code(t, sec, 0), codes[0]} {
		if _, err := f.svc.VerifyCode(ctx, f.user.ID, c, addr); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
			t.Fatalf("a code after removal: %v", err)
		}
	}
	_, err := f.svc.RegenerateRecoveryCodes(ctx, f.user)
	wantCode(t, "regenerate after removal", err, auth.ENOTFOUND)
	if evs := f.events(t, auth.EventTOTPRemoved); len(evs) != 1 || evs[0].Target() != f.user.ID {
		t.Fatalf("removed events: %+v", evs)
	}
}

// Guessing is throttled per account: after the limit even the right code
// waits, with a Retry-After; a right code gives its attempt back.
func TestWrongCodesAreThrottled(t *testing.T) {
	t.Parallel()
	var f *fixture
	f = newFixture(t, func(c *Config) {
		l, err := account.NewFactorLimiter(account.FactorConfig{Failures: 3, Window: time.Hour, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Limiter = l
	})
	ctx := context.Background()
	sec, _ := f.enrol(t, f.user)
	if _, err := f.svc.VerifyCode(ctx, f.user.ID, f.code(t, sec, 0), addr); err != nil {
		t.Fatalf("a right code: %v", err)
	}
	f.clock.Add(Period)
	for i := range 3 {
		if _, err := f.svc.VerifyCode(ctx, f.user.ID, "not a code", "198.51.100."+string(rune('1'+i))); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	_, err := f.svc.VerifyCode(ctx, f.user.ID, f.code(t, sec, 0), "203.0.113.5")
	wantCode(t, "the right code while throttled", err, auth.ERATELIMITED)
	if d, ok := account.RetryAfter(err); !ok || d < time.Second {
		t.Fatalf("RetryAfter = %v, %v", d, ok)
	}
	// The other account, from a fresh address, is not affected.
	osec, _ := f.enrol(t, f.other)
	if _, err := f.svc.VerifyCode(ctx, f.other.ID, f.code(t, osec, 0), "203.0.113.6"); err != nil {
		t.Fatalf("another account: %v", err)
	}
	f.clock.Add(time.Hour)
	if _, err := f.svc.VerifyCode(ctx, f.user.ID, f.code(t, sec, 0), "203.0.113.5"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// Attack: the secret is not in the database in the clear, and a sealed
// secret copied to another user's row does not open there.
func TestTheSecretIsSealedAtRest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	sec, _ := f.enrol(t, f.user)
	raw, err := secretEncoding.DecodeString(sec)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.db.GetTOTP(ctx, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.Sealed, raw) || bytes.Contains(stored.Sealed, []byte(sec)) {
		t.Fatal("the stored secret holds the plain secret")
	}
	if plain, err := f.sealer.Open(sealKID(f.user.ID), stored.Sealed); err != nil || !bytes.Equal(plain, raw) {
		t.Fatalf("open as the user's: %v", err)
	}
	if _, err := f.sealer.Open(sealKID(f.other.ID), stored.Sealed); err == nil {
		t.Fatal("the sealed secret opened as another user's")
	}
	// Copied into bob's pending row, it confirms nothing for bob.
	if err := f.db.PutPendingTOTP(ctx, &auth.TOTPSecret{UserID: f.other.ID, Sealed: stored.Sealed, CreatedAt: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ConfirmEnrollment(ctx, f.other, f.code(t, sec, 0), addr); auth.ErrorCode(err) == "" {
		t.Fatal("a secret copied from another user confirmed")
	}
	if ok, _ := f.svc.Enrolled(ctx, f.other.ID); ok {
		t.Fatal("bob enrolled with ada's secret")
	}
}

// Attack: one code sent many times at once (a phished code replayed in
// parallel, or two nodes) signs in exactly once.
func TestAConcurrentlyReplayedCodeSignsInOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.Limiter, _ = account.NewFactorLimiter(account.FactorConfig{Failures: 100, Now: c.Now})
	})
	sec, codes := f.enrol(t, f.user)
	for _, code := range []string{f.code(t, sec, 0), codes[0]} {
		const n = 8
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := f.svc.VerifyCode(context.Background(), f.user.ID, code, addr)
				errs <- err
			}()
		}
		ok := 0
		for range n {
			switch err := <-errs; auth.ErrorCode(err) {
			case "":
				ok++
			case auth.EUNAUTHORIZED:
			default:
				t.Fatalf("VerifyCode: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("code %s signed in %d times, want once", code, ok)
		}
	}
}
