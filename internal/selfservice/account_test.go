package selfservice

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The account part's pages: password, sessions, applications, sign-out.

func TestAccountPagesNeedASignInAndKeepTheStrictCSP(t *testing.T) {
	h := newHarness(t, withApplications)
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c, _ := h.signIn(h.user("ada", "correct horse battery"))
	for _, path := range []string{"/account/password", "/account/sessions", "/account/applications"} {
		if resp, _ := h.get(anon, path); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s signed out: status %d, want a redirect to sign in", path, resp.StatusCode)
		}
		resp, body := h.get(c, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(body, "<script") {
			t.Errorf("%s: CSP %q, or a script in the page", path, csp)
		}
		if !strings.Contains(body, `aria-current="page"`) {
			t.Errorf("%s: the navigation does not mark the page", path)
		}
	}
	last := h.sessions.signIns[len(h.sessions.signIns)-1]
	if last.returnTo != "/account/applications" {
		t.Fatalf("SignIn returns to %q", last.returnTo)
	}
}

// session stores another session of u, as if signed in elsewhere.
func (h *harness) session(u *auth.User, ua, addr string) *auth.Session {
	h.t.Helper()
	hash := make([]byte, 32)
	rand.Read(hash)
	now := h.clock.Now()
	s := &auth.Session{Hash: hash, UserID: u.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		UserAgent: ua, Address: addr, AMR: []string{auth.AMRPassword}}
	if err := h.db.CreateSession(context.Background(), s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// alive reports whether a session is still stored.
func (h *harness) alive(s *auth.Session) bool {
	h.t.Helper()
	_, err := h.db.GetSession(context.Background(), s.Hash, h.clock.Now())
	if err != nil && auth.ErrorCode(err) != auth.ENOTFOUND {
		h.t.Fatal(err)
	}
	return err == nil
}

func (h *harness) events(typ string) []auth.AuditEvent {
	h.t.Helper()
	evs, _, err := h.db.ListAuditEvents(context.Background(), auth.AuditFilter{Type: typ})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func TestChangePasswordEndsEveryOtherSessionAndKeepsThisOne(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ada := h.user("ada", "correct horse battery")
	bob := h.user("bob", "bobs long password")
	c, sess := h.signIn(ada)
	elsewhere := h.session(ada, "curl/8.0", "192.0.2.7")
	bobs := h.session(bob, "", "")
	dash := &auth.DashboardSession{Hash: make([]byte, 32), UserID: ada.ID, CreatedAt: h.clock.Now(), LastSeenAt: h.clock.Now(), ExpiresAt: h.clock.Now().Add(time.Hour)}
	rand.Read(dash.Hash)
	if err := h.db.CreateDashboardSession(ctx, dash); err != nil {
		t.Fatal(err)
	}
	_, page := h.get(c, "/account/password")
	for _, input := range []string{`name="current_password"`, `name="new_password"`, `name="confirm_password"`, `autocomplete="new-password"`} {
		if !strings.Contains(page, input) {
			t.Fatalf("the form lacks %s:\n%s", input, page)
		}
	}
	token := csrfOf(t, page, "/account/password")
	post := func(cur, next, confirm string) (*http.Response, string) {
		return h.post(c, "/account/password", url.Values{"csrf_token": {token}, "current_password": {cur}, "new_password": {next}, "confirm_password": {confirm}})
	}
	refused := []struct {
		name               string
		cur, next, confirm string
		status             int
		msg                string
	}{
		{"a wrong current password", "wrong horse", "a new long password", "a new long password", http.StatusUnauthorized, "current password is not right"},
		{"different new passwords", "correct horse battery", "a new long password", "a new long passwore", http.StatusBadRequest, "do not match"},
		{"a new password the policy refuses", "correct horse battery", "short", "short", http.StatusBadRequest, "password"},
	}
	for _, tt := range refused {
		resp, body := post(tt.cur, tt.next, tt.confirm)
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.msg) || !strings.Contains(body, `aria-invalid="true"`) {
			t.Fatalf("%s: status %d, want %d with %q:\n%s", tt.name, resp.StatusCode, tt.status, tt.msg, body)
		}
		if !h.alive(elsewhere) || !h.alive(sess) {
			t.Fatalf("%s ended a session", tt.name)
		}
	}
	// A form from another site changes nothing.
	req := httptestPost(t, c, h.http.URL+"/account/password", url.Values{"csrf_token": {token}, "current_password": {"correct horse battery"},
		"new_password": {"attacker chosen pw"}, "confirm_password": {"attacker chosen pw"}}, "cross-site")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site change: %v, %v", resp, err)
	}

	resp, _ := post("correct horse battery", "a new long password", "a new long password")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/password?changed=1" {
		t.Fatalf("change: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if h.alive(elsewhere) || h.alive(sess) {
		t.Fatal("the other session, or the old secret of this one, survived the change")
	}
	if !h.alive(bobs) {
		t.Fatal("another user's session ended")
	}
	if _, err := h.db.GetDashboardSession(ctx, dash.Hash, h.clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the dashboard session survived the change: %v", err)
	}
	// This browser is still signed in, with a renewed session.
	resp, body := h.get(c, "/account/password?changed=1")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Your password has been changed") {
		t.Fatalf("after the change: status %d:\n%s", resp.StatusCode, body)
	}
	list, err := h.db.ListUserSessions(ctx, ada.ID, h.clock.Now())
	if err != nil || len(list) != 1 || !list[0].AuthTime.Equal(sess.AuthTime) {
		t.Fatalf("sessions after the change: %+v, %v", list, err)
	}
	if _, err := h.accounts.Authenticate(ctx, "ada", "a new long password", "192.0.2.1", nil); err != nil {
		t.Fatalf("the new password does not sign in: %v", err)
	}
	if evs := h.events(auth.EventUserPasswordChanged); len(evs) != 1 || evs[0].Target() != ada.ID || evs[0].Actor != ada.ID {
		t.Fatalf("audit: %+v", evs)
	}
}

