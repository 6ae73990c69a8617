package account

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

type fixture struct {
	svc   *Service
	db    *sqlite.DB
	clock *testenv.Clock
}

func newFixture(t *testing.T, mod ...func(*Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cfg := Config{Store: db, Sessions: db, Audit: db, Now: clock.Now}
	for _, m := range mod {
		m(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, db: db, clock: clock}
}

func (f *fixture) create(t *testing.T, username, pw string) *auth.User {
	t.Helper()
	u, err := f.svc.Create(context.Background(), "admin", CreateInput{Username: username, Password: pw, Email: "a@example.com", Name: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := f.create(t, "Ann.Lee@corp", "correct horse")
	if !strings.HasPrefix(u.ID, IDPrefix) || !validID(u.ID) {
		t.Fatalf("ID %q", u.ID)
	}
	if u.PasswordHash != "" {
		t.Fatal("Create returned the password hash")
	}
	stored, err := f.db.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored.PasswordHash, "$argon2id$") || strings.Contains(stored.PasswordHash, "correct horse") {
		t.Fatalf("stored hash %q", stored.PasswordHash)
	}
	got, err := f.svc.Get(ctx, u.ID)
	if err != nil || got.Username != "Ann.Lee@corp" || got.PasswordHash != "" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	events, _, err := f.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventUserCreated})
	if err != nil || len(events) != 1 || events[0].Actor != "admin" {
		t.Fatalf("audit events %+v, %v", events, err)
	}

	_, err = f.svc.Create(ctx, "admin", CreateInput{Username: "ANN.LEE@CORP", Password: "another password"})
	if auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("duplicate username in other case: %v", err)
	}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for name, in := range map[string]CreateInput{
		"empty username":        {Username: "", Password: "long enough"},
		"long username":         {Username: strings.Repeat("a", 65), Password: "long enough"},
		"space in username":     {Username: "ann lee", Password: "long enough"},
		"unicode username":      {Username: "änn", Password: "long enough"},
		"slash in username":     {Username: "a/b", Password: "long enough"},
		"short password":        {Username: "ann", Password: "short"},
		"overlong password":     {Username: "ann", Password: strings.Repeat("p", password.MaxLength+1)},
		"bad email":             {Username: "ann", Password: "long enough", Email: "not an email"},
		"email with name":       {Username: "ann", Password: "long enough", Email: "Ann <ann@example.com>"},
		"verified without mail": {Username: "ann", Password: "long enough", EmailVerified: true},
		"control char in name":  {Username: "ann", Password: "long enough", Name: "Ann\nLee"},
		"long name":             {Username: "ann", Password: "long enough", Name: strings.Repeat("n", 201)},
		"unknown role":          {Username: "ann", Password: "long enough", Role: "root"},
		"bad owner":             {Username: "ann", Password: "long enough", Owners: []string{"a\x00b"}},
		"empty owner":           {Username: "ann", Password: "long enough", Owners: []string{""}},
		"too many owners":       {Username: "ann", Password: "long enough", Owners: manyOwners(auth.MaxUserOwners + 1)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.Create(context.Background(), "admin", in)
			if auth.ErrorCode(err) != auth.EINVALID {
				t.Fatalf("Create = %v, want EINVALID", err)
			}
		})
	}
	u := f.create(t, strings.Repeat("a", 64), "long enough")
	if u.Username != strings.Repeat("a", 64) {
		t.Fatal("64-character username refused")
	}
}

