package admin

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/wire")

// TestWireFormatGolden pins the JSON of every response shape: a change to a
// member name or to what is left out shows up as a diff of testdata/wire,
// updated only with -update.
func TestWireFormatGolden(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	now := at("2030-05-06T07:08:09Z")
	full := &auth.APIKey{
		ID: "key_06tm024rl09mmgso", Hash: bytes.Repeat([]byte{0xAB}, 32), Prefix: "gk_live_", Hint: "Zq1x",
		Owner: "billing", Name: "billing production", Scopes: []string{"read", "write"},
		Metadata:  map[string]string{"team": "payments"},
		RateLimit: auth.RateLimit{Rate: 10, Burst: 20}, RotationPeriod: 2160 * time.Hour,
		CreatedAt: at("2030-01-01T00:00:00.123456Z"), ExpiresAt: at("2031-01-01T00:00:00Z"),
		LastUsedAt: at("2030-05-06T07:00:00Z"), RotationDueAt: at("2030-03-31T00:00:00.123456Z"),
		RotatedFrom: "key_06tm0000000000aa", RotatedTo: "key_06tm0000000000bb",
		Credits: &auth.Credits{Remaining: 940, Refill: auth.CreditRefill{Amount: 1000, Interval: auth.RefillMonthly},
			RefilledAt: at("2030-05-01T00:00:00Z"), Version: 3},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")},
	}
	minimal := &auth.APIKey{ID: "key_06tm024rl0l7gs1a", Hash: []byte{1}, Prefix: "gk_live_", Hint: "abcd", Owner: "svc", CreatedAt: now}
	revoked := *minimal
	revoked.RevokedAt = now

	cases := map[string]any{
		"key_full":    keyFromRecord(full, now),
		"key_minimal": keyFromRecord(minimal, now),
		"key_revoked": keyFromRecord(&revoked, now),
		"created_key": CreatedKey{Key: keyFromRecord(minimal, now), Secret: "gk_live_PLAINTEXTPLAINTEXTPLAINTEXT00000000"},
		"rotated_key": RotatedKey{
			NewKey: CreatedKey{Key: keyFromRecord(minimal, now), Secret: "gk_live_PLAINTEXTPLAINTEXTPLAINTEXT00000000"},
			OldKey: ptr(keyFromRecord(full, now)),
		},
		"key_list": KeyList{Items: []Key{keyFromRecord(minimal, now)}, NextCursor: "key_06tm024rl0l7gs1a"},
		"verify_valid": verifyResponse(apikey.Result{Code: apikey.CodeValid, Key: full,
			RateLimit: apikey.RateLimitState{Limit: 20, Remaining: 19, Reset: 100 * time.Millisecond}}),
		"verify_unknown": verifyResponse(apikey.Result{Code: apikey.CodeInvalid}),
		"verify_credits": verifyResponse(apikey.Result{Code: apikey.CodeValid, Key: minimal,
			Credits: apikey.CreditState{Metered: true, Remaining: 99}}),
		"verify_usage_exceeded": verifyResponse(apikey.Result{Code: apikey.CodeUsageExceeded, Key: minimal,
			Credits: apikey.CreditState{Metered: true, Remaining: 0}}),
		"verify_rate_limited": verifyResponse(apikey.Result{Code: apikey.CodeRateLimited, Key: minimal, RateLimit: apikey.RateLimitState{Limit: 1, Reset: 1500 * time.Millisecond, RetryAfter: 1500 * time.Millisecond}}),
		"audit_event_list": AuditEventList{Items: []AuditEvent{
			AuditEventFromRecord(auth.AuditEvent{ID: 1, Time: now, Type: auth.EventKeyCreated, Actor: "key_admin", KeyID: "key_1", Count: 1, Details: map[string]string{"owner": "svc"}}),
			AuditEventFromRecord(auth.AuditEvent{ID: 2, Time: now, Type: auth.EventKeyVerificationFailed, Actor: auth.ActorSystem, Reason: "INVALID", Count: 42}),
		}},
		"user": userFromRecord(&auth.User{ID: "usr_06tm024rl0l7gs1a", Username: "ada", Email: "ada@example.test", EmailVerified: true,
			Name: "Ada Lovelace", Role: auth.RoleDeveloper, Owners: []string{"billing", "shipping"},
			CreatedAt: at("2030-01-01T00:00:00Z"), UpdatedAt: now, PasswordChangedAt: at("2030-01-01T00:00:00Z")}),
		"user_admin_without_owners": userFromRecord(&auth.User{ID: "usr_06tm024rl0l7gs1b", Username: "root", Role: auth.RoleAdmin,
			CreatedAt: now, UpdatedAt: now}),
		"node_list": nodeList([]auth.Node{
			{ID: "node_06tm024rl0l7gs1a", Hostname: "gatehouse-0", Version: "v1.4.0 0123456789ab", Address: "https://10.0.0.5:8080",
				StartedAt: at("2030-05-06T06:00:00Z"), SeenAt: at("2030-05-06T07:08:05Z")},
			{ID: "node_06tm024rl0l7gs1b", Hostname: "gatehouse-1", Version: "v1.3.2", Address: "https://10.0.0.6:8080",
				SeenAt: at("2030-05-06T06:00:00Z")},
		}, now, 5*time.Second),
		"problem": Problem{Type: problemTypePrefix + auth.ENOTFOUND, Title: "Not found", Status: 404, Detail: "no such key"},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			if bytes.Contains(got, []byte("q6urq6urq6u")) { // base64 of the 0xAB hash bytes
				t.Errorf("the hash is on the wire: %s", got)
			}
			path := filepath.Join("testdata", "wire", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s changed:\n got %s\nwant %s", path, got, want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
