package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The storage the dashboard (issue 12) needs: key lists by owners, status,
// environment and search; client lists by owners; audit lists by actor,
// target and time; and dashboard sessions.

// filterTests are added to Run's table.
var filterTests = []struct {
	name string
	test func(t *testing.T, s auth.Store)
}{
	{"list by status agrees with APIKey.Status for keys in every state", testListStatus},
	{"list by environment agrees with KeyEnvironmentOf", testListEnvironment},
	{"list by search matches the ID or the name without ASCII case, wildcards literally", testListSearch},
	{"list by owners keeps the keys of any of them", testListOwners},
	{"list filters combine and page", testListCombined},
	{"list with an unknown status or environment is invalid", testListInvalidFilter},
	{"client list by owners keeps the clients of any of them", testListClientOwners},
	{"audit events keep their target and list by actor, target and time", testAuditDashboardFilters},
	{"a dashboard session reads back as created", testDashboardSessionRoundTrip},
	{"a dashboard session is gone from its ExpiresAt on", testDashboardSessionExpiry},
	{"a duplicate dashboard session hash is a conflict", testDashboardSessionDuplicate},
	{"an invalid dashboard session is refused", testDashboardSessionInvalid},
	{"touching sets LastSeenAt, and an unknown session is no error", testDashboardSessionTouch},
	{"deleting one session or a user's leaves the others", testDashboardSessionDelete},
	{"deleting expired sessions removes the expired and the idle and counts them", testDashboardSessionDeleteExpired},
}

// idsWhere returns the IDs of keys for which keep holds.
func idsWhere(keys []*auth.APIKey, keep func(k *auth.APIKey) bool) []string {
	var ids []string
	for _, k := range keys {
		if keep(k) {
			ids = append(ids, k.ID)
		}
	}
	return ids
}

// allKeys returns every key, as stored.
func allKeys(t *testing.T, s auth.Store) []*auth.APIKey {
	t.Helper()
	ids, _ := listAll(t, s, auth.APIKeyFilter{})
	keys := make([]*auth.APIKey, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, mustGet(t, s, id))
	}
	return keys
}

func testListStatus(t *testing.T, s auth.Store) {
	// Every combination of revocation, expiry and rotation, each on either
	// side of the instant and on it.
	marks := []struct {
		name string
		at   time.Time
	}{{"none", time.Time{}}, {"before", at(-time.Hour)}, {"on", at(0)}, {"after", at(time.Microsecond)}}
	n := 0
	for _, revoked := range marks {
		for _, expires := range marks {
			for _, rotated := range []bool{false, true} {
				k := newKey(fmt.Sprintf("key_%03d", n))
				n++
				k.RevokedAt, k.ExpiresAt = revoked.at, expires.at
				if rotated {
					k.RotatedTo = "key_next"
				}
				mustCreate(t, s, k)
			}
		}
	}
	keys := allKeys(t, s)
	for _, when := range []time.Time{
		at(0), at(-time.Microsecond), at(time.Microsecond), at(500 * time.Nanosecond),
		at(-500 * time.Nanosecond), at(-time.Hour), at(time.Hour), {},
	} {
		for _, status := range []string{auth.KeyActive, auth.KeyRotating, auth.KeyExpired, auth.KeyRevoked} {
			want := idsWhere(keys, func(k *auth.APIKey) bool { return k.Status(when) == status })
			got, _ := listAll(t, s, auth.APIKeyFilter{Status: status, At: when, Limit: 7})
			if !slices.Equal(got, want) {
				t.Errorf("Status %s at %v: got %v, want %v", status, when, got, want)
			}
		}
	}
}

func testListEnvironment(t *testing.T, s auth.Store) {
	for i, prefix := range []string{"sk_test_", "sk_live_", "acme_test_", "gh_", "sk_TEST_", "test_", "_test_", "a_b_test_", "sk_test", "テスト_test_"} {
		k := newKey(fmt.Sprintf("key_%02d", i))
		k.Prefix = prefix
		mustCreate(t, s, k)
	}
	keys := allKeys(t, s)
	for _, env := range auth.KeyEnvironments {
		want := idsWhere(keys, func(k *auth.APIKey) bool { return auth.KeyEnvironmentOf(k.Prefix) == env })
		got, _ := listAll(t, s, auth.APIKeyFilter{Environment: env, Limit: 3})
		if !slices.Equal(got, want) {
			t.Errorf("Environment %s: got %v, want %v", env, got, want)
		}
	}
}

