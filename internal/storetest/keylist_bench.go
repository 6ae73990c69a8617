package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// BenchKeys is the number of keys BenchmarkKeyLists expects in the store.
const BenchKeys = 100_000

// BenchKey returns the i-th key of the store BenchmarkKeyLists reads: 100
// owners in turn, one key in ten of the test environment, one in a
// thousand revoked, one in fifty rotated.
func BenchKey(i int) *auth.APIKey {
	k := newKey(fmt.Sprintf("key_%08d", i))
	k.Hash = hashOf(k.ID)
	k.Owner = fmt.Sprintf("owner_%02d", i%100)
	k.Name = fmt.Sprintf("Service %d key", i)
	k.Prefix = "sk_live_"
	if i%10 == 0 {
		k.Prefix = "sk_test_"
	}
	if i%1000 == 7 {
		k.RevokedAt = at(-time.Hour)
	}
	if i%50 == 3 {
		k.RotatedTo = fmt.Sprintf("key_%08d", i+1)
	}
	return k
}

// BenchmarkKeyLists times the first page (50 keys) of the dashboard's key
// lists, and a key's lookup, in a store holding BenchKey(0..BenchKeys-1).
// Each filter runs as a sub-benchmark, so the caller fills the store once.
func BenchmarkKeyLists(b *testing.B, s auth.Store) {
	for _, bc := range []struct {
		name string
		f    auth.APIKeyFilter
		min  int // fewest keys the page must hold
	}{
		{"all", auth.APIKeyFilter{}, 50},
		{"owners", auth.APIKeyFilter{Owners: []string{"owner_42"}}, 50},
		{"status_revoked", auth.APIKeyFilter{Status: auth.KeyRevoked, At: base}, 50},
		{"status_active", auth.APIKeyFilter{Status: auth.KeyActive, At: base}, 50},
		{"env_test", auth.APIKeyFilter{Environment: auth.KeyEnvTest}, 50},
		{"search_name", auth.APIKeyFilter{Search: "service 4242 KEY"}, 1},
		{"owners_revoked_test", auth.APIKeyFilter{Owners: []string{"owner_07", "owner_17"}, Status: auth.KeyRevoked, At: base}, 1},
	} {
		b.Run("ListAPIKeys/"+bc.name, func(b *testing.B) {
			bc.f.Limit = 50
			b.ReportAllocs()
			for b.Loop() {
				keys, _, err := s.ListAPIKeys(b.Context(), bc.f)
				if err != nil || len(keys) < bc.min {
					b.Fatalf("ListAPIKeys(%+v) = %d keys, %v; want at least %d", bc.f, len(keys), err, bc.min)
				}
			}
		})
	}
	b.Run("GetAPIKey", func(b *testing.B) {
		id := BenchKey(BenchKeys / 2).ID
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetAPIKey(b.Context(), id); err != nil {
				b.Fatal(err)
			}
		}
	})
}
