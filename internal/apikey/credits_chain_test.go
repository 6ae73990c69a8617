package apikey_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// ledgerStore is what the tests read back: keys and audit events.
type ledgerStore interface {
	auth.APIKeyStore
	auth.AuditStore
}

// allLedgers runs test on every ledger: the store's on SQLite and on
// PostgreSQL, and Redis's over each.
func allLedgers(t *testing.T, test func(t *testing.T, svc *apikey.Service, store ledgerStore)) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		test(t, e.svc, e.db)
	})
	t.Run("SQLite and Redis", func(t *testing.T) {
		t.Parallel()
		c, prefix := testRedis(t)
		e := newEnv(t, func(cfg *apikey.Config) { cfg.CreditsRedis, cfg.CreditsRedisPrefix = c, prefix })
		test(t, e.svc, e.db)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		a, _, db := twoNodes(t, false)
		test(t, a, db)
	})
	t.Run("PostgreSQL and Redis", func(t *testing.T) {
		t.Parallel()
		a, _, db := twoNodes(t, true)
		test(t, a, db)
	})
}

// TestRotationSharesTheCredits: a rotated key and its successor spend one
// balance during the grace period, so 3 credits buy 3 requests whichever
// key presents them; GET of either shows that balance, and resetting the
// credits of the new key resets them for both.
func TestRotationSharesTheCredits(t *testing.T) {
	t.Parallel()
	allLedgers(t, func(t *testing.T, svc *apikey.Service, store ledgerStore) {
		ctx := context.Background()
		old, oldKey, err := svc.Create(ctx, apikey.CreateParams{Owner: "svc", Actor: "key_admin", Credits: credits(3)})
		if err != nil {
			t.Fatal(err)
		}
		// One spent before the rotation: with Redis the store has not
		// seen it yet, and the rotation must not bring back a stale copy.
		if r := check(t, svc, apikey.Request{Key: oldKey}); r.Code != apikey.CodeValid {
			t.Fatalf("before the rotation: %s", r.Code)
		}
		next, newKey, err := svc.Rotate(ctx, old.ID, time.Hour, "key_admin")
		if err != nil {
			t.Fatal(err)
		}
		valid := 1
		for i := range 6 {
			key := oldKey
			if i%2 == 1 {
				key = newKey
			}
			if r := check(t, svc, apikey.Request{Key: key}); r.Code == apikey.CodeValid {
				valid++
			} else if r.Code != apikey.CodeUsageExceeded {
				t.Fatalf("check %d: %s, want VALID or USAGE_EXCEEDED", i, r.Code)
			}
		}
		if valid != 3 {
			t.Fatalf("%d requests succeeded on 3 credits over a rotation, want 3", valid)
		}
		if err := svc.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{old.ID, next.ID} {
			k, err := svc.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if k.Credits == nil || k.Credits.Remaining != 0 {
				t.Errorf("GET %s: credits %+v, want the shared 0", id, k.Credits)
			}
		}
		if _, err := svc.Update(ctx, next.ID, apikey.UpdateParams{Actor: "key_admin",
			Credits: &apikey.CreditsUpdate{Remaining: ptr(int64(2))}}); err != nil {
			t.Fatal(err)
		}
		if k, err := store.GetAPIKey(ctx, old.ID); err != nil || k.Credits == nil || k.Credits.Remaining != 2 {
			t.Fatalf("old key after the new one's credits were reset: %+v, %v; want 2", k, err)
		}
		valid = 0
		for _, key := range []string{oldKey, newKey, oldKey, newKey} {
			if check(t, svc, apikey.Request{Key: key}).Code == apikey.CodeValid {
				valid++
			}
		}
		if valid != 2 {
			t.Fatalf("%d requests succeeded on 2 reset credits, want 2", valid)
		}
	})
}

// slowGetStore makes GetAPIKey take longer than a spend in Redis may.
type slowGetStore struct {
	auth.APIKeyStore
	delay time.Duration
}

func (s slowGetStore) GetAPIKey(ctx context.Context, id string) (*auth.APIKey, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.APIKeyStore.GetAPIKey(ctx, id)
}