func testListSearch(t *testing.T, s auth.Store) {
	names := []string{"Prod Billing", "staging", "100% off", "a_b", "axb", "ÉCOLE", "back\\slash", "key_03"}
	for i, name := range names {
		k := newKey(fmt.Sprintf("key_%02d", i))
		k.Name = name
		mustCreate(t, s, k)
	}
	for search, want := range map[string][]string{
		"billing":    {"key_00"},
		"PROD bIll":  {"key_00"},
		"%":          {"key_02"},
		"0%":         {"key_02"},
		"_":          {"key_03", "key_07"},
		"a_b":        {"key_03"},
		"\\":         {"key_06"},
		"école":      nil, // only ASCII letters are folded
		"ÉCOLE":      {"key_05"},
		"éCOLE":      nil,
		"key_01":     {"key_01"}, // by ID
		"key_1":      nil,        // an ID matches whole
		"key_0":      {"key_07"}, // by name
		"key_03":     {"key_03", "key_07"},
		"nothing":    nil,
		"'; --":      nil,
		"stag":       {"key_01"},
		" off":       {"key_02"},
		"Prod Billi": {"key_00"},
	} {
		got, _ := listAll(t, s, auth.APIKeyFilter{Search: search, Limit: 1})
		if !slices.Equal(got, want) {
			t.Errorf("Search %q: got %v, want %v", search, got, want)
		}
	}
}

func testListOwners(t *testing.T, s auth.Store) {
	for i, owner := range []string{"billing", "search", "billing", "Billing", "ads", "search"} {
		k := newKey(fmt.Sprintf("key_%d", i))
		k.Owner = owner
		mustCreate(t, s, k)
	}
	for _, tc := range []struct {
		f    auth.APIKeyFilter
		want []string
	}{
		{auth.APIKeyFilter{Owners: []string{"billing"}}, []string{"key_0", "key_2"}},
		{auth.APIKeyFilter{Owners: []string{"billing", "ads"}}, []string{"key_0", "key_2", "key_4"}},
		{auth.APIKeyFilter{Owners: []string{"nobody"}}, nil},
		{auth.APIKeyFilter{Owners: []string{"search", "billing", "search"}}, []string{"key_0", "key_1", "key_2", "key_5"}},
		{auth.APIKeyFilter{Owners: nil}, []string{"key_0", "key_1", "key_2", "key_3", "key_4", "key_5"}},
		{auth.APIKeyFilter{Owners: []string{}}, []string{"key_0", "key_1", "key_2", "key_3", "key_4", "key_5"}},
		{auth.APIKeyFilter{Owners: []string{"billing", "ads"}, Owner: "ads"}, []string{"key_4"}},
		{auth.APIKeyFilter{Owners: []string{"billing"}, Owner: "ads"}, nil},
	} {
		tc.f.Limit = 2
		got, _ := listAll(t, s, tc.f)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.f, got, tc.want)
		}
	}
}

