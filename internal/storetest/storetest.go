// Package storetest is the storage contract suite: the one set of tests that
// every auth.Store backend runs from its own _test.go, so that all backends
// are proven to behave the same way.
//
// It uses only the auth package; a backend plugs in through the open
// function it passes to Run.
package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Run runs the contract suite. open must return a fresh, empty store for the
// test it is given and close it in t.Cleanup. Subtests run in parallel, so
// open must be safe to call concurrently.
func Run(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"create then get by ID and by hash returns every field unchanged", testCreateGetRoundTrip},
		{"zero times and empty scopes and metadata read back as zero and empty", testZeroValuesRoundTrip},
		{"create appends its events in the same transaction", testCreateAppendsEvents},
		{"duplicate ID is a conflict and writes nothing", testDuplicateID},
		{"duplicate hash is a conflict and writes nothing", testDuplicateHash},
		{"text the database cannot keep is invalid and writes nothing", testInvalidText},
		{"unknown ID or hash is not found", testNotFound},
		{"list returns keys in ascending ID order", testListOrder},
		{"list pages with the cursor until the last page", testListPaging},
		{"list filters by owner", testListOwner},
		{"list with RotationDueBy keeps only active keys due by then", testListRotationDue},
		{"list defaults to 100 and caps the limit at MaxPageSize", testListLimits},
		{"rotate marks the old key, inserts the new one and appends events", testRotate},
		{"rotate keeps an earlier expiry of the old key", testRotateKeepsEarlierExpiry},
		{"rotate with a zero old expiry leaves the expiry unchanged", testRotateZeroExpiry},
		{"rotating a revoked key is a conflict and writes nothing", testRotateRevoked},
		{"rotating a rotated key is a conflict and writes nothing", testRotateRotated},
		{"rotation whose new key collides rolls back the old key", testRotateRollback},
		{"revoke sets RevokedAt and appends the event", testRevoke},
		{"revoking a revoked key changes nothing and writes no event", testRevokeTwice},
		{"touch keeps the later time and ignores unknown IDs", testTouch},
		{"expired keys are reported once, revoked and unexpired never", testMarkExpired},
		{"audit events are listed in ID order with increasing IDs", testAuditOrder},
		{"audit list filters by key ID and type", testAuditFilters},
		{"audit list pages with the cursor until the last page", testAuditPaging},
		{"audit list pages newest first with a cursor going down", testAuditPagingNewest},
		{"a reader tailing the audit log never skips a concurrent event", testAuditTailing},
		{"appending no events is a no-op", testAppendNothing},
		{"a cancelled context returns an error and writes nothing", testCancelledContext},
		{"ping succeeds on an open store", testPing},
		{"a key without credits or networks reads back with none", testNoCreditsRoundTrip},
		{"update writes the changed fields and the events in one transaction", testUpdate},
		{"update refused or without events writes nothing", testUpdateNothing},
		{"update of an unknown key is not found", testUpdateNotFound},
		{"update with invalid credits or networks is invalid and writes nothing", testUpdateInvalid},
		{"spend takes credits only while there are enough", testSpend},
		{"spend refills at the UTC start of the period", testSpendRefill},
		{"the spend that leaves zero appends the exhausted events once", testSpendExhausted},
		{"the first spend that cannot be paid appends the exhausted events once", testSpendExhaustedUnpayable},
		{"keys of a rotation chain share the ledger's credits", testCreditsLedger},
		{"an update through a rotated key does not overwrite the ledger's concurrent change", testCreditsLedgerLockedOnUpdate},
		{"a key without credits spends nothing", testSpendUnmetered},
		{"concurrent spends never take more credits than the key has", testSpendConcurrent},
		{"sync writes credits counted elsewhere only forward and only for the version", testSyncCredits},
	}
	tests = append(tests, filterTests...)
	tests = append(tests, nodeTests...)
	tests = append(tests, sessionListTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// base is a fixed instant with microseconds, the precision backends keep.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 123456000, time.UTC)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// hashOf returns a deterministic 32-byte hash for a label, so tests can
// create keys whose hashes collide on purpose.
func hashOf(label string) []byte {
	h := sha256.Sum256([]byte("storetest:" + label))
	return h[:]
}

// newKey returns a minimal valid key with the given ID, owned by "svc".
func newKey(id string) *auth.APIKey {
	return &auth.APIKey{
		ID:        id,
		Hash:      hashOf(id),
		Prefix:    "sk_test_",
		Hint:      "abcd",
		Owner:     "svc",
		Name:      "key " + id,
		Scopes:    []string{"read"},
		Metadata:  map[string]string{"team": "core"},
		CreatedAt: base,
	}
}

func event(typ, keyID string, t time.Time) auth.AuditEvent {
	return auth.AuditEvent{Time: t, Type: typ, Actor: "key_admin", KeyID: keyID, Count: 1}
}

func mustCreate(t *testing.T, s auth.Store, keys ...*auth.APIKey) {
	t.Helper()
	for _, k := range keys {
		if err := s.CreateAPIKey(t.Context(), k); err != nil {
			t.Fatalf("CreateAPIKey(%s): %v", k.ID, err)
		}
	}
}

func mustGet(t *testing.T, s auth.Store, id string) *auth.APIKey {
	t.Helper()
	k, err := s.GetAPIKey(t.Context(), id)
	if err != nil {
		t.Fatalf("GetAPIKey(%s): %v", id, err)
	}
	return k
}

// allEvents returns the whole audit log.
func allEvents(t *testing.T, s auth.Store) []auth.AuditEvent {
	t.Helper()
	var all []auth.AuditEvent
	var after int64
	for {
		page, next, err := s.ListAuditEvents(t.Context(), auth.AuditFilter{After: after, Limit: auth.MaxPageSize})
		if err != nil {
			t.Fatalf("ListAuditEvents: %v", err)
		}
		all = append(all, page...)
		if next == 0 {
			return all
		}
		after = next
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := auth.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (%v), want %q", what, got, err, code)
	}
}

func wantNoEvents(t *testing.T, s auth.Store) {
	t.Helper()
	if evs := allEvents(t, s); len(evs) != 0 {
		t.Fatalf("audit log has %d events, want none: %+v", len(evs), evs)
	}
}

func wantNotFound(t *testing.T, s auth.Store, id string) {
	t.Helper()
	_, err := s.GetAPIKey(t.Context(), id)
	wantCode(t, "GetAPIKey("+id+")", err, auth.ENOTFOUND)
}

// diffKey lists the fields in which got differs from want. Times are
// compared as instants; nil and empty scopes and metadata are the same.
func diffKey(want, got *auth.APIKey) []string {
	var d []string
	add := func(field string, w, g any) { d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w)) }
	if want.ID != got.ID {
		add("ID", want.ID, got.ID)
	}
	if !slices.Equal(want.Hash, got.Hash) {
		add("Hash", want.Hash, got.Hash)
	}
	for _, f := range []struct{ name, w, g string }{
		{"Prefix", want.Prefix, got.Prefix},
		{"Hint", want.Hint, got.Hint},
		{"Owner", want.Owner, got.Owner},
		{"Name", want.Name, got.Name},
		{"RotatedFrom", want.RotatedFrom, got.RotatedFrom},
		{"RotatedTo", want.RotatedTo, got.RotatedTo},
	} {
		if f.w != f.g {
			add(f.name, fmt.Sprintf("%q", f.w), fmt.Sprintf("%q", f.g))
		}
	}
	if !slices.Equal(want.Scopes, got.Scopes) {
		add("Scopes", want.Scopes, got.Scopes)
	}
	if !mapsEqual(want.Metadata, got.Metadata) {
		add("Metadata", want.Metadata, got.Metadata)
	}
	if want.RateLimit != got.RateLimit {
		add("RateLimit", want.RateLimit, got.RateLimit)
	}
	if want.RotationPeriod != got.RotationPeriod {
		add("RotationPeriod", want.RotationPeriod, got.RotationPeriod)
	}
	if !creditsEqual(want.Credits, got.Credits) {
		add("Credits", want.Credits, got.Credits)
	}
	if !slices.Equal(want.AllowedIPs, got.AllowedIPs) {
		add("AllowedIPs", want.AllowedIPs, got.AllowedIPs)
	}
	for _, f := range []struct {
		name string
		w, g time.Time
	}{
		{"CreatedAt", want.CreatedAt, got.CreatedAt},
		{"ExpiresAt", want.ExpiresAt, got.ExpiresAt},
		{"RevokedAt", want.RevokedAt, got.RevokedAt},
		{"LastUsedAt", want.LastUsedAt, got.LastUsedAt},
		{"RotationDueAt", want.RotationDueAt, got.RotationDueAt},
	} {
		if !f.w.Equal(f.g) {
			add(f.name, f.w, f.g)
		}
	}
	return d
}

