package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// RunDeviceGrants runs the contract suite of auth.DeviceGrantStore. open
// is as for Run.
func RunDeviceGrants(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"device: create then get by user code returns every field unchanged", testDeviceRoundTrip},
		{"device: a duplicate device or user code hash is a conflict; unknown is not found", testDeviceDuplicateAndUnknown},
		{"device: an incomplete grant is invalid and writes nothing", testDeviceInvalid},
		{"device: polls are pending, then slow_down when early, and the interval grows and is kept", testDevicePollSlowDown},
		{"device: approval is collected exactly once, then every poll is reuse", testDeviceApprovedOnce},
		{"device: a denied grant answers access_denied; a second decision is a conflict", testDeviceDenied},
		{"device: an expired grant can be neither decided nor collected", testDeviceExpired},
		{"device: of concurrent polls of an approved grant exactly one collects it", testDevicePollConcurrent},
		{"device: of concurrent decisions exactly one wins", testDeviceDecideConcurrent},
		{"device: tokens of an approved grant are recorded with its client and user", testDeviceRecordIssued},
		{"device: deleting the client or the consent revokes an approved grant's family", testDeviceRevocations},
		{"device: purge removes expired grants but a used one while its family lives", testDevicePurge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

func newDeviceGrant(label, clientID string) *auth.DeviceGrant {
	return &auth.DeviceGrant{
		DeviceCodeHash: hashOf("device:" + label),
		UserCodeHash:   hashOf("user:" + label),
		ClientID:       clientID,
		Scopes:         []string{"offline_access", "openid"},
		Audiences:      []string{"https://api.example"},
		Status:         auth.DevicePending,
		Interval:       5 * time.Second,
		CreatedAt:      base,
		ExpiresAt:      at(10 * time.Minute),
	}
}

func mustDeviceGrant(t *testing.T, s auth.Store, g *auth.DeviceGrant) {
	t.Helper()
	if err := s.CreateDeviceGrant(t.Context(), g); err != nil {
		t.Fatalf("CreateDeviceGrant: %v", err)
	}
}

func approve(userID, family string) auth.DeviceDecision {
	return auth.DeviceDecision{Approve: true, UserID: userID, AuthTime: base, SessionID: "ses_1", FamilyID: family, AMR: []string{"pwd", "otp"}}
}

func mustDecide(t *testing.T, s auth.Store, g *auth.DeviceGrant, d auth.DeviceDecision, when time.Time) *auth.DeviceGrant {
	t.Helper()
	got, err := s.DecideDeviceGrant(t.Context(), g.UserCodeHash, d, when)
	if err != nil {
		t.Fatalf("DecideDeviceGrant: %v", err)
	}
	return got
}

func wantPoll(t *testing.T, s auth.Store, g *auth.DeviceGrant, when time.Time, want auth.DevicePoll) *auth.DeviceGrant {
	t.Helper()
	got, poll, err := s.PollDeviceGrant(t.Context(), g.DeviceCodeHash, g.ClientID, when)
	if err != nil {
		t.Fatalf("PollDeviceGrant: %v", err)
	}
	if poll != want {
		t.Fatalf("poll at +%v = %q, want %q", when.Sub(base), poll, want)
	}
	return got
}

func getDeviceGrant(t *testing.T, s auth.Store, g *auth.DeviceGrant) *auth.DeviceGrant {
	t.Helper()
	got, err := s.GetDeviceGrantByUserCode(t.Context(), g.UserCodeHash)
	if err != nil {
		t.Fatalf("GetDeviceGrantByUserCode: %v", err)
	}
	return got
}

func testDeviceRoundTrip(t *testing.T, s auth.Store) {
	tokyo := time.FixedZone("JST", 9*3600)
	g := newDeviceGrant("g1", "cli_1")
	g.CreatedAt = base.In(tokyo)
	mustDeviceGrant(t, s, g)
	want := *g
	want.CreatedAt = base
	wantSame(t, "device grant", &want, getDeviceGrant(t, s, g))
	wantZeroTimes(t, "new device grant", getDeviceGrant(t, s, g), "CreatedAt", "ExpiresAt")

	decided := mustDecide(t, s, g, approve("usr_1", "fam_1"), at(time.Minute))
	want.Status, want.UserID, want.AuthTime, want.SessionID, want.FamilyID, want.DecidedAt =
		auth.DeviceApproved, "usr_1", base, "ses_1", "fam_1", at(time.Minute)
	want.AMR = []string{"mfa", "otp", "pwd"} // the sign-in's, normalised
	wantSame(t, "decided grant (returned)", &want, decided)
	wantSame(t, "decided grant (stored)", &want, getDeviceGrant(t, s, g))
}

func testDeviceDuplicateAndUnknown(t *testing.T, s auth.Store) {
	ctx := t.Context()
	g := newDeviceGrant("g1", "cli_1")
	mustDeviceGrant(t, s, g)
	sameDevice := newDeviceGrant("g2", "cli_1")
	sameDevice.DeviceCodeHash = g.DeviceCodeHash
	wantCode(t, "CreateDeviceGrant(same device code)", s.CreateDeviceGrant(ctx, sameDevice), auth.ECONFLICT)
	sameUser := newDeviceGrant("g3", "cli_1")
	sameUser.UserCodeHash = g.UserCodeHash
	wantCode(t, "CreateDeviceGrant(same user code)", s.CreateDeviceGrant(ctx, sameUser), auth.ECONFLICT)
	_, err := s.GetDeviceGrantByUserCode(ctx, hashOf("user:g3"))
	wantCode(t, "GetDeviceGrantByUserCode(conflicting one)", err, auth.ENOTFOUND)

	_, err = s.GetDeviceGrantByUserCode(ctx, hashOf("nobody"))
	wantCode(t, "GetDeviceGrantByUserCode(unknown)", err, auth.ENOTFOUND)
	_, err = s.DecideDeviceGrant(ctx, hashOf("nobody"), approve("usr_1", "fam_1"), base)
	wantCode(t, "DecideDeviceGrant(unknown)", err, auth.ENOTFOUND)
	_, _, err = s.PollDeviceGrant(ctx, hashOf("nobody"), "cli_1", base)
	wantCode(t, "PollDeviceGrant(unknown)", err, auth.ENOTFOUND)
	_, _, err = s.PollDeviceGrant(ctx, nil, "cli_1", base)
	wantCode(t, "PollDeviceGrant(no hash)", err, auth.ENOTFOUND)
}

func testDeviceInvalid(t *testing.T, s auth.Store) {
	for name, mutate := range map[string]func(g *auth.DeviceGrant){
		"no device code": func(g *auth.DeviceGrant) { g.DeviceCodeHash = nil },
		"no user code":   func(g *auth.DeviceGrant) { g.UserCodeHash = nil },
		"no client":      func(g *auth.DeviceGrant) { g.ClientID = "" },
		"no expiry":      func(g *auth.DeviceGrant) { g.ExpiresAt = time.Time{} },
		"no interval":    func(g *auth.DeviceGrant) { g.Interval = 0 },
		"not pending":    func(g *auth.DeviceGrant) { g.Status = auth.DeviceApproved },
		"NUL in a scope": func(g *auth.DeviceGrant) { g.Scopes = []string{"a\x00b"} },
	} {
		g := newDeviceGrant("bad", "cli_1")
		mutate(g)
		wantCode(t, "CreateDeviceGrant("+name+")", s.CreateDeviceGrant(t.Context(), g), auth.EINVALID)
	}
	_, err := s.GetDeviceGrantByUserCode(t.Context(), hashOf("user:bad"))
	wantCode(t, "GetDeviceGrantByUserCode after invalid creates", err, auth.ENOTFOUND)
}

func testDevicePollSlowDown(t *testing.T, s auth.Store) {
	g := newDeviceGrant("g1", "cli_1")
	mustDeviceGrant(t, s, g)
	wantPoll(t, s, g, at(time.Second), auth.PollPending)
	got := wantPoll(t, s, g, at(3*time.Second), auth.PollSlowDown) // 2 s after: early
	if got.Interval != 10*time.Second {
		t.Fatalf("interval after slow_down = %v, want 10s", got.Interval)
	}
	// The grown interval counts from the early poll, and is kept; a tenth
	// of it is slack for jitter (9 s after is not early, 8 s is).
	wantPoll(t, s, g, at(11*time.Second), auth.PollSlowDown)
	got = wantPoll(t, s, g, at(24500*time.Millisecond), auth.PollPending) // 13.5 s after
	if got.Interval != 15*time.Second || !got.LastPollAt.Equal(at(24500*time.Millisecond)) {
		t.Fatalf("after polls: interval %v, last poll %v; want 15s and +24.5s", got.Interval, got.LastPollAt)
	}
	wantSame(t, "stored after polls", got, getDeviceGrant(t, s, g))
}

func testDeviceApprovedOnce(t *testing.T, s auth.Store) {
	g := newDeviceGrant("g1", "cli_1")
	mustDeviceGrant(t, s, g)
	wantPoll(t, s, g, at(time.Second), auth.PollPending)
	mustDecide(t, s, g, approve("usr_1", "fam_1"), at(5*time.Second))
	// Another client's poll changes nothing, not even the time of the
	// last poll.
	other := *g
	other.ClientID = "cli_2"
	wantPoll(t, s, &other, at(6*time.Second), auth.PollWrongClient)
	if got := getDeviceGrant(t, s, g); got.Status != auth.DeviceApproved || !got.LastPollAt.Equal(at(time.Second)) {
		t.Fatalf("after another client's poll: %+v", got)
	}
	got := wantPoll(t, s, g, at(10*time.Second), auth.PollApproved)
	if got.Status != auth.DeviceUsed || !got.UsedAt.Equal(at(10*time.Second)) || got.UserID != "usr_1" || got.FamilyID != "fam_1" ||
		!slices.Equal(got.AMR, []string{"mfa", "otp", "pwd"}) {
		t.Fatalf("collected grant = %+v", got)
	}
	wantPoll(t, s, g, at(20*time.Second), auth.PollReused)
	wantPoll(t, s, g, at(11*time.Minute), auth.PollReused) // still reuse after expiry
	_, err := s.DecideDeviceGrant(t.Context(), g.UserCodeHash, approve("usr_2", "fam_2"), at(30*time.Second))
	wantCode(t, "DecideDeviceGrant(used)", err, auth.ECONFLICT)
}

func testDeviceDenied(t *testing.T, s auth.Store) {
	g := newDeviceGrant("g1", "cli_1")
	mustDeviceGrant(t, s, g)
	d := mustDecide(t, s, g, auth.DeviceDecision{UserID: "usr_1", AuthTime: base, FamilyID: "fam_ignored"}, at(time.Second))
	if d.Status != auth.DeviceDenied || d.FamilyID != "" {
		t.Fatalf("denied grant = %+v", d)
	}
	_, err := s.DecideDeviceGrant(t.Context(), g.UserCodeHash, approve("usr_1", "fam_1"), at(2*time.Second))
	wantCode(t, "DecideDeviceGrant(after deny)", err, auth.ECONFLICT)
	wantPoll(t, s, g, at(10*time.Second), auth.PollDenied)
	wantPoll(t, s, g, at(20*time.Second), auth.PollDenied)
	_, err = s.DecideDeviceGrant(t.Context(), newDeviceGrant("x", "c").UserCodeHash, auth.DeviceDecision{}, at(time.Second))
	wantCode(t, "DecideDeviceGrant(unknown, no user)", err, auth.ENOTFOUND)
}

func testDeviceExpired(t *testing.T, s auth.Store) {
	g := newDeviceGrant("g1", "cli_1")
	mustDeviceGrant(t, s, g)
	_, err := s.DecideDeviceGrant(t.Context(), g.UserCodeHash, approve("usr_1", "fam_1"), g.ExpiresAt)
	wantCode(t, "DecideDeviceGrant(at expiry)", err, auth.ECONFLICT)
	wantPoll(t, s, g, g.ExpiresAt, auth.PollExpired)

	late := newDeviceGrant("g2", "cli_1")
	mustDeviceGrant(t, s, late)
	mustDecide(t, s, late, approve("usr_1", "fam_2"), at(time.Minute))
	wantPoll(t, s, late, late.ExpiresAt.Add(time.Second), auth.PollExpired)
	if got := getDeviceGrant(t, s, late); got.Status != auth.DeviceApproved {
		t.Fatalf("an expired approval was collected: %+v", got)
	}
}

func testDevicePollConcurrent(t *testing.T, s auth.Store) {
	g := newDeviceGrant("g1", "cli_1")
	mustDeviceGrant(t, s, g)
	mustDecide(t, s, g, approve("usr_1", "fam_1"), at(time.Second))
	const n = 8
	errs := parallel(n, func(i int) error {
		// All at the same instant: one collects, the others are early
		// (slow_down) or, if they come after it, reuse.
		_, poll, err := s.PollDeviceGrant(t.Context(), g.DeviceCodeHash, g.ClientID, at(time.Minute))
		switch {
		case err != nil:
			return err
		case poll == auth.PollApproved:
			return nil
		case poll == auth.PollSlowDown || poll == auth.PollReused:
			return auth.Errorf(auth.ECONFLICT, "lost")
		}
		return fmt.Errorf("poll %d: %q", i, poll)
	})
	wantOneWinner(t, errs, "PollDeviceGrant", "pollers")
}

func testDeviceDecideConcurrent(t *testing.T, s auth.Store) {
	g := newDeviceGrant("g1", "cli_1")
	mustDeviceGrant(t, s, g)
	const n = 8
	errs := parallel(n, func(i int) error {
		_, err := s.DecideDeviceGrant(t.Context(), g.UserCodeHash, approve(fmt.Sprintf("usr_%d", i), "fam_1"), at(time.Second))
		return err
	})
	wantOneWinner(t, errs, "DecideDeviceGrant", "deciders")
}

func testDeviceRecordIssued(t *testing.T, s auth.Store) {
	g := newDeviceGrant("g1", "cli_1")
	mustDeviceGrant(t, s, g)
	mustDecide(t, s, g, approve("usr_1", "fam_1"), at(time.Second))
	wantPoll(t, s, g, at(time.Minute), auth.PollApproved)
	if err := s.RecordIssuedToken(t.Context(), issued("jti_1", "fam_1", at(time.Hour))); err != nil {
		t.Fatalf("RecordIssuedToken: %v", err)
	}
	// Found by client and user: a client deletion lists the access token.
	if err := s.SaveConsent(t.Context(), &auth.Consent{UserID: "usr_1", ClientID: "cli_1", Scopes: []string{"openid"}, GrantedAt: base}); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}
	if err := s.DeleteConsent(t.Context(), "usr_1", "cli_1", at(2*time.Minute)); err != nil {
		t.Fatalf("DeleteConsent: %v", err)
	}
	wantRevoked(t, s, "jti_1", true)
}