func testListCombined(t *testing.T, s auth.Store) {
	when := at(0)
	for i := range 40 {
		k := newKey(fmt.Sprintf("key_%02d", i))
		k.Owner = []string{"billing", "search", "ads"}[i%3]
		k.Prefix = []string{"sk_live_", "sk_test_"}[i%2]
		k.Name = []string{"Primary", "backup", "PRIMARY replica", "other"}[i%4]
		if i%5 == 0 {
			k.RevokedAt = at(-time.Minute)
		}
		if i%7 == 0 {
			k.RotatedTo = "key_next"
		}
		mustCreate(t, s, k)
	}
	keys := allKeys(t, s)
	f := auth.APIKeyFilter{
		Owners: []string{"billing", "ads"}, Status: auth.KeyActive, At: when,
		Environment: auth.KeyEnvLive, Search: "primary", Limit: 2,
	}
	want := idsWhere(keys, func(k *auth.APIKey) bool {
		return (k.Owner == "billing" || k.Owner == "ads") && k.Status(when) == auth.KeyActive &&
			k.Environment() == auth.KeyEnvLive && (k.Name == "Primary" || k.Name == "PRIMARY replica")
	})
	if len(want) < 3 {
		t.Fatalf("fixture: only %v match, want pages", want)
	}
	got, pages := listAll(t, s, f)
	if !slices.Equal(got, want) || pages != (len(want)+1)/2 {
		t.Errorf("combined: got %v in %d pages, want %v", got, pages, want)
	}
	f.Status, f.RotationDueBy = "", time.Time{}
	f.Owner = "ads"
	want = idsWhere(keys, func(k *auth.APIKey) bool {
		return k.Owner == "ads" && k.Environment() == auth.KeyEnvLive && (k.Name == "Primary" || k.Name == "PRIMARY replica")
	})
	if got, _ := listAll(t, s, f); !slices.Equal(got, want) {
		t.Errorf("with Owner: got %v, want %v", got, want)
	}
}

func testListInvalidFilter(t *testing.T, s auth.Store) {
	mustCreate(t, s, newKey("key_1"))
	for _, f := range []auth.APIKeyFilter{
		{Status: "gone"}, {Status: "Active"}, {Environment: "prod"}, {Search: "a\x00"}, {Search: "\xff"}, {Owners: []string{"a\x00"}},
	} {
		_, _, err := s.ListAPIKeys(t.Context(), f)
		wantCode(t, fmt.Sprintf("ListAPIKeys(%+v)", f), err, auth.EINVALID)
	}
}

func testListClientOwners(t *testing.T, s auth.Store) {
	for i, owner := range []string{"billing", "", "search", "billing", "Billing"} {
		c := newClient(fmt.Sprintf("cli_%d", i))
		c.Owner = owner
		mustClient(t, s, c)
	}
	for _, tc := range []struct {
		owners []string
		want   []string
	}{
		{nil, []string{"cli_0", "cli_1", "cli_2", "cli_3", "cli_4"}},
		{[]string{}, []string{"cli_0", "cli_1", "cli_2", "cli_3", "cli_4"}},
		{[]string{"billing"}, []string{"cli_0", "cli_3"}},
		{[]string{"search", "billing"}, []string{"cli_0", "cli_2", "cli_3"}},
		{[]string{"nobody"}, nil},
	} {
		var got []string
		f := auth.ClientFilter{Owners: tc.owners, Limit: 1}
		for range 10 {
			page, next, err := s.ListClients(t.Context(), f)
			if err != nil {
				t.Fatalf("ListClients(%v): %v", tc.owners, err)
			}
			for _, c := range page {
				got = append(got, c.ID)
			}
			if next == "" {
				break
			}
			f.After = next
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Owners %q: got %v, want %v", tc.owners, got, tc.want)
		}
	}
	_, _, err := s.ListClients(t.Context(), auth.ClientFilter{Owners: []string{"\xff"}})
	wantCode(t, "ListClients(invalid owner)", err, auth.EINVALID)
}