func wantKey(t *testing.T, what string, want, got *auth.APIKey) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil key", what)
	}
	if d := diffKey(want, got); len(d) > 0 {
		t.Fatalf("%s: key differs:\n%v", what, d)
	}
}

// diffEvent compares events ignoring ID, which the store assigns.
func diffEvent(want, got auth.AuditEvent) string {
	if !want.Time.Equal(got.Time) || want.Type != got.Type || want.Actor != got.Actor ||
		want.KeyID != got.KeyID || want.Reason != got.Reason || want.Count != got.Count ||
		!mapsEqual(want.Details, got.Details) {
		return fmt.Sprintf("got %+v, want %+v", got, want)
	}
	return ""
}

func wantEvents(t *testing.T, s auth.Store, want ...auth.AuditEvent) []auth.AuditEvent {
	t.Helper()
	got := allEvents(t, s)
	if len(got) != len(want) {
		t.Fatalf("audit log has %d events, want %d:\ngot  %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		if d := diffEvent(want[i], got[i]); d != "" {
			t.Fatalf("event %d: %s", i, d)
		}
	}
	return got
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testCreateGetRoundTrip(t *testing.T, s auth.Store) {
	// Times in other zones and with microseconds must come back as the
	// same instants.
	tokyo := time.FixedZone("JST", 9*3600)
	k := &auth.APIKey{
		ID:             "key_01HZZ'; DROP TABLE api_keys; --",
		Hash:           append([]byte{0, 0xff, 0x27, 0x5c}, hashOf("full")[4:]...),
		Prefix:         "sk_live_",
		Hint:           "Zz9_",
		Owner:          "サービス 😀",
		Name:           `'; DROP TABLE api_keys; -- "quoted" \ back\slash %_`,
		Scopes:         []string{"admin:*", "keys:read", "keys:write", "ユーザー"},
		Metadata:       map[string]string{"env": "prod", "note": "'; DELETE FROM audit_events; --", "絵文字": "😀", "": "empty key"},
		RateLimit:      auth.RateLimit{Rate: 12.5, Burst: 40},
		RotationPeriod: 90*24*time.Hour + 1500*time.Millisecond,
		CreatedAt:      base,
		ExpiresAt:      time.Date(2031, 1, 2, 3, 4, 5, 999999000, tokyo),
		RevokedAt:      at(48*time.Hour + time.Microsecond),
		LastUsedAt:     at(time.Hour + 7*time.Microsecond).In(tokyo),
		RotationDueAt:  at(90*24*time.Hour + 1500*time.Millisecond),
		RotatedFrom:    "key_previous",
		RotatedTo:      "key_next",
		Credits: &auth.Credits{
			Remaining:  auth.MaxCredits,
			Refill:     auth.CreditRefill{Amount: 1000, Interval: auth.RefillMonthly},
			RefilledAt: at(time.Minute + 3*time.Microsecond).In(tokyo),
			Version:    7,
		},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.7/32")},
	}
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	wantKey(t, "GetAPIKey", k, mustGet(t, s, k.ID))
	got, err := s.GetAPIKeyByHash(t.Context(), k.Hash)
	if err != nil {
		t.Fatalf("GetAPIKeyByHash: %v", err)
	}
	wantKey(t, "GetAPIKeyByHash", k, got)
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}
	keys, _, err := s.ListAPIKeys(t.Context(), auth.APIKeyFilter{})
	if err != nil || len(keys) != 1 {
		t.Fatalf("ListAPIKeys = %d keys, %v; want 1", len(keys), err)
	}
	wantKey(t, "ListAPIKeys", k, keys[0])
}

