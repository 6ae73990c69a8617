package storetest

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// --- credits, allowed networks and updates -----------------------------------

func creditsEqual(a, b *auth.Credits) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Remaining == b.Remaining && a.Refill == b.Refill && a.Version == b.Version &&
		a.RefilledAt.Equal(b.RefilledAt)
}

// creditKey returns a key with remaining credits and the given refill.
func creditKey(id string, remaining int64, refill auth.CreditRefill) *auth.APIKey {
	k := newKey(id)
	k.Credits = &auth.Credits{Remaining: remaining, Refill: refill, RefilledAt: base}
	return k
}

func testNoCreditsRoundTrip(t *testing.T, s auth.Store) {
	k := newKey("key_plain")
	mustCreate(t, s, k)
	got := mustGet(t, s, k.ID)
	if got.Credits != nil || got.AllowedIPs != nil {
		t.Fatalf("credits %+v, allowed IPs %v; want nil and nil", got.Credits, got.AllowedIPs)
	}
}

func testUpdate(t *testing.T, s auth.Store) {
	ctx := t.Context()
	k := newKey("key_u")
	mustCreate(t, s, k)
	ev := event(auth.EventKeyUpdated, k.ID, at(time.Hour))
	ev.Details = map[string]string{"changed": "name,credits,allowed_ips"}
	got, err := s.UpdateAPIKey(ctx, k.ID, func(u *auth.APIKey) ([]auth.AuditEvent, error) {
		wantKey(t, "the key given to update", k, u)
		u.Name = "renamed"
		u.Scopes = []string{"a", "b"}
		u.Metadata = map[string]string{"x": "y"}
		u.RateLimit = auth.RateLimit{Rate: 2, Burst: 3}
		u.ExpiresAt = at(72 * time.Hour)
		u.Credits = &auth.Credits{Remaining: 5, Refill: auth.CreditRefill{Amount: 10, Interval: auth.RefillDaily}, RefilledAt: at(time.Hour), Version: 1}
		u.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("2001:db8::/48")}
		// Fields update must not be able to change.
		u.Owner, u.Hash, u.RevokedAt = "other", hashOf("other"), at(time.Hour)
		return []auth.AuditEvent{ev}, nil
	})
	if err != nil {
		t.Fatalf("UpdateAPIKey: %v", err)
	}
	want := *k
	want.Name, want.Scopes, want.Metadata = "renamed", []string{"a", "b"}, map[string]string{"x": "y"}
	want.RateLimit, want.ExpiresAt = auth.RateLimit{Rate: 2, Burst: 3}, at(72*time.Hour)
	want.Credits = &auth.Credits{Remaining: 5, Refill: auth.CreditRefill{Amount: 10, Interval: auth.RefillDaily}, RefilledAt: at(time.Hour), Version: 1}
	want.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("2001:db8::/48")}
	wantKey(t, "UpdateAPIKey", &want, got)
	wantKey(t, "GetAPIKey after the update", &want, mustGet(t, s, k.ID))
	wantEvents(t, s, ev)

	// Credits can be taken away again.
	got, err = s.UpdateAPIKey(ctx, k.ID, func(u *auth.APIKey) ([]auth.AuditEvent, error) {
		u.Credits, u.AllowedIPs = nil, nil
		return []auth.AuditEvent{ev}, nil
	})
	if err != nil || got.Credits != nil || got.AllowedIPs != nil {
		t.Fatalf("UpdateAPIKey removing credits = %+v, %v; want no credits", got, err)
	}
}

func testUpdateNothing(t *testing.T, s auth.Store) {
	ctx := t.Context()
	k := newKey("key_u")
	mustCreate(t, s, k)
	_, err := s.UpdateAPIKey(ctx, k.ID, func(u *auth.APIKey) ([]auth.AuditEvent, error) {
		u.Name = "changed"
		return nil, auth.Errorf(auth.ECONFLICT, "refused")
	})
	wantCode(t, "UpdateAPIKey refused", err, auth.ECONFLICT)
	if _, err := s.UpdateAPIKey(ctx, k.ID, func(u *auth.APIKey) ([]auth.AuditEvent, error) {
		u.Name = "changed"
		return nil, nil
	}); err != nil {
		t.Fatalf("UpdateAPIKey without events: %v", err)
	}
	wantKey(t, "GetAPIKey", k, mustGet(t, s, k.ID))
	wantNoEvents(t, s)
}