func testAuditDashboardFilters(t *testing.T, s auth.Store) {
	evs := []auth.AuditEvent{
		{Time: at(0), Type: auth.EventKeyCreated, Actor: "key_admin", KeyID: "key_1", Count: 1},
		{Time: at(time.Second), Type: auth.EventUserDisabled, Actor: "usr_admin", Count: 1, Details: map[string]string{"user_id": "usr_1"}},
		{Time: at(2 * time.Second), Type: auth.EventConsentGranted, Actor: "usr_1", Count: 1, Details: map[string]string{"user_id": "usr_1", "client_id": "cli_1"}},
		{Time: at(3 * time.Second), Type: auth.EventRouteDeleted, Actor: "key_admin", Count: 1, Details: map[string]string{"name": "billing"}},
		{Time: at(4 * time.Second), Type: auth.EventSigningKeyRetired, Actor: auth.ActorSystem, Count: 1, Details: map[string]string{"kid": "kid_1"}},
		{Time: at(5 * time.Second), Type: auth.EventClientDeleted, Actor: "usr_admin", KeyID: "cli_1", Count: 1},
		{Time: at(6 * time.Second), Type: auth.EventKeyRevoked, Actor: "key_admin", KeyID: "usr_1", Count: 1},
	}
	if err := s.AppendAuditEvents(t.Context(), evs...); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	for _, tc := range []struct {
		name string
		f    auth.AuditFilter
		want []int
	}{
		{"actor", auth.AuditFilter{Actor: "key_admin"}, []int{0, 3, 6}},
		{"actor none", auth.AuditFilter{Actor: "key_nobody"}, nil},
		{"target of a user event", auth.AuditFilter{Target: "usr_1"}, []int{1, 6}},
		{"target of a client", auth.AuditFilter{Target: "cli_1"}, []int{2, 5}},
		{"target of a route", auth.AuditFilter{Target: "billing"}, []int{3}},
		{"target of a signing key", auth.AuditFilter{Target: "kid_1"}, []int{4}},
		{"actor and target", auth.AuditFilter{Actor: "usr_admin", Target: "cli_1"}, []int{5}},
		{"since is inclusive", auth.AuditFilter{Since: at(3 * time.Second)}, []int{3, 4, 5, 6}},
		{"until is exclusive", auth.AuditFilter{Until: at(2 * time.Second)}, []int{0, 1}},
		{"since and until", auth.AuditFilter{Since: at(time.Second), Until: at(4 * time.Second)}, []int{1, 2, 3}},
		{"since with nanoseconds", auth.AuditFilter{Since: at(6*time.Second + 1)}, nil},
		{"until with nanoseconds", auth.AuditFilter{Until: at(6*time.Second + 1)}, []int{0, 1, 2, 3, 4, 5, 6}},
		{"until just before", auth.AuditFilter{Until: at(6*time.Second - 1)}, []int{0, 1, 2, 3, 4, 5}},
		{"time and target", auth.AuditFilter{Since: at(time.Second), Target: "cli_1", Type: auth.EventClientDeleted}, []int{5}},
		{"empty window", auth.AuditFilter{Since: at(time.Hour), Until: at(2 * time.Hour)}, nil},
	} {
		// Each filter pages one event at a time both ways: oldest first,
		// and newest first, which must list the same events reversed.
		for _, newest := range []bool{false, true} {
			var got []auth.AuditEvent
			f := tc.f
			f.Limit, f.Newest = 1, newest
			for range 20 {
				page, next, err := s.ListAuditEvents(t.Context(), f)
				if err != nil {
					t.Fatalf("%s (newest %v): ListAuditEvents: %v", tc.name, newest, err)
				}
				got = append(got, page...)
				if next == 0 {
					break
				}
				f.After = next
			}
			var gotTypes, wantTypes []string
			for _, e := range got {
				gotTypes = append(gotTypes, e.Type+"/"+e.Target())
			}
			for _, i := range tc.want {
				wantTypes = append(wantTypes, evs[i].Type+"/"+evs[i].Target())
			}
			if newest {
				slices.Reverse(wantTypes)
			}
			if !slices.Equal(gotTypes, wantTypes) {
				t.Errorf("%s (newest %v): got %v, want %v", tc.name, newest, gotTypes, wantTypes)
			}
		}
	}
	_, _, err := s.ListAuditEvents(t.Context(), auth.AuditFilter{Target: "\xff"})
	wantCode(t, "ListAuditEvents(invalid target)", err, auth.EINVALID)
}

func newDashboardSession(label, userID string) *auth.DashboardSession {
	return &auth.DashboardSession{
		Hash: hashOf("dashboard:" + label), UserID: userID, IDToken: "eyJ.id." + label,
		CreatedAt: base, LastSeenAt: at(time.Minute), ExpiresAt: at(12 * time.Hour),
	}
}

