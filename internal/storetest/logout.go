package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// logoutTests are the contract of auth.LogoutStore, run by RunOAuth.
var logoutTests = []struct {
	name string
	test func(t *testing.T, s auth.Store)
}{
	{"logout: ending a session queues one delivery per client with a logout URI, and forgets the session's clients", testLogoutQueuedOnDeleteSession},
	{"logout: ending a user's sessions queues their clients' deliveries, not other users'", testLogoutQueuedOnDeleteUserSessions},
	{"logout: of concurrent ends of one session exactly one queues", testLogoutQueuedOnce},
	{"logout: finish and retry apply only to the attempts read; due order and time", testLogoutDeliveryLifecycle},
	{"logout: purge removes session-client records past their expiry", testLogoutPurge},
	{"logout: a session client without session, sid or client, or with bad text, is invalid", testSessionClientInvalid},
}

// logoutFixture stores clients cli_a and cli_b with logout URIs and cli_n
// without, and a session of usr_1 (hash "s1") in which all three got codes.
func logoutFixture(t *testing.T, s auth.Store, session string, user string) {
	t.Helper()
	ctx := t.Context()
	for _, id := range []string{"cli_a", "cli_b", "cli_n"} {
		c := newClient(id)
		if id != "cli_n" {
			c.BackchannelLogoutURI = "https://" + id + ".example/logout"
		}
		if err := s.CreateClient(ctx, c); err != nil && auth.ErrorCode(err) != auth.ECONFLICT {
			t.Fatalf("CreateClient: %v", err)
		}
	}
	if err := s.CreateSession(ctx, &auth.Session{Hash: hashOf(session), UserID: user, ExpiresAt: at(time.Hour)}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	for _, id := range []string{"cli_a", "cli_b", "cli_n", "cli_a"} {
		sc := &auth.SessionClient{SessionHash: hashOf(session), SID: "sid-" + session, ClientID: id, UserID: user, CreatedAt: base, ExpiresAt: at(time.Hour)}
		if err := s.RecordSessionClient(ctx, sc); err != nil {
			t.Fatalf("RecordSessionClient: %v", err)
		}
	}
}

func dueLogouts(t *testing.T, s auth.Store, now time.Time) []*auth.LogoutDelivery {
	t.Helper()
	due, err := s.DueLogoutDeliveries(t.Context(), now, 100)
	if err != nil {
		t.Fatalf("DueLogoutDeliveries: %v", err)
	}
	return due
}

// summary is "client/user/sid" of each delivery, sorted.
func summary(ds []*auth.LogoutDelivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ClientID+"/"+d.UserID+"/"+d.SID)
	}
	slices.Sort(out)
	return out
}

func testLogoutQueuedOnDeleteSession(t *testing.T, s auth.Store) {
	ctx := t.Context()
	logoutFixture(t, s, "s1", "usr_1")
	if got := dueLogouts(t, s, base); len(got) != 0 {
		t.Fatalf("due before the session ended: %v", summary(got))
	}
	if err := s.DeleteSession(ctx, hashOf("s1")); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	got := dueLogouts(t, s, base)
	want := []string{"cli_a/usr_1/sid-s1", "cli_b/usr_1/sid-s1"}
	if !slices.Equal(summary(got), want) {
		t.Fatalf("queued %v, want %v", summary(got), want)
	}
	for _, d := range got {
		if d.ID == "" || d.Attempts != 0 || !d.NextAttemptAt.IsZero() || d.CreatedAt.IsZero() {
			t.Errorf("new delivery %+v: want an ID, no attempts, due at once, a creation time", d)
		}
	}
	// The session's clients are forgotten: ending it again queues nothing.
	if err := s.DeleteSession(ctx, hashOf("s1")); err != nil {
		t.Fatalf("DeleteSession(again): %v", err)
	}
	if n := len(dueLogouts(t, s, base)); n != 2 {
		t.Fatalf("%d deliveries after ending the session twice, want 2", n)
	}
	wantNoEvents(t, s)
}

func testLogoutQueuedOnDeleteUserSessions(t *testing.T, s auth.Store) {
	ctx := t.Context()
	logoutFixture(t, s, "s1", "usr_1")
	logoutFixture(t, s, "s2", "usr_1")
	logoutFixture(t, s, "s3", "usr_2")
	if err := s.DeleteUserSessions(ctx, "usr_1"); err != nil {
		t.Fatalf("DeleteUserSessions: %v", err)
	}
	want := []string{"cli_a/usr_1/sid-s1", "cli_a/usr_1/sid-s2", "cli_b/usr_1/sid-s1", "cli_b/usr_1/sid-s2"}
	if got := summary(dueLogouts(t, s, base)); !slices.Equal(got, want) {
		t.Fatalf("queued %v, want %v", got, want)
	}
	// usr_2's session and its clients are untouched until it ends.
	if err := s.DeleteSession(ctx, hashOf("s3")); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if n := len(dueLogouts(t, s, base)); n != 6 {
		t.Fatalf("%d deliveries, want 6", n)
	}
}