func testUpdateNotFound(t *testing.T, s auth.Store) {
	_, err := s.UpdateAPIKey(t.Context(), "key_none", func(u *auth.APIKey) ([]auth.AuditEvent, error) {
		t.Error("update called for an unknown key")
		return nil, nil
	})
	wantCode(t, "UpdateAPIKey", err, auth.ENOTFOUND)
}

func testUpdateInvalid(t *testing.T, s auth.Store) {
	ctx := t.Context()
	k := newKey("key_u")
	mustCreate(t, s, k)
	for name, change := range map[string]func(u *auth.APIKey){
		"negative credits": func(u *auth.APIKey) { u.Credits = &auth.Credits{Remaining: -1} },
		"huge credits":     func(u *auth.APIKey) { u.Credits = &auth.Credits{Remaining: auth.MaxCredits + 1} },
		"bad interval": func(u *auth.APIKey) {
			u.Credits = &auth.Credits{Remaining: 1, Refill: auth.CreditRefill{Amount: 1, Interval: "week"}}
		},
		"host bits": func(u *auth.APIKey) { u.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("203.0.113.7/24")} },
		"NUL":       func(u *auth.APIKey) { u.Name = "a\x00b" },
	} {
		_, err := s.UpdateAPIKey(ctx, k.ID, func(u *auth.APIKey) ([]auth.AuditEvent, error) {
			change(u)
			return []auth.AuditEvent{event(auth.EventKeyUpdated, k.ID, base)}, nil
		})
		wantCode(t, "UpdateAPIKey with "+name, err, auth.EINVALID)
	}
	wantKey(t, "GetAPIKey", k, mustGet(t, s, k.ID))
	wantNoEvents(t, s)
	bad := newKey("key_bad")
	bad.Credits = &auth.Credits{Remaining: -5}
	wantCode(t, "CreateAPIKey with negative credits", s.CreateAPIKey(ctx, bad), auth.EINVALID)
	wantNotFound(t, s, bad.ID)
}

func spend(t *testing.T, s auth.Store, id string, cost int64, now time.Time, exhausted ...auth.AuditEvent) auth.CreditSpend {
	t.Helper()
	r, err := s.SpendAPIKeyCredits(t.Context(), id, cost, now, exhausted...)
	if err != nil {
		t.Fatalf("SpendAPIKeyCredits(%s, %d): %v", id, cost, err)
	}
	return r
}

func testSpend(t *testing.T, s auth.Store) {
	k := creditKey("key_c", 5, auth.CreditRefill{})
	mustCreate(t, s, k)
	now := at(time.Minute)
	for _, tc := range []struct {
		cost int64
		want auth.CreditSpend
	}{
		{1, auth.CreditSpend{Spent: true, Remaining: 4}},
		{3, auth.CreditSpend{Spent: true, Remaining: 1}},
		{2, auth.CreditSpend{Spent: false, Remaining: 1}},
		{1, auth.CreditSpend{Spent: true, Remaining: 0}},
		{1, auth.CreditSpend{Spent: false, Remaining: 0}},
	} {
		if got := spend(t, s, k.ID, tc.cost, now); got != tc.want {
			t.Fatalf("spend %d = %+v, want %+v", tc.cost, got, tc.want)
		}
	}
	if got := mustGet(t, s, k.ID).Credits; got.Remaining != 0 || !got.RefilledAt.Equal(base) {
		t.Fatalf("stored credits %+v, want 0 refilled at %v", got, base)
	}
	_, err := s.SpendAPIKeyCredits(t.Context(), "key_none", 1, now)
	wantCode(t, "SpendAPIKeyCredits of an unknown key", err, auth.ENOTFOUND)
	_, err = s.SpendAPIKeyCredits(t.Context(), k.ID, 0, now)
	wantCode(t, "SpendAPIKeyCredits of 0", err, auth.EINVALID)
}

