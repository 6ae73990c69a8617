package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// RunPasswordResets runs the contract suite of auth.PasswordResetStore.
// open is as for Run.
func RunPasswordResets(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"reset link: create then get returns every field unchanged, with its event", testResetLinkRoundTrip},
		{"reset link: a new link voids the user's older ones and no one else's", testResetLinkVoidsOlder},
		{"reset link: unknown user is not found, duplicate hash a conflict, incomplete invalid", testResetLinkInvalid},
		{"reset link: redemption sets the password, ends every session and is single use", testResetLinkRedeem},
		{"reset link: an expired link cannot be redeemed and changes nothing", testResetLinkExpired},
		{"reset link: of concurrent redemptions exactly one succeeds", testResetLinkConcurrent},
		{"reset link: PurgeExpired removes expired links only", testResetLinkPurge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

func newResetLink(label, userID string) *auth.PasswordResetLink {
	return &auth.PasswordResetLink{
		Hash: hashOf("reset:" + label), UserID: userID, CreatedBy: "key_admin",
		CreatedAt: base, ExpiresAt: at(time.Hour),
	}
}

func resetEvent(typ, userID string) auth.AuditEvent {
	return auth.AuditEvent{Time: base, Type: typ, Actor: "key_admin", Count: 1, Details: map[string]string{"user_id": userID}}
}

func mustResetLink(t *testing.T, s auth.Store, l *auth.PasswordResetLink) {
	t.Helper()
	if err := s.CreatePasswordResetLink(t.Context(), l); err != nil {
		t.Fatalf("CreatePasswordResetLink: %v", err)
	}
}

func testResetLinkRoundTrip(t *testing.T, s auth.Store) {
	mustUser(t, s, newUser("usr_1", "ann"))
	l := newResetLink("a", "usr_1")
	if err := s.CreatePasswordResetLink(t.Context(), l, resetEvent(auth.EventUserPasswordResetLinkCreated, "usr_1")); err != nil {
		t.Fatalf("CreatePasswordResetLink: %v", err)
	}
	got, err := s.GetPasswordResetLink(t.Context(), l.Hash)
	if err != nil {
		t.Fatalf("GetPasswordResetLink: %v", err)
	}
	if string(got.Hash) != string(l.Hash) || got.UserID != "usr_1" || got.CreatedBy != "key_admin" ||
		!got.CreatedAt.Equal(base) || !got.ExpiresAt.Equal(at(time.Hour)) || !got.UsedAt.IsZero() {
		t.Fatalf("got %+v, want %+v", got, l)
	}
	evs := allEvents(t, s)
	if len(evs) != 1 || evs[0].Type != auth.EventUserPasswordResetLinkCreated {
		t.Fatalf("events %+v, want the link's", evs)
	}
	if _, err := s.GetPasswordResetLink(t.Context(), hashOf("nope")); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("GetPasswordResetLink(unknown) = %v, want ENOTFOUND", err)
	}
	if _, err := s.GetPasswordResetLink(t.Context(), nil); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("GetPasswordResetLink(nil) = %v, want ENOTFOUND", err)
	}
}

func testResetLinkVoidsOlder(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mustUser(t, s, newUser("usr_1", "ann"), newUser("usr_2", "bob"))
	mustResetLink(t, s, newResetLink("old", "usr_1"))
	mustResetLink(t, s, newResetLink("bob", "usr_2"))
	mustResetLink(t, s, newResetLink("new", "usr_1"))
	if _, err := s.GetPasswordResetLink(ctx, hashOf("reset:old")); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("older link still there: %v", err)
	}
	for _, label := range []string{"new", "bob"} {
		if _, err := s.GetPasswordResetLink(ctx, hashOf("reset:"+label)); err != nil {
			t.Fatalf("link %s: %v", label, err)
		}
	}
	if _, err := s.RedeemPasswordResetLink(ctx, hashOf("reset:old"), auth.PasswordReset{PasswordHash: "h", At: at(time.Minute)}); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("redeeming a voided link = %v, want ENOTFOUND", err)
	}
}

func testResetLinkInvalid(t *testing.T, s auth.Store) {
	ctx := t.Context()
	if err := s.CreatePasswordResetLink(ctx, newResetLink("a", "usr_none")); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("link for an unknown user = %v, want ENOTFOUND", err)
	}
	mustUser(t, s, newUser("usr_1", "ann"), newUser("usr_2", "bob"))
	mustResetLink(t, s, newResetLink("a", "usr_1"))
	if err := s.CreatePasswordResetLink(ctx, newResetLink("a", "usr_2")); auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("duplicate hash = %v, want ECONFLICT", err)
	}
	for name, l := range map[string]*auth.PasswordResetLink{
		"no hash":   {UserID: "usr_1", ExpiresAt: at(time.Hour)},
		"no user":   {Hash: hashOf("x"), ExpiresAt: at(time.Hour)},
		"no expiry": {Hash: hashOf("x"), UserID: "usr_1"},
		"NUL":       {Hash: hashOf("x"), UserID: "usr_1", CreatedBy: "a\x00b", ExpiresAt: at(time.Hour)},
	} {
		if err := s.CreatePasswordResetLink(ctx, l); auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
	if _, err := s.RedeemPasswordResetLink(ctx, hashOf("reset:a"), auth.PasswordReset{At: at(time.Minute)}); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("redeem without a password hash = %v, want EINVALID", err)
	}
}