func TestGetAndList(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, id := range []string{"", "usr_", "key_0123456789abcdef", "usr_0123456789ABCDEF", "usr_0123456789abcdef"} {
		if _, err := f.svc.Get(ctx, id); auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Errorf("Get(%q) = %v", id, err)
		}
	}
	a := f.create(t, "a", "first passphrase")
	f.clock.Add(time.Millisecond)
	b := f.create(t, "b", "second passphrase")
	users, next, err := f.svc.List(ctx, auth.UserFilter{Limit: 1})
	if err != nil || len(users) != 1 || users[0].ID != a.ID || next == "" {
		t.Fatalf("page 1: %v %q %v", users, next, err)
	}
	users, _, err = f.svc.List(ctx, auth.UserFilter{After: next, Limit: 1})
	if err != nil || len(users) != 1 || users[0].ID != b.ID || users[0].PasswordHash != "" {
		t.Fatalf("page 2: %v %v", users, err)
	}
	if _, _, err := f.svc.List(ctx, auth.UserFilter{After: "junk"}); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := f.create(t, "Ann", "correct horse")
	got, err := f.svc.Authenticate(ctx, "ann", "correct horse", "192.0.2.1", nil)
	if err != nil || got.ID != u.ID || got.PasswordHash != "" {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	for name, tc := range map[string][2]string{
		"wrong password":   {"Ann", "wrong horse"},
		"unknown user":     {"bob", "correct horse"},
		"invalid username": {"a b", "correct horse"},
		"empty":            {"", ""},
	} {
		_, err := f.svc.Authenticate(ctx, tc[0], tc[1], "192.0.2.1", nil)
		if auth.ErrorCode(err) != auth.EUNAUTHORIZED || auth.ErrorMessage(err) != ErrInvalidCredentials {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDisableEnable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse")
	sess := &auth.Session{Hash: []byte("0123456789abcdef0123456789abcdef"), UserID: u.ID, AuthTime: f.clock.Now(), CreatedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)}
	if err := f.db.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.Disable(ctx, "admin", u.ID)
	if err != nil || !d.Disabled() {
		t.Fatalf("Disable = %+v, %v", d, err)
	}
	if _, err := f.db.GetSession(ctx, sess.Hash, f.clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("session survived Disable: %v", err)
	}
	_, err = f.svc.Authenticate(ctx, "ann", "correct horse", "192.0.2.1", nil)
	if auth.ErrorCode(err) != auth.EUNAUTHORIZED || auth.ErrorMessage(err) != ErrInvalidCredentials {
		t.Fatalf("disabled user with the right password: %v", err)
	}
	e, err := f.svc.Enable(ctx, "admin", u.ID)
	if err != nil || e.Disabled() {
		t.Fatalf("Enable = %+v, %v", e, err)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", "192.0.2.1", nil); err != nil {
		t.Fatalf("enabled user: %v", err)
	}
	if _, err := f.svc.Disable(ctx, "admin", "usr_0000000000000000"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("Disable(unknown) = %v", err)
	}
}

func TestResetPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse")
	sess := &auth.Session{Hash: []byte("0123456789abcdef0123456789abcdef"), UserID: u.ID, AuthTime: f.clock.Now(), CreatedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)}
	if err := f.db.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ResetPassword(ctx, "admin", u.ID, "short"); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("weak password: %v", err)
	}
	if err := f.svc.ResetPassword(ctx, "admin", u.ID, "battery staple"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.GetSession(ctx, sess.Hash, f.clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("session survived the reset: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", "192.0.2.1", nil); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("old password: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "battery staple", "192.0.2.1", nil); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := f.svc.ResetPassword(ctx, "admin", "usr_0000000000000000", "battery staple"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse")
	old, err := password.HashWith(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := f.db.GetUser(ctx, u.ID)
	stored.PasswordHash = old
	if err := f.db.UpdateUser(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", "192.0.2.1", nil); err != nil {
		t.Fatal(err)
	}
	stored, _ = f.db.GetUser(ctx, u.ID)
	if stored.PasswordHash == old || password.NeedsRehash(stored.PasswordHash) {
		t.Fatalf("hash not upgraded: %q", stored.PasswordHash)
	}
}

func TestEqualWork(t *testing.T) {
	// Unknown users cost an argon2id verification like known ones: the
	// unknown case may not be much faster than the wrong-password case.
	f := newFixture(t, func(c *Config) { c.SourceFailures = 1000; c.AccountFailures = 1000; c.AddressFailures = 1000 })
	ctx := context.Background()
	f.create(t, "ann", "correct horse")
	measure := func(name string) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			f.svc.Authenticate(ctx, name, "wrong", "192.0.2.1", nil)
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := measure("ann"), measure("nobody")
	if unknown < known/2 {
		t.Fatalf("unknown user %v, known user %v: the difference reveals which users exist", unknown, known)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a store")
	}
	f := newFixture(t)
	if _, err := New(Config{Store: f.db, Window: -1}); err == nil {
		t.Fatal("negative window accepted")
	}
}

func TestLimitedErrorUnwraps(t *testing.T) {
	t.Parallel()
	err := error(&LimitedError{RetryAfter: time.Second, err: auth.Errorf(auth.ERATELIMITED, "x")})
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Code != auth.ERATELIMITED {
		t.Fatal("LimitedError does not unwrap to *auth.Error")
	}
}

func TestAddressKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1":             "192.0.2.1",
		"192.0.2.1:443":         "192.0.2.1",
		"[::ffff:192.0.2.1]:80": "192.0.2.1",
		"[2001:db8::1%eth0]:80": "2001:db8::/64",
		"2001:db8::1":           "2001:db8::/64",
		"junk":                  "?junk",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// raceStore runs after once, the first time a user is looked up by name:
// an administrator acting while a login is under way.
type raceStore struct {
	auth.UserStore
	after func()
}

func (s *raceStore) GetUserByUsername(ctx context.Context, username string) (*auth.User, error) {
	u, err := s.UserStore.GetUserByUsername(ctx, username)
	if s.after != nil {
		after := s.after
		s.after = nil
		after()
	}
	return u, err
}

// TestRehashDoesNotUndoAConcurrentChange: the rehash after a login writes
// the user read before the password check (and a whole argon2id hash
// later). A disable or password reset made in between must survive it: the
// account may not come back enabled, nor the old password work again.
func TestRehashDoesNotUndoAConcurrentChange(t *testing.T) {
	t.Parallel()
	weak := password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, svc *Service, id string)
		check  func(t *testing.T, f *fixture, id string)
	}{
		{
			name: "disabled during the login stays disabled",
			change: func(t *testing.T, svc *Service, id string) {
				if _, err := svc.Disable(context.Background(), "admin", id); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, f *fixture, id string) {
				u, err := f.svc.Get(context.Background(), id)
				if err != nil || !u.Disabled() {
					t.Fatalf("user after the login: %+v, %v; want disabled", u, err)
				}
			},
		},
		{
			name: "a password reset during the login is kept",
			change: func(t *testing.T, svc *Service, id string) {
				if err := svc.ResetPassword(context.Background(), "admin", id, "new passphrase"); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, f *fixture, id string) {
				ctx := context.Background()
				if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", "192.0.2.2", nil); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
					t.Fatalf("old password after the reset: %v", err)
				}
				if _, err := f.svc.Authenticate(ctx, "ann", "new passphrase", "192.0.2.3", nil); err != nil {
					t.Fatalf("new password after the reset: %v", err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := &raceStore{}
			f := newFixture(t, func(c *Config) { rs.UserStore = c.Store; c.Store = rs })
			ctx := context.Background()
			u := f.create(t, "ann", "correct horse")
			old, err := password.HashWith(weak, "correct horse")
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := f.db.GetUser(ctx, u.ID)
			stored.PasswordHash = old
			if err := f.db.UpdateUser(ctx, stored); err != nil {
				t.Fatal(err)
			}
			rs.after = func() { tc.change(t, f.svc, u.ID) }
			// The login itself raced the change and may succeed; what it
			// writes afterwards is the point.
			f.svc.Authenticate(ctx, "ann", "correct horse", "192.0.2.1", nil)
			tc.check(t, f, u.ID)
		})
	}
}

// raceGetStore runs after once, the first time a user is read by ID.
type raceGetStore struct {
	auth.UserStore
	after func()
}

func (s *raceGetStore) GetUser(ctx context.Context, id string) (*auth.User, error) {
	u, err := s.UserStore.GetUser(ctx, id)
	if s.after != nil {
		after := s.after
		s.after = nil
		after()
	}
	return u, err
}

// TestResetPasswordKeepsAConcurrentDisable: ResetPassword hashes the new
// password between reading the user and writing it back whole. An account
// disabled meanwhile (a compromised account being locked while its
// password is reset) must stay disabled.
func TestResetPasswordKeepsAConcurrentDisable(t *testing.T) {
	t.Parallel()
	rs := &raceGetStore{}
	f := newFixture(t, func(c *Config) { rs.UserStore = c.Store; c.Store = rs })
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse")
	rs.after = func() {
		if _, err := f.svc.Disable(ctx, "admin", u.ID); err != nil {
			t.Error(err)
		}
	}
	if err := f.svc.ResetPassword(ctx, "admin", u.ID, "new passphrase"); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Get(ctx, u.ID)
	if err != nil || !got.Disabled() {
		t.Fatalf("user after the reset: %+v, %v; want disabled", got, err)
	}
	stored, _ := f.db.GetUser(ctx, u.ID)
	if ok, _ := password.Verify(stored.PasswordHash, "new passphrase"); !ok {
		t.Fatal("the new password was not set")
	}
}

// TestLockoutEventsAreStorable: the audit event of a lockout names the
// throttle's keys, which must be text the stores accept (valid UTF-8, no
// NUL) even for input that is not a username or an address; otherwise the
// event is refused and the lockout goes unrecorded.
func TestLockoutEventsAreStorable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, username, addr string }{
		{"not a username", "not a name!", "192.0.2.1"},
		{"an address that does not parse", "ann", "bad\x00addr\xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *Config) { c.AccountFailures = DefaultSourceFailures })
			ctx := context.Background()
			for range DefaultSourceFailures {
				if _, err := f.svc.Authenticate(ctx, tc.username, "wrong", tc.addr, nil); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
					t.Fatalf("Authenticate: %v", err)
				}
			}
			events, _, err := f.db.ListAuditEvents(ctx, auth.AuditFilter{Type: EventLoginThrottled})
			if err != nil || len(events) != 1 {
				t.Fatalf("lockout events %+v, %v; want one", events, err)
			}
		})
	}
}