func mustDashboardSession(t *testing.T, s auth.Store, ds ...*auth.DashboardSession) {
	t.Helper()
	for _, d := range ds {
		if err := s.CreateDashboardSession(t.Context(), d); err != nil {
			t.Fatalf("CreateDashboardSession(%s): %v", d.UserID, err)
		}
	}
}

// dashboardSessionAt returns the session, or nil when it is not found.
func dashboardSessionAt(t *testing.T, s auth.Store, hash []byte, now time.Time) *auth.DashboardSession {
	t.Helper()
	d, err := s.GetDashboardSession(t.Context(), hash, now)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil
	}
	if err != nil {
		t.Fatalf("GetDashboardSession: %v", err)
	}
	return d
}

func testDashboardSessionRoundTrip(t *testing.T, s auth.Store) {
	want := newDashboardSession("a", "usr_1")
	mustDashboardSession(t, s, want)
	got := dashboardSessionAt(t, s, want.Hash, base)
	if got == nil || !slices.Equal(got.Hash, want.Hash) || got.UserID != want.UserID || got.IDToken != want.IDToken ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.LastSeenAt.Equal(want.LastSeenAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("GetDashboardSession = %+v, want %+v", got, want)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}
	if d := dashboardSessionAt(t, s, hashOf("dashboard:unknown"), base); d != nil {
		t.Errorf("unknown hash = %+v, want not found", d)
	}
	if d := dashboardSessionAt(t, s, nil, base); d != nil {
		t.Errorf("empty hash = %+v, want not found", d)
	}
}

func testDashboardSessionExpiry(t *testing.T, s auth.Store) {
	d := newDashboardSession("a", "usr_1")
	mustDashboardSession(t, s, d)
	if dashboardSessionAt(t, s, d.Hash, d.ExpiresAt.Add(-time.Microsecond)) == nil {
		t.Error("a microsecond before ExpiresAt: not found, want the session")
	}
	if dashboardSessionAt(t, s, d.Hash, d.ExpiresAt.Add(-time.Nanosecond)) == nil {
		t.Error("a nanosecond before ExpiresAt: not found, want the session")
	}
	if got := dashboardSessionAt(t, s, d.Hash, d.ExpiresAt); got != nil {
		t.Errorf("at ExpiresAt = %+v, want not found", got)
	}
	if got := dashboardSessionAt(t, s, d.Hash, d.ExpiresAt.Add(time.Hour)); got != nil {
		t.Errorf("after ExpiresAt = %+v, want not found", got)
	}
}

func testDashboardSessionDuplicate(t *testing.T, s auth.Store) {
	d := newDashboardSession("a", "usr_1")
	mustDashboardSession(t, s, d)
	dup := newDashboardSession("a", "usr_2")
	wantCode(t, "CreateDashboardSession(duplicate)", s.CreateDashboardSession(t.Context(), dup), auth.ECONFLICT)
	if got := dashboardSessionAt(t, s, d.Hash, base); got == nil || got.UserID != "usr_1" {
		t.Errorf("after the conflict = %+v, want the first session", got)
	}
}

func testDashboardSessionInvalid(t *testing.T, s auth.Store) {
	noHash := newDashboardSession("a", "usr_1")
	noHash.Hash = nil
	noUser := newDashboardSession("b", "")
	nul := newDashboardSession("c", "usr_1")
	nul.IDToken = "a\x00b"
	for name, d := range map[string]*auth.DashboardSession{"no hash": noHash, "no user": noUser, "NUL": nul, "nil": nil} {
		wantCode(t, "CreateDashboardSession("+name+")", s.CreateDashboardSession(t.Context(), d), auth.EINVALID)
	}
}