func testSpendRefill(t *testing.T, s auth.Store) {
	// base is 2030-03-04 05:06:07 UTC.
	day := creditKey("key_day", 1, auth.CreditRefill{Amount: 3, Interval: auth.RefillDaily})
	month := creditKey("key_month", 1, auth.CreditRefill{Amount: 10, Interval: auth.RefillMonthly})
	mustCreate(t, s, day, month)
	for _, id := range []string{day.ID, month.ID} {
		spend(t, s, id, 1, at(time.Hour))
		if got := spend(t, s, id, 1, at(time.Hour)); got.Spent {
			t.Fatalf("%s: spend before the period ends = %+v, want refused", id, got)
		}
	}
	endOfDay := time.Date(2030, 3, 4, 23, 59, 59, 999999000, time.UTC)
	if got := spend(t, s, day.ID, 1, endOfDay); got.Spent {
		t.Fatalf("spend at the last microsecond of the day = %+v, want refused", got)
	}
	nextDay := time.Date(2030, 3, 5, 0, 0, 0, 0, time.UTC)
	if got := spend(t, s, day.ID, 2, nextDay); got != (auth.CreditSpend{Spent: true, Remaining: 1}) {
		t.Fatalf("spend of 2 at the start of the next day = %+v, want spent, 1 left", got)
	}
	if got := mustGet(t, s, day.ID).Credits; got.Remaining != 1 || !got.RefilledAt.Equal(nextDay) {
		t.Fatalf("stored credits %+v, want 1 refilled at %v", got, nextDay)
	}
	// A refill does not add to what is left, and happens once a period.
	if got := spend(t, s, day.ID, 2, nextDay.Add(time.Hour)); got.Spent {
		t.Fatalf("second spend of 2 on the next day = %+v, want refused", got)
	}
	if got := spend(t, s, month.ID, 1, endOfDay.Add(time.Second)); got.Spent {
		t.Fatalf("monthly key refilled by a new day: %+v", got)
	}
	nextMonth := time.Date(2030, 4, 1, 0, 0, 0, 0, time.UTC)
	if got := spend(t, s, month.ID, 10, nextMonth); got != (auth.CreditSpend{Spent: true, Remaining: 0}) {
		t.Fatalf("spend of 10 at the start of the next month = %+v, want spent, 0 left", got)
	}
	// Refused spends report what the refill would give, without writing it.
	if got := spend(t, s, day.ID, 5, time.Date(2030, 3, 9, 0, 0, 0, 0, time.UTC)); got != (auth.CreditSpend{Remaining: 3}) {
		t.Fatalf("refused spend after a refill is due = %+v, want not spent, 3 left", got)
	}
}

func testSpendExhausted(t *testing.T, s auth.Store) {
	k := creditKey("key_c", 2, auth.CreditRefill{Amount: 2, Interval: auth.RefillDaily})
	mustCreate(t, s, k)
	ev := func(tm time.Time) auth.AuditEvent {
		return auth.AuditEvent{Time: tm, Type: auth.EventKeyUsageExceeded, Actor: auth.ActorSystem, KeyID: k.ID, Count: 1}
	}
	t1, t2 := at(time.Minute), at(24*time.Hour)
	for range 2 {
		spend(t, s, k.ID, 1, t1, ev(t1))
	}
	for range 3 {
		spend(t, s, k.ID, 1, t1, ev(t1)) // refused: no event
	}
	for range 3 {
		spend(t, s, k.ID, 1, t2, ev(t2))
	}
	wantEvents(t, s, ev(t1), ev(t2))
}

func testSpendUnmetered(t *testing.T, s auth.Store) {
	k := newKey("key_plain")
	mustCreate(t, s, k)
	if got := spend(t, s, k.ID, 1, base); got != (auth.CreditSpend{Unmetered: true}) {
		t.Fatalf("spend on a key without credits = %+v, want unmetered", got)
	}
	wantKey(t, "GetAPIKey", k, mustGet(t, s, k.ID))
}

