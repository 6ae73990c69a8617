package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// sessionListTests are the contract of ListUserSessions.
var sessionListTests = []struct {
	name string
	test func(t *testing.T, s auth.Store)
}{
	{"session: a user's live sessions are listed newest first with every field", testListUserSessions},
	{"session: listing leaves out expired sessions and other users' and is empty for none", testListUserSessionsFilters},
}

func testListUserSessions(t *testing.T, s auth.Store) {
	ctx := t.Context()
	old := &auth.Session{Hash: hashOf("list-old"), UserID: "usr_1", AuthTime: at(-2 * time.Hour), CreatedAt: at(-2 * time.Hour),
		ExpiresAt: at(time.Hour), UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", Address: "192.0.2.1", AMR: []string{"pwd"}}
	recent := &auth.Session{Hash: hashOf("list-recent"), UserID: "usr_1", AuthTime: at(-time.Minute), CreatedAt: at(-time.Minute),
		ExpiresAt: at(2 * time.Hour), UserAgent: "curl/8.0", Address: "2001:db8::1", AMR: []string{"mfa", "otp", "pwd"}}
	for _, ses := range []*auth.Session{old, recent} {
		if err := s.CreateSession(ctx, ses); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	got, err := s.ListUserSessions(ctx, "usr_1", base)
	if err != nil {
		t.Fatalf("ListUserSessions: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("ListUserSessions = %d sessions, want 2", len(got))
	}
	wantSame(t, "ListUserSessions[0]", recent, got[0])
	wantSame(t, "ListUserSessions[1]", old, got[1])
}

func testListUserSessionsFilters(t *testing.T, s auth.Store) {
	ctx := t.Context()
	for _, ses := range []*auth.Session{
		{Hash: hashOf("f-live"), UserID: "usr_1", CreatedAt: base, ExpiresAt: at(time.Hour)},
		{Hash: hashOf("f-expired"), UserID: "usr_1", CreatedAt: at(-time.Hour), ExpiresAt: base},
		{Hash: hashOf("f-other"), UserID: "usr_2", CreatedAt: base, ExpiresAt: at(time.Hour)},
	} {
		if err := s.CreateSession(ctx, ses); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	got, err := s.ListUserSessions(ctx, "usr_1", base)
	if err != nil {
		t.Fatalf("ListUserSessions: %v", err)
	}
	if len(got) != 1 || string(got[0].Hash) != string(hashOf("f-live")) {
		t.Fatalf("ListUserSessions(usr_1) = %d sessions, want only the live one", len(got))
	}
	got, err = s.ListUserSessions(ctx, "usr_none", base)
	if err != nil || len(got) != 0 {
		t.Fatalf("ListUserSessions(no sessions) = %d, %v; want none", len(got), err)
	}
}
