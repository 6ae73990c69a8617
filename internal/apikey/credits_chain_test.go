package apikey_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// allLedgers runs test on every ledger: the store's on SQLite and on
// PostgreSQL, and Redis's over each.
func allLedgers(t *testing.T, test func(t *testing.T, svc *apikey.Service, store auth.APIKeyStore)) {
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
	allLedgers(t, func(t *testing.T, svc *apikey.Service, store auth.APIKeyStore) {
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
