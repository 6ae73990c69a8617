package account

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestChangePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse")
	other := f.create(t, "bob", "bobs password")
	now := f.clock.Now()
	for i, owner := range []string{u.ID, u.ID, other.ID} {
		h := make([]byte, 32)
		h[0] = byte(i + 1)
		if err := f.db.CreateSession(ctx, &auth.Session{Hash: h, UserID: owner, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, current, next string
		code                string
	}{
		{"a new password the policy refuses is invalid", "correct horse", "short", auth.EINVALID},
		{"a wrong current password is refused", "wrong horse", "battery staple", auth.EUNAUTHORIZED},
		{"another user's password is refused", "bobs password", "battery staple", auth.EUNAUTHORIZED},
	}
	for _, tt := range tests {
		if err := f.svc.ChangePassword(ctx, u.ID, tt.current, tt.next, "192.0.2.1"); auth.ErrorCode(err) != tt.code {
			t.Fatalf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	if err := f.svc.ChangePassword(ctx, u.ID, "correct horse", "battery staple", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", "192.0.2.9", nil); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("the old password still signs in: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "battery staple", "192.0.2.9", nil); err != nil {
		t.Fatalf("the new password does not sign in: %v", err)
	}
	left, err := f.db.ListUserSessions(ctx, u.ID, now)
	if err != nil || len(left) != 0 {
		t.Fatalf("sessions of the user after the change: %d, %v", len(left), err)
	}
	if left, _ := f.db.ListUserSessions(ctx, other.ID, now); len(left) != 1 {
		t.Fatal("another user's session ended")
	}
	events, _, err := f.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventUserPasswordChanged})
	if err != nil || len(events) != 1 || events[0].Actor != u.ID || events[0].Target() != u.ID {
		t.Fatalf("audit events %+v, %v", events, err)
	}
	if err := f.svc.ChangePassword(ctx, "usr_0000000000000000", "x", "battery staple", "192.0.2.1"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestChangePasswordIsThrottledLikeASignIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.SourceFailures = 2 })
	ctx := context.Background()
	u := f.create(t, "ann", "correct horse")
	for range 2 {
		if err := f.svc.ChangePassword(ctx, u.ID, "guess", "battery staple", "192.0.2.1"); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
			t.Fatalf("guess: %v", err)
		}
	}
	_ = f.svc.ChangePassword(ctx, u.ID, "guess", "battery staple", "192.0.2.1")
	if err := f.svc.ChangePassword(ctx, u.ID, "correct horse", "battery staple", "192.0.2.1"); auth.ErrorCode(err) != auth.ERATELIMITED {
		t.Fatalf("after the free failures the change is not throttled: %v", err)
	}
}