func testDashboardSessionTouch(t *testing.T, s auth.Store) {
	d := newDashboardSession("a", "usr_1")
	other := newDashboardSession("b", "usr_1")
	mustDashboardSession(t, s, d, other)
	seen := at(time.Hour)
	if err := s.TouchDashboardSession(t.Context(), d.Hash, seen); err != nil {
		t.Fatalf("TouchDashboardSession: %v", err)
	}
	if got := dashboardSessionAt(t, s, d.Hash, base); got == nil || !got.LastSeenAt.Equal(seen) {
		t.Errorf("after touch = %+v, want LastSeenAt %v", got, seen)
	}
	if got := dashboardSessionAt(t, s, other.Hash, base); got == nil || !got.LastSeenAt.Equal(other.LastSeenAt) {
		t.Errorf("other session after touch = %+v, want it unchanged", got)
	}
	if err := s.TouchDashboardSession(t.Context(), hashOf("dashboard:unknown"), seen); err != nil {
		t.Errorf("TouchDashboardSession(unknown) = %v, want nil", err)
	}
}

func testDashboardSessionDelete(t *testing.T, s auth.Store) {
	a1, a2, b := newDashboardSession("a1", "usr_a"), newDashboardSession("a2", "usr_a"), newDashboardSession("b", "usr_b")
	c := newDashboardSession("c", "usr_c")
	mustDashboardSession(t, s, a1, a2, b, c)
	if err := s.DeleteDashboardSession(t.Context(), c.Hash); err != nil {
		t.Fatalf("DeleteDashboardSession: %v", err)
	}
	if err := s.DeleteDashboardSession(t.Context(), c.Hash); err != nil {
		t.Errorf("DeleteDashboardSession(unknown) = %v, want nil", err)
	}
	if err := s.DeleteUserDashboardSessions(t.Context(), "usr_a"); err != nil {
		t.Fatalf("DeleteUserDashboardSessions: %v", err)
	}
	if err := s.DeleteUserDashboardSessions(t.Context(), "usr_nobody"); err != nil {
		t.Errorf("DeleteUserDashboardSessions(no sessions) = %v, want nil", err)
	}
	for _, d := range []*auth.DashboardSession{a1, a2, c} {
		if got := dashboardSessionAt(t, s, d.Hash, base); got != nil {
			t.Errorf("deleted session of %s still there", d.UserID)
		}
	}
	if got := dashboardSessionAt(t, s, b.Hash, base); got == nil {
		t.Error("usr_b's session was deleted")
	}
}

func testDashboardSessionDeleteExpired(t *testing.T, s auth.Store) {
	now, idleBefore := at(10*time.Hour), at(9*time.Hour)
	mk := func(label string, seen, expires time.Time) *auth.DashboardSession {
		d := newDashboardSession(label, "usr_"+label)
		d.LastSeenAt, d.ExpiresAt = seen, expires
		return d
	}
	keep := []*auth.DashboardSession{
		mk("fresh", at(9*time.Hour+30*time.Minute), at(20*time.Hour)),
		mk("seen at idleBefore", idleBefore, at(20*time.Hour)),
		mk("expires just after now", at(9*time.Hour+30*time.Minute), now.Add(time.Microsecond)),
	}
	gone := []*auth.DashboardSession{
		mk("expires at now", at(9*time.Hour+30*time.Minute), now),
		mk("expired", at(9*time.Hour+30*time.Minute), at(time.Hour)),
		mk("idle", idleBefore.Add(-time.Microsecond), at(20*time.Hour)),
		mk("never seen", time.Time{}, at(20*time.Hour)),
	}
	mustDashboardSession(t, s, append(slices.Clone(keep), gone...)...)
	n, err := s.DeleteExpiredDashboardSessions(t.Context(), now, idleBefore)
	if err != nil || n != int64(len(gone)) {
		t.Fatalf("DeleteExpiredDashboardSessions = %d, %v; want %d", n, err, len(gone))
	}
	for _, d := range keep {
		if dashboardSessionAt(t, s, d.Hash, base) == nil {
			t.Errorf("%s: deleted, want kept", d.UserID)
		}
	}
	for _, d := range gone {
		if dashboardSessionAt(t, s, d.Hash, base) != nil {
			t.Errorf("%s: kept, want deleted", d.UserID)
		}
	}
	// With nanoseconds, the bound compares as in Go: the session seen at
	// idleBefore was seen before idleBefore plus a nanosecond.
	if n, err := s.DeleteExpiredDashboardSessions(t.Context(), now, idleBefore.Add(time.Nanosecond)); err != nil || n != 1 {
		t.Errorf("idleBefore a nanosecond after LastSeenAt: deleted %d, %v; want 1", n, err)
	}
	// A zero idleBefore deletes nothing for being idle.
	mustDashboardSession(t, s, mk("old", at(-time.Hour), at(20*time.Hour)))
	if n, err := s.DeleteExpiredDashboardSessions(t.Context(), now, time.Time{}); err != nil || n != 0 {
		t.Errorf("zero idleBefore: deleted %d, %v; want 0", n, err)
	}
}

