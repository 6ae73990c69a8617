package account

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// testMailer records what it is asked to send, or fails.
type testMailer struct {
	mu   sync.Mutex
	sent []string // "to|subject|body"
	fail error
}

func (m *testMailer) Send(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, to+"|"+subject+"|"+body)
	return nil
}

func resetFixture(t *testing.T, mailer Mailer) *fixture {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	hasher, err := secret.NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	return newFixture(t, func(c *Config) {
		c.ResetLinks = ResetLinkConfig{Hasher: hasher, URL: "https://id.example/account/reset", TTL: 30 * time.Minute, Mailer: mailer}
	})
}

func tokenOf(t *testing.T, l *ResetLink) string {
	t.Helper()
	u, err := url.Parse(l.URL)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != "https://id.example/account/reset" {
		t.Fatalf("link %q is not on the reset page", l.URL)
	}
	return u.Query().Get("token")
}

func eventsOf(t *testing.T, f *fixture, typ string) []auth.AuditEvent {
	t.Helper()
	evs, _, err := f.db.ListAuditEvents(context.Background(), auth.AuditFilter{Type: typ, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestPasswordPolicyAppliedEverywhere(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.PasswordPolicy = password.Policy{MinLength: 12, MaxLength: 64} })
	ctx := context.Background()
	for name, tc := range map[string]struct {
		in   CreateInput
		want string // in the message
	}{
		"breached":           {CreateInput{Username: "ann", Password: "123456789qwerty"}, "data breaches"},
		"breached, any case": {CreateInput{Username: "ann", Password: "1234567890QWERTY"}, "data breaches"},
		"the username":       {CreateInput{Username: "ann.lee.corp", Password: "Ann.Lee.Corp"}, "username"},
		"below the min":      {CreateInput{Username: "ann", Password: "eleven char"}, "at least 12"},
		"above the max":      {CreateInput{Username: "ann", Password: strings.Repeat("x", 65)}, "at most 64"},
		"six after NFKC":     {CreateInput{Username: "ann", Password: strings.Repeat("e\u0301", 6)}, "at least 12"}, // 12 code points as typed
	} {
		_, err := f.svc.Create(ctx, "admin", tc.in)
		if auth.ErrorCode(err) != auth.EINVALID || !strings.Contains(auth.ErrorMessage(err), tc.want) {
			t.Errorf("Create(%s) = %v, want EINVALID saying %q", name, err, tc.want)
		}
	}
	u, err := f.svc.Create(ctx, "admin", CreateInput{Username: "ann", Password: "twelve chars"})
	if err != nil {
		t.Fatalf("a 12-character password under a 12 minimum: %v", err)
	}
	err = f.svc.ResetPassword(ctx, "admin", u.ID, "1234567890qwe")
	if auth.ErrorCode(err) != auth.EINVALID || !strings.Contains(err.Error(), "data breaches") {
		t.Fatalf("ResetPassword(breached) = %v, want the breach message", err)
	}
	if err := f.svc.ResetPassword(ctx, "admin", u.ID, "ANN"); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("ResetPassword(username) = %v", err)
	}
	if err := f.svc.ResetPassword(ctx, "admin", u.ID, "a long new passphrase"); err != nil {
		t.Fatalf("ResetPassword(good) = %v", err)
	}
}