// TestCreditsRedisStoreReadHasItsOwnDeadline: when Redis has no count for
// a key, the store read that starts it is not bound by the short deadline
// of the Redis round trip.
func TestCreditsRedisStoreReadHasItsOwnDeadline(t *testing.T) {
	t.Parallel()
	c, prefix := testRedis(t)
	e := newEnv(t, func(cfg *apikey.Config) {
		cfg.CreditsRedis, cfg.CreditsRedisPrefix = c, prefix
		cfg.Store = slowGetStore{APIKeyStore: cfg.Store, delay: 400 * time.Millisecond}
	})
	_, key := e.create(t, apikey.CreateParams{Credits: credits(2)})
	if r := check(t, e.svc, apikey.Request{Key: key}); r.Code != apikey.CodeValid || r.Credits.Remaining != 1 {
		t.Fatalf("first spend = %s, %+v; want VALID with 1 left", r.Code, r.Credits)
	}
}

// TestUsageExceededRecordedOncePerVersion: key.usage_exceeded is recorded
// at the first spend of a version (and period) that leaves 0 or cannot be
// paid, whatever the cost, and never twice for it; a reset of the credits
// starts a new version.
func TestUsageExceededRecordedOncePerVersion(t *testing.T) {
	t.Parallel()
	allLedgers(t, func(t *testing.T, svc *apikey.Service, store ledgerStore) {
		ctx := context.Background()
		create := func(remaining int64) (*auth.APIKey, string) {
			k, key, err := svc.Create(ctx, apikey.CreateParams{Owner: "svc", Actor: "key_admin", Credits: credits(remaining)})
			if err != nil {
				t.Fatal(err)
			}
			return k, key
		}
		events := func(id string) int {
			t.Helper()
			if err := svc.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			evs, _, err := store.ListAuditEvents(ctx, auth.AuditFilter{KeyID: id, Type: auth.EventKeyUsageExceeded})
			if err != nil {
				t.Fatal(err)
			}
			return len(evs)
		}
		spend := func(key string, cost int, want apikey.Code) {
			t.Helper()
			if r := check(t, svc, apikey.Request{Key: key, Cost: cost}); r.Code != want {
				t.Fatalf("cost %d: %s, want %s", cost, r.Code, want)
			}
		}

		// Cost 2 on 3 credits: 1 is left, never 0, and every later
		// request is refused.
		odd, oddKey := create(3)
		spend(oddKey, 2, apikey.CodeValid)
		if n := events(odd.ID); n != 0 {
			t.Fatalf("%d events with 1 credit left, want 0", n)
		}
		for range 3 {
			spend(oddKey, 2, apikey.CodeUsageExceeded)
		}
		if n := events(odd.ID); n != 1 {
			t.Fatalf("cost above the credits left: %d events, want 1", n)
		}

		// Created with none.
		none, noneKey := create(0)
		spend(noneKey, 1, apikey.CodeUsageExceeded)
		spend(noneKey, 1, apikey.CodeUsageExceeded)
		if n := events(none.ID); n != 1 {
			t.Fatalf("created with 0 credits: %d events, want 1", n)
		}

		// Spent to exactly 0, then refused: one event. A reset is a new
		// version, which gets its own.
		exact, exactKey := create(2)
		spend(exactKey, 1, apikey.CodeValid)
		spend(exactKey, 1, apikey.CodeValid)
		spend(exactKey, 1, apikey.CodeUsageExceeded)
		if n := events(exact.ID); n != 1 {
			t.Fatalf("spent to 0 and refused: %d events, want 1", n)
		}
		if _, err := svc.Update(ctx, exact.ID, apikey.UpdateParams{Actor: "key_admin",
			Credits: &apikey.CreditsUpdate{Remaining: ptr(int64(1))}}); err != nil {
			t.Fatal(err)
		}
		spend(exactKey, 1, apikey.CodeValid)
		spend(exactKey, 1, apikey.CodeUsageExceeded)
		if n := events(exact.ID); n != 2 {
			t.Fatalf("after a reset spent to 0: %d events, want 2", n)
		}
	})
}