func testZeroValuesRoundTrip(t *testing.T, s auth.Store) {
	for _, k := range []*auth.APIKey{
		{ID: "key_nil", Hash: hashOf("nil"), Owner: "svc"},
		{ID: "key_empty", Hash: hashOf("empty"), Owner: "svc", Scopes: []string{}, Metadata: map[string]string{}},
	} {
		mustCreate(t, s, k)
		got := mustGet(t, s, k.ID)
		wantKey(t, k.ID, k, got)
		if got.Scopes == nil || len(got.Scopes) != 0 {
			t.Errorf("%s: Scopes = %#v, want empty non-nil", k.ID, got.Scopes)
		}
		if got.Metadata == nil || len(got.Metadata) != 0 {
			t.Errorf("%s: Metadata = %#v, want empty non-nil", k.ID, got.Metadata)
		}
		got.Metadata["usable"] = "yes" // a nil map would panic here
		for name, tm := range map[string]time.Time{
			"CreatedAt": got.CreatedAt, "ExpiresAt": got.ExpiresAt, "RevokedAt": got.RevokedAt,
			"LastUsedAt": got.LastUsedAt, "RotationDueAt": got.RotationDueAt,
		} {
			if !tm.IsZero() {
				t.Errorf("%s: %s = %v, want zero", k.ID, name, tm)
			}
		}
	}
}

func testCreateAppendsEvents(t *testing.T, s auth.Store) {
	k := newKey("key_1")
	ev := auth.AuditEvent{
		Time: at(time.Second), Type: auth.EventKeyCreated, Actor: "key_admin", KeyID: k.ID, Count: 1,
		Details: map[string]string{"name": "サービス 😀", "sql": "'; DROP TABLE audit_events; --"},
	}
	if err := s.CreateAPIKey(t.Context(), k, ev); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	got := wantEvents(t, s, ev)
	if got[0].ID <= 0 {
		t.Errorf("event ID = %d, want > 0", got[0].ID)
	}
}

func testDuplicateID(t *testing.T, s auth.Store) {
	orig := newKey("key_1")
	mustCreate(t, s, orig)
	dup := newKey("key_1")
	dup.Hash = hashOf("other")
	dup.Name = "duplicate"
	err := s.CreateAPIKey(t.Context(), dup, event(auth.EventKeyCreated, dup.ID, base))
	wantCode(t, "CreateAPIKey(duplicate ID)", err, auth.ECONFLICT)
	wantKey(t, "original", orig, mustGet(t, s, orig.ID))
	if _, err := s.GetAPIKeyByHash(t.Context(), dup.Hash); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("GetAPIKeyByHash(duplicate's hash) = %v, want ENOTFOUND", err)
	}
	wantNoEvents(t, s)
}

func testDuplicateHash(t *testing.T, s auth.Store) {
	orig := newKey("key_1")
	mustCreate(t, s, orig)
	dup := newKey("key_2")
	dup.Hash = orig.Hash
	err := s.CreateAPIKey(t.Context(), dup, event(auth.EventKeyCreated, dup.ID, base))
	wantCode(t, "CreateAPIKey(duplicate hash)", err, auth.ECONFLICT)
	wantNotFound(t, s, dup.ID)
	wantNoEvents(t, s)
}

func testInvalidText(t *testing.T, s auth.Store) {
	// PostgreSQL cannot store NUL characters or invalid UTF-8 in text, and
	// JSON would silently rewrite invalid UTF-8; every backend refuses them
	// up front so they all behave alike.
	for name, mutate := range map[string]func(k *auth.APIKey){
		"NUL in name":            func(k *auth.APIKey) { k.Name = "a\x00b" },
		"invalid UTF-8 in owner": func(k *auth.APIKey) { k.Owner = "\xff\xfe" },
		"NUL in a scope":         func(k *auth.APIKey) { k.Scopes = []string{"read\x00"} },
		"NUL in a metadata key":  func(k *auth.APIKey) { k.Metadata = map[string]string{"\x00": "v"} },
		"non-finite rate":        func(k *auth.APIKey) { k.RateLimit = auth.RateLimit{Rate: math.Inf(1), Burst: 1} },
	} {
		k := newKey("key_bad")
		mutate(k)
		err := s.CreateAPIKey(t.Context(), k, event(auth.EventKeyCreated, k.ID, base))
		wantCode(t, "CreateAPIKey("+name+")", err, auth.EINVALID)
	}
	good := newKey("key_good")
	err := s.CreateAPIKey(t.Context(), good, auth.AuditEvent{Time: base, Type: "x\x00", Actor: "a", Count: 1})
	wantCode(t, "CreateAPIKey(NUL in event type)", err, auth.EINVALID)
	err = s.AppendAuditEvents(t.Context(), auth.AuditEvent{Time: base, Type: "t", Actor: "a", Details: map[string]string{"k": "\xff"}})
	wantCode(t, "AppendAuditEvents(invalid UTF-8 in details)", err, auth.EINVALID)
	wantNotFound(t, s, "key_bad")
	wantNotFound(t, s, good.ID)
	wantNoEvents(t, s)
}