func testResetLinkRedeem(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mustUser(t, s, newUser("usr_1", "ann"), newUser("usr_2", "bob"))
	logoutFixture(t, s, "s1", "usr_1")
	logoutFixture(t, s, "s2", "usr_2")
	for _, d := range []*auth.DashboardSession{
		{Hash: hashOf("d1"), UserID: "usr_1", CreatedAt: base, ExpiresAt: at(time.Hour)},
		{Hash: hashOf("d2"), UserID: "usr_2", CreatedAt: base, ExpiresAt: at(time.Hour)},
	} {
		if err := s.CreateDashboardSession(ctx, d); err != nil {
			t.Fatalf("CreateDashboardSession: %v", err)
		}
	}
	mustResetLink(t, s, newResetLink("a", "usr_1"))
	when := at(10 * time.Minute)
	ev := resetEvent(auth.EventUserPasswordReset, "usr_1")
	userID, err := s.RedeemPasswordResetLink(ctx, hashOf("reset:a"), auth.PasswordReset{PasswordHash: "new-hash", At: when}, ev)
	if err != nil || userID != "usr_1" {
		t.Fatalf("RedeemPasswordResetLink = %q, %v", userID, err)
	}
	u, err := s.GetUser(ctx, "usr_1")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "new-hash" || !u.PasswordChangedAt.Equal(when) || !u.UpdatedAt.Equal(when) || u.Username != "ann" {
		t.Fatalf("user after redemption: %+v", u)
	}
	if other, _ := s.GetUser(ctx, "usr_2"); other.PasswordHash == "new-hash" {
		t.Fatal("another user's password changed")
	}
	if _, err := s.GetSession(ctx, hashOf("s1"), base); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the user's browser session survived: %v", err)
	}
	if _, err := s.GetDashboardSession(ctx, hashOf("d1"), base); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the user's dashboard session survived: %v", err)
	}
	if _, err := s.GetSession(ctx, hashOf("s2"), base); err != nil {
		t.Fatalf("another user's session ended: %v", err)
	}
	if _, err := s.GetDashboardSession(ctx, hashOf("d2"), base); err != nil {
		t.Fatalf("another user's dashboard session ended: %v", err)
	}
	if got := summary(dueLogouts(t, s, base)); len(got) != 2 {
		t.Fatalf("back-channel logouts queued %v, want the two clients of s1", got)
	}
	l, err := s.GetPasswordResetLink(ctx, hashOf("reset:a"))
	if err != nil || !l.UsedAt.Equal(when) {
		t.Fatalf("link after redemption: %+v, %v", l, err)
	}
	if evs := allEvents(t, s); len(evs) != 1 || evs[0].Type != auth.EventUserPasswordReset {
		t.Fatalf("events %+v", evs)
	}
	_, err = s.RedeemPasswordResetLink(ctx, hashOf("reset:a"), auth.PasswordReset{PasswordHash: "again", At: when.Add(time.Second)})
	if auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("second redemption = %v, want ENOTFOUND", err)
	}
	if u, _ := s.GetUser(ctx, "usr_1"); u.PasswordHash != "new-hash" {
		t.Fatal("a second redemption changed the password")
	}
}

func testResetLinkExpired(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mustUser(t, s, newUser("usr_1", "ann"))
	mustResetLink(t, s, newResetLink("a", "usr_1"))
	if err := s.CreateSession(ctx, &auth.Session{Hash: hashOf("s1"), UserID: "usr_1", ExpiresAt: at(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, err := s.RedeemPasswordResetLink(ctx, hashOf("reset:a"), auth.PasswordReset{PasswordHash: "new-hash", At: at(time.Hour)},
		resetEvent(auth.EventUserPasswordReset, "usr_1"))
	if auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("redeeming at the expiry = %v, want ENOTFOUND", err)
	}
	if u, _ := s.GetUser(ctx, "usr_1"); u.PasswordHash == "new-hash" {
		t.Fatal("an expired link changed the password")
	}
	if _, err := s.GetSession(ctx, hashOf("s1"), base); err != nil {
		t.Fatalf("a refused redemption ended a session: %v", err)
	}
	if l, _ := s.GetPasswordResetLink(ctx, hashOf("reset:a")); !l.UsedAt.IsZero() {
		t.Fatal("a refused redemption marked the link used")
	}
	wantNoEvents(t, s)
}

func testResetLinkConcurrent(t *testing.T, s auth.Store) {
	mustUser(t, s, newUser("usr_1", "ann"))
	mustResetLink(t, s, newResetLink("a", "usr_1"))
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.RedeemPasswordResetLink(t.Context(), hashOf("reset:a"),
				auth.PasswordReset{PasswordHash: "hash", At: at(time.Minute)})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case auth.ErrorCode(err) != auth.ENOTFOUND:
			t.Fatalf("redemption: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d redemptions succeeded, want exactly 1", ok)
	}
}

func testResetLinkPurge(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mustUser(t, s, newUser("usr_1", "ann"), newUser("usr_2", "bob"))
	mustResetLink(t, s, newResetLink("a", "usr_1"))
	late := newResetLink("b", "usr_2")
	late.ExpiresAt = at(3 * time.Hour)
	mustResetLink(t, s, late)
	if err := s.PurgeExpired(ctx, at(2*time.Hour)); err != nil {
		t.Fatalf("PurgeExpired: %v", err)
	}
	if _, err := s.GetPasswordResetLink(ctx, hashOf("reset:a")); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("expired link kept: %v", err)
	}
	if _, err := s.GetPasswordResetLink(ctx, hashOf("reset:b")); err != nil {
		t.Fatalf("live link purged: %v", err)
	}
}