func testDeviceRevocations(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mustClient(t, s, newClient("cli_1"), newClient("cli_2"))
	// Approved, tokens not collected yet: revoking the consent (or
	// deleting the client) must keep the collection from adding any.
	byConsent := newDeviceGrant("g1", "cli_1")
	mustDeviceGrant(t, s, byConsent)
	mustDecide(t, s, byConsent, approve("usr_1", "fam_consent"), at(time.Second))
	if err := s.SaveConsent(ctx, &auth.Consent{UserID: "usr_1", ClientID: "cli_1", Scopes: []string{"openid"}, GrantedAt: base}); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}
	if err := s.DeleteConsent(ctx, "usr_1", "cli_1", at(2*time.Second)); err != nil {
		t.Fatalf("DeleteConsent: %v", err)
	}
	err := s.RecordIssuedToken(ctx, issued("jti_c", "fam_consent", at(time.Hour)))
	wantCode(t, "RecordIssuedToken(family of a device grant under a revoked consent)", err, auth.ECONFLICT)

	byClient := newDeviceGrant("g2", "cli_2")
	mustDeviceGrant(t, s, byClient)
	mustDecide(t, s, byClient, approve("usr_1", "fam_client"), at(time.Second))
	if err := s.DeleteClient(ctx, "cli_2", at(2*time.Second)); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	err = s.CreateRefreshToken(ctx, newRefresh("r", "fam_client", "cli_2", "usr_1"), issued("jti_r", "fam_client", at(time.Hour)))
	wantCode(t, "CreateRefreshToken(family of a deleted client's device grant)", err, auth.ECONFLICT)
	_, err = s.GetDeviceGrantByUserCode(ctx, byClient.UserCodeHash)
	wantCode(t, "GetDeviceGrantByUserCode(deleted client's)", err, auth.ENOTFOUND)
}