func testSpendConcurrent(t *testing.T, s auth.Store) {
	k := creditKey("key_c", 20, auth.CreditRefill{})
	mustCreate(t, s, k)
	const callers = 50
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		spent int
	)
	for range callers {
		wg.Go(func() {
			r, err := s.SpendAPIKeyCredits(t.Context(), k.ID, 1, at(time.Minute))
			if err != nil {
				t.Errorf("SpendAPIKeyCredits: %v", err)
				return
			}
			if r.Spent {
				mu.Lock()
				spent++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if spent != 20 {
		t.Fatalf("%d of %d concurrent spends of one credit succeeded, want exactly 20", spent, callers)
	}
	if got := mustGet(t, s, k.ID).Credits.Remaining; got != 0 {
		t.Fatalf("remaining %d, want 0", got)
	}
}

func testSyncCredits(t *testing.T, s auth.Store) {
	ctx := t.Context()
	k := creditKey("key_c", 100, auth.CreditRefill{Amount: 100, Interval: auth.RefillDaily})
	k.Credits.Version = 3
	mustCreate(t, s, k, newKey("key_plain"))
	syncWith := func(c auth.Credits) {
		t.Helper()
		if err := s.SyncAPIKeyCredits(ctx, k.ID, c); err != nil {
			t.Fatalf("SyncAPIKeyCredits(%+v): %v", c, err)
		}
	}
	wantStored := func(remaining int64, refilled time.Time) {
		t.Helper()
		got := mustGet(t, s, k.ID).Credits
		if got.Remaining != remaining || !got.RefilledAt.Equal(refilled) || got.Version != 3 {
			t.Fatalf("stored credits %+v, want %d refilled at %v, version 3", got, remaining, refilled)
		}
	}
	syncWith(auth.Credits{Remaining: 60, RefilledAt: base, Version: 3})
	wantStored(60, base)
	syncWith(auth.Credits{Remaining: 80, RefilledAt: base, Version: 3}) // older: ignored
	wantStored(60, base)
	syncWith(auth.Credits{Remaining: 10, RefilledAt: base, Version: 2}) // other version: ignored
	syncWith(auth.Credits{Remaining: 10, RefilledAt: base, Version: 4})
	wantStored(60, base)
	next := at(24 * time.Hour)
	syncWith(auth.Credits{Remaining: 90, RefilledAt: next, Version: 3}) // a later period: newer
	wantStored(90, next)
	syncWith(auth.Credits{Remaining: 0, RefilledAt: base, Version: 3}) // an earlier period: older
	wantStored(90, next)
	if err := s.SyncAPIKeyCredits(ctx, "key_plain", auth.Credits{Remaining: 1, Version: 0}); err != nil {
		t.Fatalf("SyncAPIKeyCredits on a key without credits: %v", err)
	}
	if err := s.SyncAPIKeyCredits(ctx, "key_none", auth.Credits{Remaining: 1}); err != nil {
		t.Fatalf("SyncAPIKeyCredits on an unknown key: %v", err)
	}
	if got := mustGet(t, s, "key_plain").Credits; got != nil {
		t.Fatalf("key without credits got %+v", got)
	}
}

// testSpendExhaustedUnpayable: the exhausted events are appended at the
// first spend that cannot be paid too (a cost above what is left, or a key
// created with none), once per version and period.
func testSpendExhaustedUnpayable(t *testing.T, s auth.Store) {
	odd, none := creditKey("key_odd", 3, auth.CreditRefill{}), creditKey("key_none", 0, auth.CreditRefill{})
	mustCreate(t, s, odd, none)
	ev := func(id string) auth.AuditEvent {
		return auth.AuditEvent{Time: at(time.Minute), Type: auth.EventKeyUsageExceeded, Actor: auth.ActorSystem, KeyID: id, Count: 1}
	}
	if got := spend(t, s, odd.ID, 2, at(time.Minute), ev(odd.ID)); !got.Spent || got.Remaining != 1 {
		t.Fatalf("spend of 2 of 3 = %+v", got)
	}
	wantEvents(t, s)
	for range 3 {
		spend(t, s, odd.ID, 2, at(time.Minute), ev(odd.ID))
		spend(t, s, none.ID, 1, at(time.Minute), ev(none.ID))
	}
	wantEvents(t, s, ev(odd.ID), ev(none.ID))
	if got := mustGet(t, s, odd.ID).Credits; got.ExhaustedFor != auth.ExhaustedMarker(*got) {
		t.Fatalf("ExhaustedFor %q, want %q", got.ExhaustedFor, auth.ExhaustedMarker(*got))
	}
}

// testCreditsLedger: a key whose CreditsKeyID names another reads that
// key's credits (GET and list), and an update of its credits writes them
// there: the keys of a rotation chain share one balance.
func testCreditsLedger(t *testing.T, s auth.Store) {
	ctx := t.Context()
	old := creditKey("key_1", 3, auth.CreditRefill{})
	mustCreate(t, s, old)
	next := creditKey("key_2", 3, auth.CreditRefill{})
	next.CreditsKeyID = old.ID
	if _, err := s.RotateAPIKey(ctx, old.ID, next, at(time.Hour)); err != nil {
		t.Fatalf("RotateAPIKey: %v", err)
	}
	spend(t, s, old.ID, 2, at(time.Minute))
	if got := mustGet(t, s, next.ID); got.CreditsKeyID != old.ID || got.Credits == nil || got.Credits.Remaining != 1 {
		t.Fatalf("the new key reads %+v (ledger %q), want the ledger's 1 left", got.Credits, got.CreditsKeyID)
	}
	keys, _, err := s.ListAPIKeys(ctx, auth.APIKeyFilter{})
	if err != nil || len(keys) != 2 || keys[1].Credits == nil || keys[1].Credits.Remaining != 1 {
		t.Fatalf("ListAPIKeys = %+v, %v; want the new key with the ledger's 1 left", keys, err)
	}
	if _, err := s.UpdateAPIKey(ctx, next.ID, func(u *auth.APIKey) ([]auth.AuditEvent, error) {
		u.Credits = &auth.Credits{Remaining: 7, RefilledAt: at(time.Hour), Version: u.Credits.Version + 1}
		return []auth.AuditEvent{event(auth.EventKeyUpdated, u.ID, at(time.Hour))}, nil
	}); err != nil {
		t.Fatalf("UpdateAPIKey: %v", err)
	}
	for _, id := range []string{old.ID, next.ID} {
		if got := mustGet(t, s, id).Credits; got == nil || got.Remaining != 7 || got.Version != 1 {
			t.Fatalf("%s after the new key's credits were reset: %+v, want 7 at version 1", id, got)
		}
	}
}

// testCreditsLedgerLockedOnUpdate: an update made through a rotated key
// writes the chain's shared balance; a change of that balance committed
// meanwhile through the ledger key itself must not be overwritten by what
// the first update read before it.
func testCreditsLedgerLockedOnUpdate(t *testing.T, s auth.Store) {
	ctx := t.Context()
	old := creditKey("key_1", 3, auth.CreditRefill{})
	mustCreate(t, s, old)
	next := creditKey("key_2", 3, auth.CreditRefill{})
	next.CreditsKeyID = old.ID
	if _, err := s.RotateAPIKey(ctx, old.ID, next, at(time.Hour)); err != nil {
		t.Fatalf("RotateAPIKey: %v", err)
	}
	other := make(chan error, 1)
	if _, err := s.UpdateAPIKey(ctx, next.ID, func(u *auth.APIKey) ([]auth.AuditEvent, error) {
		// While this update is under way, another resets the balance
		// through the ledger key. It waits for this one to commit (or, if
		// the ledger is not locked, commits first and must then be seen).
		go func() {
			_, err := s.UpdateAPIKey(context.WithoutCancel(ctx), old.ID, func(l *auth.APIKey) ([]auth.AuditEvent, error) {
				l.Credits = &auth.Credits{Remaining: 100, RefilledAt: at(time.Hour), Version: l.Credits.Version + 1}
				return []auth.AuditEvent{event(auth.EventKeyUpdated, l.ID, at(time.Hour))}, nil
			})
			other <- err
		}()
		select {
		case err := <-other:
			other <- err // it did not wait: the balance was not locked
		case <-time.After(300 * time.Millisecond):
		}
		u.Name = "renamed"
		return []auth.AuditEvent{event(auth.EventKeyUpdated, u.ID, at(time.Hour))}, nil
	}); err != nil {
		t.Fatalf("UpdateAPIKey(new key): %v", err)
	}
	if err := <-other; err != nil {
		t.Fatalf("UpdateAPIKey(ledger key): %v", err)
	}
	if got := mustGet(t, s, old.ID).Credits; got == nil || got.Remaining != 100 {
		t.Fatalf("the ledger after both updates: %+v, want the reset to 100 kept", got)
	}
}