func testNotFound(t *testing.T, s auth.Store) {
	mustCreate(t, s, newKey("key_1"))
	ctx := t.Context()
	_, err := s.GetAPIKey(ctx, "key_missing")
	wantCode(t, "GetAPIKey", err, auth.ENOTFOUND)
	_, err = s.GetAPIKeyByHash(ctx, hashOf("missing"))
	wantCode(t, "GetAPIKeyByHash", err, auth.ENOTFOUND)
	_, err = s.GetAPIKeyByHash(ctx, nil)
	wantCode(t, "GetAPIKeyByHash(nil)", err, auth.ENOTFOUND)
	_, err = s.RotateAPIKey(ctx, "key_missing", newKey("key_2"), at(time.Hour), event(auth.EventKeyRotated, "key_missing", base))
	wantCode(t, "RotateAPIKey", err, auth.ENOTFOUND)
	wantNotFound(t, s, "key_2")
	_, err = s.RevokeAPIKey(ctx, "key_missing", base, event(auth.EventKeyRevoked, "key_missing", base))
	wantCode(t, "RevokeAPIKey", err, auth.ENOTFOUND)
	wantNoEvents(t, s)
}

// listAll follows the cursor from the first page to the last.
func listAll(t *testing.T, s auth.Store, f auth.APIKeyFilter) (ids []string, pages int) {
	t.Helper()
	for {
		keys, next, err := s.ListAPIKeys(t.Context(), f)
		if err != nil {
			t.Fatalf("ListAPIKeys(%+v): %v", f, err)
		}
		pages++
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		if next == "" {
			return ids, pages
		}
		if len(keys) == 0 || next != keys[len(keys)-1].ID {
			t.Fatalf("ListAPIKeys(%+v): cursor %q is not the last ID of a non-empty page", f, next)
		}
		if pages > 1000 {
			t.Fatal("ListAPIKeys: cursor never ends")
		}
		f.After = next
	}
}

func testListOrder(t *testing.T, s auth.Store) {
	// IDs are compared bytewise, whatever the database's collation: upper
	// case sorts before lower case.
	for _, id := range []string{"key_b", "key_C", "key_a", "key_B", "key_0"} {
		mustCreate(t, s, newKey(id))
	}
	ids, _ := listAll(t, s, auth.APIKeyFilter{})
	want := []string{"key_0", "key_B", "key_C", "key_a", "key_b"}
	if !slices.Equal(ids, want) {
		t.Fatalf("ListAPIKeys order = %v, want %v", ids, want)
	}
}

func testListPaging(t *testing.T, s auth.Store) {
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("key_%02d", i)
		want = append(want, id)
		mustCreate(t, s, newKey(id))
	}
	for _, tc := range []struct {
		limit, pages int
	}{{3, 3}, {7, 1}, {1, 7}, {8, 1}} {
		ids, pages := listAll(t, s, auth.APIKeyFilter{Limit: tc.limit})
		if !slices.Equal(ids, want) || pages != tc.pages {
			t.Errorf("Limit %d: got %v in %d pages, want %v in %d pages", tc.limit, ids, pages, want, tc.pages)
		}
	}
	// A full last page says it is the last: no empty page follows.
	keys, next, err := s.ListAPIKeys(t.Context(), auth.APIKeyFilter{After: "key_03", Limit: 3})
	if err != nil || len(keys) != 3 || next != "" {
		t.Fatalf("last full page: %d keys, next %q, err %v; want 3 keys, next \"\"", len(keys), next, err)
	}
	keys, next, err = s.ListAPIKeys(t.Context(), auth.APIKeyFilter{After: "key_99"})
	if err != nil || len(keys) != 0 || next != "" {
		t.Fatalf("after the end: %d keys, next %q, err %v; want none", len(keys), next, err)
	}
}

func testListOwner(t *testing.T, s auth.Store) {
	for i, owner := range []string{"billing", "サービス 😀", "billing", "search", "billing", "Billing"} {
		k := newKey(fmt.Sprintf("key_%d", i))
		k.Owner = owner
		mustCreate(t, s, k)
	}
	for owner, want := range map[string][]string{
		"billing":  {"key_0", "key_2", "key_4"},
		"サービス 😀":   {"key_1"},
		"nobody":   nil,
		"'; --":    nil,
		"Billing":  {"key_5"},
		"search":   {"key_3"},
		"billing ": nil,
	} {
		ids, _ := listAll(t, s, auth.APIKeyFilter{Owner: owner, Limit: 2})
		if !slices.Equal(ids, want) {
			t.Errorf("Owner %q: got %v, want %v", owner, ids, want)
		}
	}
}

func testListRotationDue(t *testing.T, s auth.Store) {
	by := at(24 * time.Hour)
	keys := map[string]func(k *auth.APIKey){
		"key_due_before": func(k *auth.APIKey) { k.RotationDueAt = by.Add(-time.Hour) },
		"key_due_at":     func(k *auth.APIKey) { k.RotationDueAt = by },
		"key_due_after":  func(k *auth.APIKey) { k.RotationDueAt = by.Add(time.Microsecond) },
		"key_no_policy":  func(k *auth.APIKey) {},
		"key_revoked":    func(k *auth.APIKey) { k.RotationDueAt = by.Add(-time.Hour); k.RevokedAt = at(time.Hour) },
		"key_rotated":    func(k *auth.APIKey) { k.RotationDueAt = by.Add(-time.Hour); k.RotatedTo = "key_x" },
		"key_due_other":  func(k *auth.APIKey) { k.RotationDueAt = by.Add(-time.Hour); k.Owner = "other" },
		"key_expired":    func(k *auth.APIKey) { k.RotationDueAt = by.Add(-time.Hour); k.ExpiresAt = by },
		"key_expires_later": func(k *auth.APIKey) {
			k.RotationDueAt = by.Add(-time.Hour)
			k.ExpiresAt = by.Add(time.Microsecond)
		},
	}
	for id, mutate := range keys {
		k := newKey(id)
		k.RotationPeriod = time.Hour
		mutate(k)
		mustCreate(t, s, k)
	}
	ids, _ := listAll(t, s, auth.APIKeyFilter{RotationDueBy: by, Limit: 1})
	if want := []string{"key_due_at", "key_due_before", "key_due_other", "key_expires_later"}; !slices.Equal(ids, want) {
		t.Errorf("RotationDueBy: got %v, want %v", ids, want)
	}
	ids, _ = listAll(t, s, auth.APIKeyFilter{RotationDueBy: by, Owner: "svc"})
	if want := []string{"key_due_at", "key_due_before", "key_expires_later"}; !slices.Equal(ids, want) {
		t.Errorf("RotationDueBy and Owner: got %v, want %v", ids, want)
	}
}