func testDevicePurge(t *testing.T, s auth.Store) {
	ctx := t.Context()
	dead := newDeviceGrant("dead", "cli_1")
	mustDeviceGrant(t, s, dead)
	live := newDeviceGrant("live", "cli_1")
	live.ExpiresAt = at(time.Hour)
	mustDeviceGrant(t, s, live)
	used := newDeviceGrant("used", "cli_1")
	mustDeviceGrant(t, s, used)
	mustDecide(t, s, used, approve("usr_1", "fam_used"), at(time.Second))
	wantPoll(t, s, used, at(time.Minute), auth.PollApproved)
	mustRefresh(t, s, newRefresh("u", "fam_used", "cli_1", "usr_1"), issued("jti_u", "fam_used", at(time.Hour)))

	if err := s.PurgeExpired(ctx, at(30*time.Minute)); err != nil {
		t.Fatalf("PurgeExpired: %v", err)
	}
	_, err := s.GetDeviceGrantByUserCode(ctx, dead.UserCodeHash)
	wantCode(t, "GetDeviceGrantByUserCode(expired)", err, auth.ENOTFOUND)
	getDeviceGrant(t, s, live)
	// Presented again, the used grant must still be recognised as reuse.
	wantPoll(t, s, used, at(31*time.Minute), auth.PollReused)
}