func TestResetLinkLifecycle(t *testing.T) {
	t.Parallel()
	f := resetFixture(t, nil)
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse")
	if err := f.db.CreateSession(ctx, &auth.Session{Hash: []byte("0123456789abcdef0123456789abcdef"), UserID: u.ID, ExpiresAt: f.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	l, err := f.svc.CreateResetLink(ctx, "key_admin", u.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if !l.ExpiresAt.Equal(f.clock.Now().Add(30*time.Minute)) || l.Emailed || l.UserID != u.ID {
		t.Fatalf("link %+v", l)
	}
	token := tokenOf(t, l)
	if !strings.HasPrefix(token, ResetTokenPrefix) {
		t.Fatalf("token %q", token)
	}
	if evs := eventsOf(t, f, auth.EventUserPasswordResetLinkCreated); len(evs) != 1 || evs[0].Target() != u.ID || evs[0].Actor != "key_admin" {
		t.Fatalf("created events %+v", evs)
	}
	for _, ev := range eventsOf(t, f, "") {
		for _, v := range ev.Details {
			if strings.Contains(v, token) {
				t.Fatalf("the token is in the audit log: %+v", ev)
			}
		}
	}

	// Checking does not use the link up.
	for range 2 {
		if got, err := f.svc.CheckResetLink(ctx, token); err != nil || got.ID != u.ID || got.PasswordHash != "" {
			t.Fatalf("CheckResetLink = %+v, %v", got, err)
		}
	}
	// A password refused by the policy leaves the link working.
	if _, err := f.svc.RedeemResetLink(ctx, token, "password123"); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("RedeemResetLink(breached) = %v", err)
	}
	f.clock.Add(time.Minute)
	got, err := f.svc.RedeemResetLink(ctx, token, "a brand new passphrase")
	if err != nil || got.ID != u.ID {
		t.Fatalf("RedeemResetLink = %+v, %v", got, err)
	}
	stored, _ := f.db.GetUser(ctx, u.ID)
	if ok, _ := password.Verify(stored.PasswordHash, "a brand new passphrase"); !ok || !stored.PasswordChangedAt.Equal(f.clock.Now()) {
		t.Fatalf("password not set, or PasswordChangedAt %v", stored.PasswordChangedAt)
	}
	if _, err := f.db.GetSession(ctx, []byte("0123456789abcdef0123456789abcdef"), f.clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the user's session survived the reset: %v", err)
	}
	evs := eventsOf(t, f, auth.EventUserPasswordReset)
	if len(evs) != 1 || evs[0].Details["method"] != "link" || evs[0].Actor != u.ID || evs[0].Target() != u.ID {
		t.Fatalf("reset events %+v", evs)
	}
	// Single use.
	if _, err := f.svc.RedeemResetLink(ctx, token, "yet another passphrase"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("second redemption = %v, want ENOTFOUND", err)
	}
	if _, err := f.svc.CheckResetLink(ctx, token); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("CheckResetLink(used) = %v", err)
	}
	if evs := eventsOf(t, f, auth.EventUserPasswordResetLinkFailed); len(evs) != 2 || evs[0].Details["reason"] != "used" {
		t.Fatalf("failure events %+v", evs)
	}
}

func TestResetLinkRefusals(t *testing.T) {
	t.Parallel()
	f := resetFixture(t, nil)
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse")

	t.Run("expired", func(t *testing.T) {
		l, err := f.svc.CreateResetLink(ctx, "key_admin", u.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Add(30 * time.Minute)
		if _, err := f.svc.RedeemResetLink(ctx, tokenOf(t, l), "a brand new passphrase"); auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Fatalf("expired link = %v", err)
		}
	})
	t.Run("a new link voids the older one", func(t *testing.T) {
		old, _ := f.svc.CreateResetLink(ctx, "key_admin", u.ID, false)
		newer, _ := f.svc.CreateResetLink(ctx, "key_admin", u.ID, false)
		if _, err := f.svc.CheckResetLink(ctx, tokenOf(t, old)); auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Fatalf("old link = %v", err)
		}
		if _, err := f.svc.CheckResetLink(ctx, tokenOf(t, newer)); err != nil {
			t.Fatalf("new link = %v", err)
		}
	})
	t.Run("malformed, forged and unknown tokens", func(t *testing.T) {
		forged, _ := secret.Generate(ResetTokenPrefix) // well-formed, never stored
		for _, tok := range []string{"", "gate_pr_", "gate_pr_x", forged, strings.Repeat("a", 5000)} {
			if _, err := f.svc.RedeemResetLink(ctx, tok, "a brand new passphrase"); auth.ErrorCode(err) != auth.ENOTFOUND {
				t.Errorf("token %.20q = %v", tok, err)
			}
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		l, err := f.svc.CreateResetLink(ctx, "key_admin", u.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Disable(ctx, "key_admin", u.ID); err != nil {
			t.Fatal(err)
		}
		defer f.svc.Enable(ctx, "key_admin", u.ID)
		if _, err := f.svc.RedeemResetLink(ctx, tokenOf(t, l), "a brand new passphrase"); auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Fatalf("link of a disabled user = %v", err)
		}
		if _, err := f.svc.CreateResetLink(ctx, "key_admin", u.ID, false); auth.ErrorCode(err) != auth.ECONFLICT {
			t.Fatalf("link for a disabled user = %v", err)
		}
	})
	t.Run("unknown user and no mailer", func(t *testing.T) {
		if _, err := f.svc.CreateResetLink(ctx, "key_admin", "usr_0123456789abcdefghijklmnop", false); auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Fatalf("unknown user = %v", err)
		}
		if _, err := f.svc.CreateResetLink(ctx, "key_admin", u.ID, true); auth.ErrorCode(err) != auth.EINVALID {
			t.Fatalf("e-mail without a mailer = %v", err)
		}
	})
}

func TestResetLinkConcurrentRedemption(t *testing.T) {
	t.Parallel()
	f := resetFixture(t, nil)
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse")
	l, _ := f.svc.CreateResetLink(ctx, "key_admin", u.ID, false)
	token := tokenOf(t, l)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = f.svc.RedeemResetLink(ctx, token, "concurrent passphrase "+string(rune('a'+i))) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Fatal(err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d redemptions succeeded, want 1", ok)
	}
}

func TestResetLinkEmail(t *testing.T) {
	t.Parallel()
	m := &testMailer{}
	f := resetFixture(t, m)
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse") // a@example.com
	l, err := f.svc.CreateResetLink(ctx, "key_admin", u.ID, true)
	if err != nil || !l.Emailed {
		t.Fatalf("CreateResetLink(email) = %+v, %v", l, err)
	}
	if len(m.sent) != 1 || !strings.HasPrefix(m.sent[0], "a@example.com|Gatehouse: choose a new password|") || !strings.Contains(m.sent[0], l.URL) {
		t.Fatalf("sent %q", m.sent)
	}
	m.fail = errors.New("connection refused")
	if _, err := f.svc.CreateResetLink(ctx, "key_admin", u.ID, true); auth.ErrorCode(err) != auth.EUNAVAILABLE {
		t.Fatalf("failed e-mail = %v, want EUNAVAILABLE", err)
	}
	noMail, err := f.svc.Create(ctx, "admin", CreateInput{Username: "bob", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	m.fail = nil
	if _, err := f.svc.CreateResetLink(ctx, "key_admin", noMail.ID, true); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("user without an address = %v", err)
	}
}