// TestEqualWorkWithAnUnusableStoredHash: an account whose stored hash
// cannot be used (damaged, or written by another tool) refuses every
// password, and must do so after the same argon2id work as any other
// failure, or the quick answer tells which usernames exist.
func TestEqualWorkWithAnUnusableStoredHash(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SourceFailures = 1000; c.AccountFailures = 1000; c.AddressFailures = 1000 })
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse")
	stored, _ := f.db.GetUser(ctx, u.ID)
	stored.PasswordHash = "$2a$10$not.an.argon2id.hash"
	if err := f.db.UpdateUser(ctx, stored); err != nil {
		t.Fatal(err)
	}
	measure := func(name string) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			_, err := f.svc.Authenticate(ctx, name, "correct horse", "192.0.2.1", nil)
			best = min(best, time.Since(start))
			if auth.ErrorCode(err) != auth.EUNAUTHORIZED || auth.ErrorMessage(err) != ErrInvalidCredentials {
				t.Fatalf("Authenticate(%s) = %v", name, err)
			}
		}
		return best
	}
	unusable, unknown := measure("ann"), measure("nobody")
	if unusable < unknown/2 {
		t.Fatalf("unusable hash %v, unknown user %v: the difference reveals which users exist", unusable, unknown)
	}
}

func manyOwners(n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("owner-%02d", i)
	}
	return l
}