func testLogoutQueuedOnce(t *testing.T, s auth.Store) {
	ctx := t.Context()
	logoutFixture(t, s, "s1", "usr_1")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = s.DeleteSession(ctx, hashOf("s1"))
			} else {
				errs[i] = s.DeleteUserSessions(ctx, "usr_1")
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("ending the session: %v", err)
		}
	}
	if got := summary(dueLogouts(t, s, base)); len(got) != 2 {
		t.Fatalf("queued %v, want one delivery for each of cli_a and cli_b", got)
	}
}

func testLogoutDeliveryLifecycle(t *testing.T, s auth.Store) {
	ctx := t.Context()
	logoutFixture(t, s, "s1", "usr_1")
	if err := s.DeleteSession(ctx, hashOf("s1")); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	due := dueLogouts(t, s, base)
	a, b := due[0], due[1]

	// A failed attempt: due again in a minute.
	next := *a
	next.Attempts, next.NextAttemptAt, next.LastError = 1, at(time.Minute), "503 Service Unavailable"
	if ok, err := s.RetryLogoutDelivery(ctx, &next, 0); err != nil || !ok {
		t.Fatalf("RetryLogoutDelivery = %v, %v; want true", ok, err)
	}
	// A stale outcome (read with 0 attempts, but there is 1 now) is dropped.
	if ok, err := s.RetryLogoutDelivery(ctx, &next, 0); err != nil || ok {
		t.Fatalf("RetryLogoutDelivery(stale) = %v, %v; want false", ok, err)
	}
	if ok, err := s.FinishLogoutDelivery(ctx, a.ID, 0); err != nil || ok {
		t.Fatalf("FinishLogoutDelivery(stale) = %v, %v; want false", ok, err)
	}
	if got := dueLogouts(t, s, base); len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("due now %v, want only %s", summary(got), b.ClientID)
	}
	got := dueLogouts(t, s, at(time.Minute))
	if len(got) != 2 || got[0].ID != b.ID || got[1].ID != a.ID {
		t.Fatalf("due in a minute: %v, want the never-attempted one first, then the retry", summary(got))
	}
	if r := got[1]; r.Attempts != 1 || !r.NextAttemptAt.Equal(at(time.Minute)) || r.LastError != "503 Service Unavailable" {
		t.Fatalf("retried delivery read back as %+v", r)
	}

	// Success of b; giving a up with an audit event.
	if ok, err := s.FinishLogoutDelivery(ctx, b.ID, 0); err != nil || !ok {
		t.Fatalf("FinishLogoutDelivery(b) = %v, %v", ok, err)
	}
	ev := auth.AuditEvent{Time: at(time.Minute), Type: auth.EventBackchannelLogoutFailed, Actor: auth.ActorSystem, KeyID: a.ClientID, Count: 1,
		Details: map[string]string{"client_id": a.ClientID, "attempts": "1"}}
	if ok, err := s.FinishLogoutDelivery(ctx, a.ID, 1, ev); err != nil || !ok {
		t.Fatalf("FinishLogoutDelivery(a) = %v, %v", ok, err)
	}
	if got := dueLogouts(t, s, at(time.Hour)); len(got) != 0 {
		t.Fatalf("due after both finished: %v", summary(got))
	}
	wantEvents(t, s, ev)
	if ok, err := s.FinishLogoutDelivery(ctx, "bcl_unknown", 0, ev); err != nil || ok {
		t.Fatalf("FinishLogoutDelivery(unknown) = %v, %v; want false", ok, err)
	}
	wantEvents(t, s, ev) // the unknown one appended nothing
}

func testLogoutPurge(t *testing.T, s auth.Store) {
	ctx := t.Context()
	logoutFixture(t, s, "s1", "usr_1")
	if err := s.PurgeExpired(ctx, at(2*time.Hour)); err != nil {
		t.Fatalf("PurgeExpired: %v", err)
	}
	// The session and its records are gone: nothing left to notify.
	if err := s.DeleteSession(ctx, hashOf("s1")); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if got := dueLogouts(t, s, at(3*time.Hour)); len(got) != 0 {
		t.Fatalf("queued %v after the records were purged", summary(got))
	}
}

func testSessionClientInvalid(t *testing.T, s auth.Store) {
	ctx := t.Context()
	ok := auth.SessionClient{SessionHash: hashOf("s"), SID: "sid", ClientID: "cli_a", UserID: "usr_1"}
	for name, mod := range map[string]func(c *auth.SessionClient){
		"no session":      func(c *auth.SessionClient) { c.SessionHash = nil },
		"no sid":          func(c *auth.SessionClient) { c.SID = "" },
		"no client":       func(c *auth.SessionClient) { c.ClientID = "" },
		"NUL in the user": func(c *auth.SessionClient) { c.UserID = "a\x00" },
		"invalid UTF-8":   func(c *auth.SessionClient) { c.SID = "\xff" },
	} {
		c := ok
		mod(&c)
		wantCode(t, fmt.Sprint("RecordSessionClient(", name, ")"), s.RecordSessionClient(ctx, &c), auth.EINVALID)
	}
}