func testListLimits(t *testing.T, s auth.Store) {
	n := auth.MaxPageSize + 1
	for i := range n {
		k := newKey(fmt.Sprintf("key_%04d", i))
		if err := s.CreateAPIKey(t.Context(), k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
	}
	for _, tc := range []struct {
		limit, want int
	}{{0, 100}, {-1, 100}, {auth.MaxPageSize, auth.MaxPageSize}, {auth.MaxPageSize + 1, auth.MaxPageSize}, {1 << 30, auth.MaxPageSize}} {
		keys, next, err := s.ListAPIKeys(t.Context(), auth.APIKeyFilter{Limit: tc.limit})
		if err != nil {
			t.Fatalf("Limit %d: %v", tc.limit, err)
		}
		if len(keys) != tc.want || next != keys[len(keys)-1].ID {
			t.Errorf("Limit %d: %d keys, next %q; want %d keys and a cursor", tc.limit, len(keys), next, tc.want)
		}
	}
}

func testRotate(t *testing.T, s auth.Store) {
	old := newKey("key_1")
	old.RotationPeriod = 24 * time.Hour
	old.RotationDueAt = at(24 * time.Hour)
	mustCreate(t, s, old)
	next := newKey("key_2")
	next.RotatedFrom = old.ID
	next.CreatedAt = at(25 * time.Hour)
	grace := at(26 * time.Hour)
	evs := []auth.AuditEvent{
		event(auth.EventKeyCreated, next.ID, next.CreatedAt),
		event(auth.EventKeyRotated, old.ID, next.CreatedAt),
	}
	got, err := s.RotateAPIKey(t.Context(), old.ID, next, grace, evs...)
	if err != nil {
		t.Fatalf("RotateAPIKey: %v", err)
	}
	want := *old
	want.RotatedTo = next.ID
	want.ExpiresAt = grace
	wantKey(t, "returned old key", &want, got)
	wantKey(t, "stored old key", &want, mustGet(t, s, old.ID))
	wantKey(t, "new key", next, mustGet(t, s, next.ID))
	wantEvents(t, s, evs...)
}

func testRotateKeepsEarlierExpiry(t *testing.T, s auth.Store) {
	old := newKey("key_1")
	old.ExpiresAt = at(time.Hour)
	mustCreate(t, s, old)
	got, err := s.RotateAPIKey(t.Context(), old.ID, newKey("key_2"), at(48*time.Hour))
	if err != nil {
		t.Fatalf("RotateAPIKey: %v", err)
	}
	if !got.ExpiresAt.Equal(old.ExpiresAt) || got.RotatedTo != "key_2" {
		t.Fatalf("returned ExpiresAt %v, RotatedTo %q; want %v, key_2", got.ExpiresAt, got.RotatedTo, old.ExpiresAt)
	}
	wantKey(t, "stored", got, mustGet(t, s, old.ID))
}

func testRotateZeroExpiry(t *testing.T, s auth.Store) {
	// A zero ExpiresAt means "never", so a zero oldExpiresAt is the latest
	// possible expiry and never shortens an existing one.
	for _, exp := range []time.Time{{}, at(time.Hour)} {
		id := fmt.Sprintf("key_%d", exp.Unix())
		old := newKey(id)
		old.ExpiresAt = exp
		mustCreate(t, s, old)
		got, err := s.RotateAPIKey(t.Context(), id, newKey(id+"_next"), time.Time{})
		if err != nil {
			t.Fatalf("RotateAPIKey: %v", err)
		}
		if !got.ExpiresAt.Equal(exp) {
			t.Errorf("ExpiresAt %v: after rotation %v, want unchanged", exp, got.ExpiresAt)
		}
	}
}

func testRotateRevoked(t *testing.T, s auth.Store) {
	old := newKey("key_1")
	old.RevokedAt = at(time.Hour)
	mustCreate(t, s, old)
	_, err := s.RotateAPIKey(t.Context(), old.ID, newKey("key_2"), at(2*time.Hour), event(auth.EventKeyRotated, old.ID, base))
	wantCode(t, "RotateAPIKey(revoked)", err, auth.ECONFLICT)
	wantKey(t, "old key", old, mustGet(t, s, old.ID))
	wantNotFound(t, s, "key_2")
	wantNoEvents(t, s)
}

func testRotateRotated(t *testing.T, s auth.Store) {
	mustCreate(t, s, newKey("key_1"))
	first, err := s.RotateAPIKey(t.Context(), "key_1", newKey("key_2"), at(time.Hour))
	if err != nil {
		t.Fatalf("first RotateAPIKey: %v", err)
	}
	_, err = s.RotateAPIKey(t.Context(), "key_1", newKey("key_3"), at(30*time.Minute), event(auth.EventKeyRotated, "key_1", base))
	wantCode(t, "second RotateAPIKey", err, auth.ECONFLICT)
	wantKey(t, "old key", first, mustGet(t, s, "key_1"))
	wantNotFound(t, s, "key_3")
	wantNoEvents(t, s)
}

func testRotateRollback(t *testing.T, s auth.Store) {
	// The old key is updated before the new one is inserted, so a failing
	// insert proves that the update is rolled back with it.
	old := newKey("key_1")
	other := newKey("key_2")
	mustCreate(t, s, old, other)
	for name, next := range map[string]*auth.APIKey{
		"duplicate hash": func() *auth.APIKey { k := newKey("key_3"); k.Hash = other.Hash; return k }(),
		"duplicate ID":   func() *auth.APIKey { k := newKey("key_2"); k.Hash = hashOf("fresh"); return k }(),
		"same ID as old": func() *auth.APIKey { k := newKey("key_1"); k.Hash = hashOf("fresh"); return k }(),
	} {
		_, err := s.RotateAPIKey(t.Context(), old.ID, next, at(time.Hour), event(auth.EventKeyRotated, old.ID, base))
		wantCode(t, "RotateAPIKey("+name+")", err, auth.ECONFLICT)
		wantKey(t, name+": old key", old, mustGet(t, s, old.ID))
		wantKey(t, name+": other key", other, mustGet(t, s, other.ID))
	}
	wantNotFound(t, s, "key_3")
	wantNoEvents(t, s)
	// The old key can still be rotated: nothing of the failures remains.
	if _, err := s.RotateAPIKey(t.Context(), old.ID, newKey("key_3"), at(time.Hour)); err != nil {
		t.Fatalf("RotateAPIKey after failures: %v", err)
	}
}

func testRevoke(t *testing.T, s auth.Store) {
	k := newKey("key_1")
	mustCreate(t, s, k)
	when := at(time.Hour + time.Microsecond)
	ev := event(auth.EventKeyRevoked, k.ID, when)
	got, err := s.RevokeAPIKey(t.Context(), k.ID, when, ev)
	if err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	want := *k
	want.RevokedAt = when
	wantKey(t, "returned", &want, got)
	wantKey(t, "stored", &want, mustGet(t, s, k.ID))
	if st := got.Status(when); st != auth.KeyRevoked {
		t.Errorf("Status = %q, want %q", st, auth.KeyRevoked)
	}
	wantEvents(t, s, ev)
}

func testRevokeTwice(t *testing.T, s auth.Store) {
	k := newKey("key_1")
	mustCreate(t, s, k)
	first := event(auth.EventKeyRevoked, k.ID, at(time.Hour))
	revoked, err := s.RevokeAPIKey(t.Context(), k.ID, at(time.Hour), first)
	if err != nil {
		t.Fatalf("first RevokeAPIKey: %v", err)
	}
	again, err := s.RevokeAPIKey(t.Context(), k.ID, at(2*time.Hour), event(auth.EventKeyRevoked, k.ID, at(2*time.Hour)))
	if err != nil {
		t.Fatalf("second RevokeAPIKey: %v", err)
	}
	wantKey(t, "second revoke returns the key as it is", revoked, again)
	wantKey(t, "stored", revoked, mustGet(t, s, k.ID))
	wantEvents(t, s, first)
}

func testTouch(t *testing.T, s auth.Store) {
	never := newKey("key_never")
	earlier := newKey("key_earlier")
	earlier.LastUsedAt = at(time.Hour)
	later := newKey("key_later")
	later.LastUsedAt = at(3 * time.Hour)
	mustCreate(t, s, never, earlier, later)
	err := s.TouchAPIKeys(t.Context(), map[string]time.Time{
		never.ID:      at(2 * time.Hour),
		earlier.ID:    at(2*time.Hour + time.Microsecond),
		later.ID:      at(2 * time.Hour),
		"key_unknown": at(2 * time.Hour),
	})
	if err != nil {
		t.Fatalf("TouchAPIKeys: %v", err)
	}
	for id, want := range map[string]time.Time{
		never.ID:   at(2 * time.Hour),
		earlier.ID: at(2*time.Hour + time.Microsecond),
		later.ID:   at(3 * time.Hour),
	} {
		if got := mustGet(t, s, id).LastUsedAt; !got.Equal(want) {
			t.Errorf("%s: LastUsedAt = %v, want %v", id, got, want)
		}
	}
	wantNotFound(t, s, "key_unknown")
	if err := s.TouchAPIKeys(t.Context(), nil); err != nil {
		t.Errorf("TouchAPIKeys(nil): %v", err)
	}
	wantNoEvents(t, s)
}

func testMarkExpired(t *testing.T, s auth.Store) {
	now := at(24 * time.Hour)
	keys := map[string]func(k *auth.APIKey){
		"key_expired":       func(k *auth.APIKey) { k.ExpiresAt = now.Add(-time.Hour) },
		"key_expires_now":   func(k *auth.APIKey) { k.ExpiresAt = now },
		"key_expires_later": func(k *auth.APIKey) { k.ExpiresAt = now.Add(time.Microsecond) },
		"key_never":         func(k *auth.APIKey) {},
		"key_revoked":       func(k *auth.APIKey) { k.ExpiresAt = now.Add(-time.Hour); k.RevokedAt = now.Add(-2 * time.Hour) },
	}
	for id, mutate := range keys {
		k := newKey(id)
		mutate(k)
		mustCreate(t, s, k)
	}
	ids, err := s.MarkExpiredAPIKeys(t.Context(), now)
	if err != nil {
		t.Fatalf("MarkExpiredAPIKeys: %v", err)
	}
	slices.Sort(ids)
	if want := []string{"key_expired", "key_expires_now"}; !slices.Equal(ids, want) {
		t.Fatalf("first MarkExpiredAPIKeys = %v, want %v", ids, want)
	}
	evs := allEvents(t, s)
	var evIDs []string
	for _, e := range evs {
		if e.Type != auth.EventKeyExpired || e.Actor != auth.ActorSystem || !e.Time.Equal(now) || e.Count != 1 {
			t.Errorf("event %+v: want type %q, actor %q, time %v, count 1", e, auth.EventKeyExpired, auth.ActorSystem, now)
		}
		evIDs = append(evIDs, e.KeyID)
	}
	slices.Sort(evIDs)
	if !slices.Equal(evIDs, ids) {
		t.Fatalf("events for %v, want %v", evIDs, ids)
	}

	ids, err = s.MarkExpiredAPIKeys(t.Context(), now.Add(time.Hour))
	if err != nil {
		t.Fatalf("second MarkExpiredAPIKeys: %v", err)
	}
	if want := []string{"key_expires_later"}; !slices.Equal(ids, want) {
		t.Fatalf("second MarkExpiredAPIKeys = %v, want %v (each key once)", ids, want)
	}
	ids, err = s.MarkExpiredAPIKeys(t.Context(), now.Add(2*time.Hour))
	if err != nil || len(ids) != 0 {
		t.Fatalf("third MarkExpiredAPIKeys = %v, %v; want none", ids, err)
	}
	if n := len(allEvents(t, s)); n != 3 {
		t.Fatalf("audit log has %d events, want 3", n)
	}
	// Reporting does not change the key as the contract exposes it.
	k := mustGet(t, s, "key_expired")
	want := newKey("key_expired")
	keys["key_expired"](want)
	wantKey(t, "reported key", want, k)
}

func testAuditOrder(t *testing.T, s auth.Store) {
	evs := []auth.AuditEvent{
		event(auth.EventKeyCreated, "key_1", at(3*time.Second)),
		{Time: at(time.Second), Type: auth.EventKeyVerificationFailed, Actor: auth.ActorSystem, Reason: "INVALID", Count: 42},
		{Time: at(2 * time.Second), Type: "custom.type", Actor: "key_admin", KeyID: "key_2", Count: 1,
			Details: map[string]string{"ip": "203.0.113.7", "note": "'; DROP TABLE audit_events; --", "名前": "😀"}},
	}
	if err := s.AppendAuditEvents(t.Context(), evs[0], evs[1]); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	if err := s.AppendAuditEvents(t.Context(), evs[2]); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	got := wantEvents(t, s, evs...)
	for i := 1; i < len(got); i++ {
		if got[i].ID <= got[i-1].ID {
			t.Fatalf("event IDs not increasing: %d then %d", got[i-1].ID, got[i].ID)
		}
	}
	for _, e := range got {
		if e.Details == nil {
			t.Errorf("event %d: Details is nil, want an empty usable map", e.ID)
		}
	}
}

func testAuditFilters(t *testing.T, s auth.Store) {
	evs := []auth.AuditEvent{
		event(auth.EventKeyCreated, "key_1", base),
		event(auth.EventKeyCreated, "key_2", base),
		event(auth.EventKeyRevoked, "key_1", base),
		event(auth.EventKeyRotated, "key_2", base),
		event(auth.EventKeyRevoked, "key_2", base),
		{Time: base, Type: auth.EventKeyVerificationFailed, Actor: auth.ActorSystem, Reason: "REVOKED", KeyID: "key_1", Count: 3},
	}
	if err := s.AppendAuditEvents(t.Context(), evs...); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	for _, tc := range []struct {
		name string
		f    auth.AuditFilter
		want []int // indexes into evs
	}{
		{"all", auth.AuditFilter{}, []int{0, 1, 2, 3, 4, 5}},
		{"key", auth.AuditFilter{KeyID: "key_1"}, []int{0, 2, 5}},
		{"type", auth.AuditFilter{Type: auth.EventKeyRevoked}, []int{2, 4}},
		{"key and type", auth.AuditFilter{KeyID: "key_2", Type: auth.EventKeyRevoked}, []int{4}},
		{"no match", auth.AuditFilter{KeyID: "key_3"}, nil},
		{"key and type, one per page", auth.AuditFilter{KeyID: "key_2", Type: auth.EventKeyCreated, Limit: 1}, []int{1}},
	} {
		var got []auth.AuditEvent
		f := tc.f
		for {
			page, next, err := s.ListAuditEvents(t.Context(), f)
			if err != nil {
				t.Fatalf("%s: ListAuditEvents: %v", tc.name, err)
			}
			got = append(got, page...)
			if next == 0 {
				break
			}
			f.After = next
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d events, want %d: %+v", tc.name, len(got), len(tc.want), got)
		}
		for i, w := range tc.want {
			if d := diffEvent(evs[w], got[i]); d != "" {
				t.Errorf("%s: event %d: %s", tc.name, i, d)
			}
		}
	}
}

func testAuditPaging(t *testing.T, s auth.Store) {
	const n = 7
	for i := range n {
		if err := s.AppendAuditEvents(t.Context(), event(auth.EventKeyCreated, fmt.Sprintf("key_%d", i), at(time.Duration(i)*time.Second))); err != nil {
			t.Fatalf("AppendAuditEvents: %v", err)
		}
	}
	var got []auth.AuditEvent
	var pages int
	f := auth.AuditFilter{Limit: 3}
	for {
		page, next, err := s.ListAuditEvents(t.Context(), f)
		if err != nil {
			t.Fatalf("ListAuditEvents: %v", err)
		}
		pages++
		got = append(got, page...)
		if next == 0 {
			break
		}
		if next != page[len(page)-1].ID {
			t.Fatalf("cursor %d is not the last ID of the page", next)
		}
		f.After = next
	}
	if len(got) != n || pages != 3 {
		t.Fatalf("got %d events in %d pages, want %d in 3", len(got), pages, n)
	}
	for i, e := range got {
		if e.KeyID != fmt.Sprintf("key_%d", i) {
			t.Errorf("event %d is for %q", i, e.KeyID)
		}
	}
	// A full last page says it is the last, and so does the page past it.
	page, next, err := s.ListAuditEvents(t.Context(), auth.AuditFilter{After: got[3].ID, Limit: 3})
	if err != nil || len(page) != 3 || next != 0 {
		t.Fatalf("last full page: %d events, next %d, err %v; want 3, 0", len(page), next, err)
	}
	page, next, err = s.ListAuditEvents(t.Context(), auth.AuditFilter{After: got[n-1].ID})
	if err != nil || len(page) != 0 || next != 0 {
		t.Fatalf("past the end: %d events, next %d, err %v; want none", len(page), next, err)
	}
}

func testAuditPagingNewest(t *testing.T, s auth.Store) {
	const n = 7
	for i := range n {
		if err := s.AppendAuditEvents(t.Context(), event(auth.EventKeyCreated, fmt.Sprintf("key_%d", i), at(time.Duration(i)*time.Second))); err != nil {
			t.Fatalf("AppendAuditEvents: %v", err)
		}
	}
	var got []auth.AuditEvent
	var pages int
	f := auth.AuditFilter{Limit: 3, Newest: true}
	for {
		page, next, err := s.ListAuditEvents(t.Context(), f)
		if err != nil {
			t.Fatalf("ListAuditEvents: %v", err)
		}
		pages++
		got = append(got, page...)
		if next == 0 {
			break
		}
		if next != page[len(page)-1].ID {
			t.Fatalf("cursor %d is not the last (smallest) ID of the page", next)
		}
		f.After = next
	}
	if len(got) != n || pages != 3 {
		t.Fatalf("got %d events in %d pages, want %d in 3", len(got), pages, n)
	}
	for i, e := range got {
		if want := fmt.Sprintf("key_%d", n-1-i); e.KeyID != want {
			t.Errorf("event %d is for %q, want %q", i, e.KeyID, want)
		}
		if i > 0 && e.ID >= got[i-1].ID {
			t.Errorf("event %d has ID %d after ID %d, want descending", i, e.ID, got[i-1].ID)
		}
	}
	// A full last page says it is the last, and so does the page past it.
	page, next, err := s.ListAuditEvents(t.Context(), auth.AuditFilter{After: got[n-4].ID, Limit: 3, Newest: true})
	if err != nil || len(page) != 3 || next != 0 {
		t.Fatalf("last full page: %d events, next %d, err %v; want 3, 0", len(page), next, err)
	}
	page, next, err = s.ListAuditEvents(t.Context(), auth.AuditFilter{After: got[n-1].ID, Newest: true})
	if err != nil || len(page) != 0 || next != 0 {
		t.Fatalf("past the end: %d events, next %d, err %v; want none", len(page), next, err)
	}
	// With a type and a time bound, the newest matching events come first.
	page, _, err = s.ListAuditEvents(t.Context(), auth.AuditFilter{Type: auth.EventKeyCreated, Since: at(2 * time.Second), Limit: 2, Newest: true})
	if err != nil || len(page) != 2 || page[0].KeyID != "key_6" || page[1].KeyID != "key_5" {
		t.Fatalf("newest two created since 2s = %+v, %v; want key_6, key_5", page, err)
	}
}

func testAuditTailing(t *testing.T, s auth.Store) {
	// IDs are handed out when a row is inserted but become visible when its
	// transaction commits; if those orders could differ, a reader that has
	// moved its cursor past a later ID would never see the earlier one.
	const writers, perWriter = 4, 40
	ctx := t.Context()
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				keyID := fmt.Sprintf("key_%d_%d", w, i)
				err := s.AppendAuditEvents(ctx, event(auth.EventKeyCreated, keyID, base), event(auth.EventKeyRevoked, keyID, base))
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()

	seen := map[int64]bool{}
	var after int64
	tail := func() {
		for {
			page, next, err := s.ListAuditEvents(ctx, auth.AuditFilter{After: after, Limit: auth.MaxPageSize})
			if err != nil {
				t.Fatalf("ListAuditEvents: %v", err)
			}
			for _, e := range page {
				seen[e.ID] = true
			}
			if len(page) > 0 {
				after = page[len(page)-1].ID
			}
			if next == 0 {
				return
			}
		}
	}
	for done := false; !done; {
		select {
		case <-writing:
			done = true
		default:
		}
		tail()
	}
	close(errs)
	for err := range errs {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	all := allEvents(t, s)
	if len(all) != 2*writers*perWriter {
		t.Fatalf("audit log has %d events, want %d", len(all), 2*writers*perWriter)
	}
	for _, e := range all {
		if !seen[e.ID] {
			t.Fatalf("the tailing reader skipped event %d", e.ID)
		}
	}
}

func testAppendNothing(t *testing.T, s auth.Store) {
	if err := s.AppendAuditEvents(t.Context()); err != nil {
		t.Fatalf("AppendAuditEvents(): %v", err)
	}
	wantNoEvents(t, s)
}

func testCancelledContext(t *testing.T, s auth.Store) {
	k := newKey("key_1")
	k.ExpiresAt = at(time.Hour)
	mustCreate(t, s, k)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ops := map[string]func() error{
		"CreateAPIKey": func() error {
			return s.CreateAPIKey(ctx, newKey("key_2"), event(auth.EventKeyCreated, "key_2", base))
		},
		"RotateAPIKey": func() error {
			_, err := s.RotateAPIKey(ctx, k.ID, newKey("key_3"), at(time.Minute), event(auth.EventKeyRotated, k.ID, base))
			return err
		},
		"RevokeAPIKey": func() error {
			_, err := s.RevokeAPIKey(ctx, k.ID, base, event(auth.EventKeyRevoked, k.ID, base))
			return err
		},
		"TouchAPIKeys": func() error { return s.TouchAPIKeys(ctx, map[string]time.Time{k.ID: base}) },
		"MarkExpiredAPIKeys": func() error {
			_, err := s.MarkExpiredAPIKeys(ctx, at(2*time.Hour))
			return err
		},
		"AppendAuditEvents": func() error { return s.AppendAuditEvents(ctx, event("x", k.ID, base)) },
		"GetAPIKey": func() error {
			_, err := s.GetAPIKey(ctx, k.ID)
			return err
		},
		"ListAPIKeys": func() error {
			_, _, err := s.ListAPIKeys(ctx, auth.APIKeyFilter{})
			return err
		},
		"ListAuditEvents": func() error {
			_, _, err := s.ListAuditEvents(ctx, auth.AuditFilter{})
			return err
		},
	}
	for name, op := range ops {
		if err := op(); err == nil {
			t.Errorf("%s with a cancelled context: no error", name)
		}
	}
	wantKey(t, "key after cancelled calls", k, mustGet(t, s, k.ID))
	wantNotFound(t, s, "key_2")
	wantNotFound(t, s, "key_3")
	wantNoEvents(t, s)
	// The store still works.
	ids, err := s.MarkExpiredAPIKeys(t.Context(), at(2*time.Hour))
	if err != nil || !slices.Equal(ids, []string{k.ID}) {
		t.Fatalf("MarkExpiredAPIKeys after cancelled calls = %v, %v; want [%s]", ids, err, k.ID)
	}
}

func testPing(t *testing.T, s auth.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