// EventsOfEveryTarget returns audit events of every family that
// AuditEvent.Target reads, with and without the detail it reads, for the
// backends' tests of the migration that back-fills the target column.
func EventsOfEveryTarget() []auth.AuditEvent {
	d := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	evs := []auth.AuditEvent{
		{Type: auth.EventKeyCreated, KeyID: "key_1", Details: d("name", "other")},
		{Type: auth.EventKeyVerificationFailed, Reason: "NOT_FOUND"},
		{Type: auth.EventClientUpdated, KeyID: "cli_1", Details: d("client_id", "cli_1", "name", "x")},
		{Type: auth.EventClientCreated, Details: d("client_id", "cli_2")},
		{Type: auth.EventConsentGranted, Actor: "usr_1", Details: d("user_id", "usr_1", "client_id", "cli_1")},
		{Type: auth.EventFamilyRevoked, Details: d("client_id", "cli_3")},
		{Type: auth.EventUserCreated, Details: d("user_id", "usr_2", "username", "bob")},
		{Type: "user.login_throttled", Details: d("username", "bob", "address", "192.0.2.1")},
		{Type: auth.EventSigningKeyCreated, Details: d("kid", "kid_1", "alg", "ES256")},
		{Type: auth.EventRouteDeleted, Details: d("name", "billing")},
		{Type: auth.EventWebhookUpdated, KeyID: "whe_1", Details: d("host", "example.com")},
		{Type: "route", Details: d("name", "no family")},
		{Type: "routes.changed", Details: d("name", "not a route")},
		{Type: auth.EventUserDisabled},
	}
	for i := range evs {
		evs[i].Time = at(time.Duration(i) * time.Second)
		evs[i].Count = 1
		if evs[i].Actor == "" {
			evs[i].Actor = "key_admin"
		}
	}
	return evs
}

// WantTargets fails t unless the audit log holds exactly the events of
// EventsOfEveryTarget, each listed by its target (AuditEvent.Target).
func WantTargets(t *testing.T, s auth.AuditStore) {
	t.Helper()
	evs := EventsOfEveryTarget()
	got, _, err := s.ListAuditEvents(t.Context(), auth.AuditFilter{Limit: auth.MaxPageSize})
	if err != nil || len(got) != len(evs) {
		t.Fatalf("ListAuditEvents = %d events, %v; want %d", len(got), err, len(evs))
	}
	for i, e := range got {
		if e.Type != evs[i].Type || e.Target() != evs[i].Target() {
			t.Fatalf("event %d = %s about %q, want %s about %q", i, e.Type, e.Target(), evs[i].Type, evs[i].Target())
		}
		if e.Target() == "" {
			continue
		}
		byTarget, _, err := s.ListAuditEvents(t.Context(), auth.AuditFilter{Target: e.Target()})
		if err != nil || !slices.ContainsFunc(byTarget, func(x auth.AuditEvent) bool { return x.ID == e.ID }) {
			t.Errorf("ListAuditEvents(Target %q) = %d events, %v; want event %d (%s) among them", e.Target(), len(byTarget), err, i, e.Type)
		}
		for _, x := range byTarget {
			if x.Target() != e.Target() {
				t.Errorf("ListAuditEvents(Target %q) holds %s about %q", e.Target(), x.Type, x.Target())
			}
		}
	}
}