func TestCreateRoleAndOwners(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	dev := f.create(t, "dev", "long enough")
	if dev.Role != auth.RoleDeveloper || dev.Owners != nil {
		t.Fatalf("default role and owners = %q %q", dev.Role, dev.Owners)
	}
	admin, err := f.svc.Create(ctx, "root", CreateInput{Username: "boss", Password: "long enough", Role: auth.RoleAdmin,
		Owners: []string{"shipping", "billing", "shipping"}})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.db.GetUser(ctx, admin.ID)
	if err != nil || stored.Role != auth.RoleAdmin || !slices.Equal(stored.Owners, []string{"billing", "shipping"}) {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	// A refused create stores nothing.
	if _, err := f.svc.Create(ctx, "root", CreateInput{Username: "bad", Password: "long enough", Role: "superuser"}); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("bad role: %v", err)
	}
	if _, err := f.db.GetUserByUsername(ctx, "bad"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("a refused user was stored: %v", err)
	}
}

func TestUpdateRoleAndOwners(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := f.create(t, "dev", "long enough")
	admin, owners := auth.RoleAdmin, []string{"shipping", "billing"}
	f.clock.Add(time.Minute)
	got, err := f.svc.Update(ctx, "root", u.ID, UpdateInput{Role: &admin, Owners: &owners})
	if err != nil || got.Role != auth.RoleAdmin || !slices.Equal(got.Owners, []string{"billing", "shipping"}) ||
		got.PasswordHash != "" || !got.UpdatedAt.After(u.UpdatedAt) {
		t.Fatalf("Update = %+v, %v", got, err)
	}
	stored, err := f.db.GetUser(ctx, u.ID)
	if err != nil || stored.Role != auth.RoleAdmin || !slices.Equal(stored.Owners, []string{"billing", "shipping"}) ||
		stored.PasswordHash == "" {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	events, _, err := f.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventUserUpdated})
	if err != nil || len(events) != 1 || events[0].Actor != "root" || events[0].Details["user_id"] != u.ID ||
		events[0].Details["old_role"] != "developer" || events[0].Details["role"] != "admin" ||
		events[0].Details["old_owners"] != "" || events[0].Details["owners"] != "billing,shipping" {
		t.Fatalf("events = %+v, %v", events, err)
	}

	// Only the owners: the role stays; an empty list removes them all.
	none := []string{}
	got, err = f.svc.Update(ctx, "root", u.ID, UpdateInput{Owners: &none})
	if err != nil || got.Role != auth.RoleAdmin || got.Owners != nil {
		t.Fatalf("Update(owners only) = %+v, %v", got, err)
	}
	events, _, _ = f.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventUserUpdated})
	if len(events) != 2 {
		t.Fatalf("events = %+v", events)
	}
	for _, ev := range events {
		if ev.Details["owners"] == "" && ev.Details["old_owners"] == "billing,shipping" {
			if _, ok := ev.Details["role"]; ok {
				t.Fatalf("unchanged role recorded: %+v", ev)
			}
		}
	}

	// No change writes nothing.
	if _, err := f.svc.Update(ctx, "root", u.ID, UpdateInput{Role: &admin}); err != nil {
		t.Fatal(err)
	}
	if events, _, _ = f.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventUserUpdated}); len(events) != 2 {
		t.Fatalf("a no-op update wrote an event: %+v", events)
	}

	// Bad input is refused and stores nothing.
	bad, many, badOwner := "owner", manyOwners(auth.MaxUserOwners+1), []string{"ok", "a\nb"}
	for name, in := range map[string]UpdateInput{
		"unknown role":    {Role: &bad},
		"too many owners": {Owners: &many},
		"bad owner":       {Owners: &badOwner},
	} {
		if _, err := f.svc.Update(ctx, "root", u.ID, in); auth.ErrorCode(err) != auth.EINVALID {
			t.Fatalf("%s: %v, want EINVALID", name, err)
		}
	}
	stored, _ = f.db.GetUser(ctx, u.ID)
	if stored.Role != auth.RoleAdmin || len(stored.Owners) != 0 {
		t.Fatalf("a refused update was stored: %+v", stored)
	}
	if _, err := f.svc.Update(ctx, "root", "usr_missing", UpdateInput{Role: &admin}); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("missing user: %v", err)
	}
}