func TestSessionsPageListsAndSignsOutOthers(t *testing.T) {
	h := newHarness(t)
	ada := h.user("ada", "correct horse battery")
	bob := h.user("bob", "bobs long password")
	c, sess := h.signIn(ada)
	phone := h.session(ada, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile Safari/604.1", "198.51.100.4")
	laptop := h.session(ada, "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "2001:db8::9")
	bobs := h.session(bob, "curl/8.0", "192.0.2.99")

	_, page := h.get(c, "/account/sessions")
	for _, want := range []string{"Safari on iOS", "198.51.100.4", "Firefox on Linux", "2001:db8::9", `aria-current="true"`, "This browser"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "192.0.2.99") {
		t.Fatal("the page shows another user's session")
	}
	if strings.Count(page, `action="/account/sessions/sign-out"`) != 2 {
		t.Fatal("want a sign-out form for each other session, none for this one")
	}
	token := csrfOf(t, page, "/account/sessions/sign-out")
	signOut := func(ref string) (*http.Response, string) {
		return h.post(c, "/account/sessions/sign-out", url.Values{"csrf_token": {token}, "session": {ref}})
	}
	if resp, _ := signOut(sessionRef(bobs.Hash)); resp.StatusCode != http.StatusNotFound || !h.alive(bobs) {
		t.Fatalf("another user's session: status %d", resp.StatusCode)
	}
	if resp, _ := signOut(sessionRef(sess.Hash)); resp.StatusCode != http.StatusBadRequest || !h.alive(sess) {
		t.Fatalf("this browser's session: status %d", resp.StatusCode)
	}
	resp, body := signOut(sessionRef(phone.Hash))
	if resp.StatusCode != http.StatusOK || h.alive(phone) || !h.alive(laptop) || !h.alive(sess) {
		t.Fatalf("sign out of the phone: status %d:\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "198.51.100.4") {
		t.Fatal("the ended session is still listed")
	}
	evs := h.events(auth.EventUserSessionRevoked)
	if len(evs) != 1 || evs[0].Target() != ada.ID || evs[0].Details["address"] != "198.51.100.4" {
		t.Fatalf("audit: %+v", evs)
	}
	if resp, _ := h.post(c, "/account/sessions/sign-out", url.Values{"session": {sessionRef(laptop.Hash)}}); resp.StatusCode != http.StatusForbidden || !h.alive(laptop) {
		t.Fatalf("a sign-out without the CSRF token: status %d", resp.StatusCode)
	}
	resp, _ = h.post(c, "/account/sessions/sign-out-others", url.Values{"csrf_token": {token}})
	if resp.StatusCode != http.StatusOK || h.alive(laptop) || !h.alive(sess) || !h.alive(bobs) {
		t.Fatalf("sign out everywhere else: status %d", resp.StatusCode)
	}
	if n := len(h.events(auth.EventUserSessionRevoked)); n != 2 {
		t.Fatalf("%d session revocations audited, want 2", n)
	}
}

func TestApplicationsPageRevokesConsentAndRefreshTokens(t *testing.T) {
	h := newHarness(t, withApplications)
	ctx := context.Background()
	ada := h.user("ada", "correct horse battery")
	bob := h.user("bob", "bobs long password")
	now := h.clock.Now()
	client := &auth.Client{ID: "cli_photos", Name: "Photo Printer", Public: true, AuthMethod: auth.AuthMethodNone,
		RedirectURIs: []string{"https://photos.example/cb"}, GrantTypes: []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken},
		Scopes: []string{"openid", "photos.read"}, CreatedAt: now, UpdatedAt: now}
	if err := h.db.CreateClient(ctx, client); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*auth.User{ada, bob} {
		if err := h.db.SaveConsent(ctx, &auth.Consent{UserID: u.ID, ClientID: client.ID, Scopes: []string{"openid", "photos.read"}, GrantedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	rt := &auth.RefreshToken{Hash: make([]byte, 32), FamilyID: "fam_ada", ClientID: client.ID, UserID: ada.ID,
		Scopes: []string{"openid", "photos.read"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(time.Hour)}
	rand.Read(rt.Hash)
	if err := h.db.CreateRefreshToken(ctx, rt, nil); err != nil {
		t.Fatal(err)
	}
	c, _ := h.signIn(ada)
	_, page := h.get(c, "/account/applications")
	if !strings.Contains(page, "Photo Printer") || !strings.Contains(page, "photos.read") {
		t.Fatalf("the page lacks the application:\n%s", page)
	}
	token := csrfOf(t, page, "/account/applications/revoke")
	resp, body := h.post(c, "/account/applications/revoke", url.Values{"csrf_token": {token}, "client_id": {client.ID}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "revoked") || strings.Contains(body, "Photo Printer") {
		t.Fatalf("revoke: status %d:\n%s", resp.StatusCode, body)
	}
	if _, err := h.db.GetConsent(ctx, ada.ID, client.ID); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the consent survived: %v", err)
	}
	if got, err := h.db.GetRefreshToken(ctx, rt.Hash); err != nil || got.RevokedAt.IsZero() {
		t.Fatalf("the refresh token was not revoked: %+v, %v", got, err)
	}
	if _, err := h.db.GetConsent(ctx, bob.ID, client.ID); err != nil {
		t.Fatalf("another user's consent went too: %v", err)
	}
	if resp, _ := h.post(c, "/account/applications/revoke", url.Values{"csrf_token": {token}, "client_id": {client.ID}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("revoking twice: status %d", resp.StatusCode)
	}
	if evs := h.events(auth.EventConsentRevoked); len(evs) != 1 || evs[0].Actor != ada.ID || evs[0].Details["user_id"] != ada.ID {
		t.Fatalf("audit: %+v", evs)
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	h := newHarness(t)
	c, sess := h.signIn(h.user("ada", "correct horse battery"))
	_, page := h.get(c, "/account")
	token := csrfOf(t, page, "/account/sign-out")
	if resp, _ := h.post(c, "/account/sign-out", url.Values{}); resp.StatusCode != http.StatusForbidden || !h.alive(sess) {
		t.Fatalf("a sign-out without the token: status %d", resp.StatusCode)
	}
	resp, body := h.post(c, "/account/sign-out", url.Values{"csrf_token": {token}})
	if resp.StatusCode != http.StatusOK || h.alive(sess) {
		t.Fatalf("sign out: status %d:\n%s", resp.StatusCode, body)
	}
	if resp, _ := h.get(c, "/account"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after signing out /account answers %d, want a redirect to sign in", resp.StatusCode)
	}
}

func TestAFormPostedAfterTheSessionEndedSignsInBackToItsPage(t *testing.T) {
	h := newHarness(t, withApplications)
	u := h.user("ada", "correct horse battery")
	c, sess := h.signIn(u)
	_, page := h.get(c, "/account/sessions")
	token := csrfOf(t, page, "/account/sign-out")
	if err := h.db.DeleteSession(context.Background(), sess.Hash); err != nil {
		t.Fatal(err)
	}
	for form, back := range map[string]string{
		"/account/sessions/sign-out":        "/account/sessions",
		"/account/sessions/sign-out-others": "/account/sessions",
		"/account/applications/revoke":      "/account/applications",
		"/account/password":                 "/account/password",
	} {
		resp, _ := h.post(c, form, url.Values{"csrf_token": {token}})
		last := h.sessions.signIns[len(h.sessions.signIns)-1]
		if resp.StatusCode != http.StatusSeeOther || last.returnTo != back {
			t.Errorf("%s without a session: status %d, signs in back to %q, want %q", form, resp.StatusCode, last.returnTo, back)
		}
	}
	// Signing out without a session has nothing left to do.
	if resp, body := h.post(c, "/account/sign-out", url.Values{"csrf_token": {token}}); resp.StatusCode != http.StatusOK || !strings.Contains(body, "<h1") {
		t.Fatalf("sign out without a session: status %d", resp.StatusCode)
	}
}
