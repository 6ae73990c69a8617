package apikey_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

func check(t testing.TB, svc *apikey.Service, req apikey.Request) apikey.Result {
	t.Helper()
	r, err := svc.Check(context.Background(), req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return r
}

func credits(remaining int64, refill ...auth.CreditRefill) *auth.Credits {
	c := &auth.Credits{Remaining: remaining}
	if len(refill) > 0 {
		c.Refill = refill[0]
	}
	return c
}

// testRedis returns a client to the test Redis and a key prefix of this
// test's own, whose keys are deleted at the end.
func testRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS_URL: %v", err)
	}
	opt.ContextTimeoutEnabled = true
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		testenv.RedisUnreachable(t, err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "test:credits:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		keys, _ := c.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	})
	return c, prefix
}

// twoNodes starts two services on one PostgreSQL store (with Redis for
// credits when withRedis), as two nodes of a cluster are.
func twoNodes(t *testing.T, withRedis bool) (a, b *apikey.Service, db *postgres.DB) {
	t.Helper()
	dsn, _ := testenv.PostgresSchema(t)
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := apikey.Config{Store: db, Audit: db, Secret: testSecret(9), Prefix: testPrefix}
	if withRedis {
		cfg.CreditsRedis, cfg.CreditsRedisPrefix = testRedis(t)
	}
	nodes := make([]*apikey.Service, 2)
	for i := range nodes {
		if nodes[i], err = apikey.NewService(cfg); err != nil {
			t.Fatalf("NewService: %v", err)
		}
	}
	return nodes[0], nodes[1], db
}

// TestCreditsExactAcrossNodes: two nodes verifying one key with 100
// credits at the same time grant exactly 100 verifications, whichever
// ledger counts them.
func TestCreditsExactAcrossNodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		redis bool
	}{{"store ledger on PostgreSQL", false}, {"Redis ledger", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b, db := twoNodes(t, tc.redis)
			ctx := context.Background()
			k, key, err := a.Create(ctx, apikey.CreateParams{Owner: "svc", Actor: "key_admin", Credits: credits(100)})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			const perNode, workers = 80, 8
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				counts = map[apikey.Code]int{}
			)
			for _, node := range []*apikey.Service{a, b} {
				for range workers {
					wg.Go(func() {
						for range perNode / workers {
							r, err := node.Check(ctx, apikey.Request{Key: key})
							if err != nil {
								t.Errorf("Check: %v", err)
								return
							}
							mu.Lock()
							counts[r.Code]++
							mu.Unlock()
						}
					})
				}
			}
			wg.Wait()
			if counts[apikey.CodeValid] != 100 || counts[apikey.CodeUsageExceeded] != 2*perNode-100 {
				t.Fatalf("outcomes %v; want exactly 100 VALID and %d USAGE_EXCEEDED", counts, 2*perNode-100)
			}
			for _, n := range []*apikey.Service{a, b} {
				if err := n.Flush(ctx); err != nil {
					t.Fatalf("Flush: %v", err)
				}
			}
			if got, _ := db.GetAPIKey(ctx, k.ID); got.Credits == nil || got.Credits.Remaining != 0 {
				t.Fatalf("stored credits %+v, want 0 remaining", got.Credits)
			}
			evs, _, err := db.ListAuditEvents(ctx, auth.AuditFilter{KeyID: k.ID, Type: auth.EventKeyUsageExceeded})
			if err != nil || len(evs) != 1 {
				t.Fatalf("key.usage_exceeded events = %d, %v; want exactly 1", len(evs), err)
			}
			// An admin reset reaches both nodes' counts (the other node's
			// cache is told by the change feed in production; here it
			// drops the key as the feed would).
			if _, err := a.Update(ctx, k.ID, apikey.UpdateParams{Credits: &apikey.CreditsUpdate{Remaining: ptr(int64(3))}, Actor: "key_admin"}); err != nil {
				t.Fatalf("Update: %v", err)
			}
			b.Invalidate(k.ID)
			valid := 0
			for i := range 6 {
				node := []*apikey.Service{a, b}[i%2]
				if r := check(t, node, apikey.Request{Key: key}); r.Valid() {
					valid++
				}
			}
			if valid != 3 {
				t.Fatalf("%d verifications valid after a reset to 3 credits, want 3", valid)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// ledgers runs test with the store's ledger (SQLite) and with Redis's.
func ledgers(t *testing.T, test func(t *testing.T, configure func(*apikey.Config))) {
	t.Run("store", func(t *testing.T) {
		t.Parallel()
		test(t, func(*apikey.Config) {})
	})
	t.Run("Redis", func(t *testing.T) {
		t.Parallel()
		c, prefix := testRedis(t)
		test(t, func(cfg *apikey.Config) { cfg.CreditsRedis, cfg.CreditsRedisPrefix = c, prefix })
	})
}

func TestCreditsCost(t *testing.T) {
	t.Parallel()
	ledgers(t, testCreditsCost)
}

func testCreditsCost(t *testing.T, configure func(*apikey.Config)) {
	e := newEnv(t, configure)
	_, key := e.create(t, apikey.CreateParams{Credits: credits(10)})
	for i, tc := range []struct {
		cost      int
		code      apikey.Code
		remaining int64
	}{
		{3, apikey.CodeValid, 7},
		{0, apikey.CodeValid, 6}, // 0 means 1
		{6, apikey.CodeValid, 0},
		{1, apikey.CodeUsageExceeded, 0},
	} {
		r := check(t, e.svc, apikey.Request{Key: key, Cost: tc.cost})
		if r.Code != tc.code || !r.Credits.Metered || r.Credits.Remaining != tc.remaining {
			t.Fatalf("check %d (cost %d) = %s, %+v; want %s with %d left", i, tc.cost, r.Code, r.Credits, tc.code, tc.remaining)
		}
	}
	_, key2 := e.create(t, apikey.CreateParams{Credits: credits(5)})
	if r := check(t, e.svc, apikey.Request{Key: key2, Cost: 6}); r.Code != apikey.CodeUsageExceeded || r.Credits.Remaining != 5 {
		t.Fatalf("cost above the credits = %s, %+v; want USAGE_EXCEEDED with 5 left", r.Code, r.Credits)
	}
	if _, err := e.svc.Check(context.Background(), apikey.Request{Key: key2, Cost: apikey.MaxCost + 1}); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("cost above MaxCost: err %v, want EINVALID", err)
	}
}

func TestCreditsRefillAtTheStartOfThePeriod(t *testing.T) {
	t.Parallel()
	ledgers(t, testCreditsRefill)
}

func testCreditsRefill(t *testing.T, configure func(*apikey.Config)) {
	e := newEnv(t, configure) // t0 is 2030-06-01 12:00 UTC
	k, key := e.create(t, apikey.CreateParams{Credits: credits(2, auth.CreditRefill{Amount: 3, Interval: auth.RefillDaily})})
	check(t, e.svc, apikey.Request{Key: key})
	check(t, e.svc, apikey.Request{Key: key})
	e.clock.Add(12*time.Hour - time.Microsecond) // 23:59:59.999999
	if r := check(t, e.svc, apikey.Request{Key: key}); r.Code != apikey.CodeUsageExceeded {
		t.Fatalf("before midnight: %s, want USAGE_EXCEEDED", r.Code)
	}
	e.clock.Add(time.Microsecond) // midnight UTC
	for i := range 3 {
		if r := check(t, e.svc, apikey.Request{Key: key}); !r.Valid() || r.Credits.Remaining != int64(2-i) {
			t.Fatalf("after midnight, check %d = %s, %+v; want VALID with %d left", i, r.Code, r.Credits, 2-i)
		}
	}
	if r := check(t, e.svc, apikey.Request{Key: key}); r.Code != apikey.CodeUsageExceeded {
		t.Fatalf("after the refill is spent: %s, want USAGE_EXCEEDED", r.Code)
	}
	e.flush(t) // the Redis ledger writes its events (and the count) back here
	if got := e.get(t, k.ID).Credits; got.Remaining != 0 || !got.RefilledAt.Equal(t0.Add(12*time.Hour)) {
		t.Fatalf("stored credits %+v, want 0 refilled at midnight", got)
	}
	if evs := e.events(t, auth.EventKeyUsageExceeded); len(evs) != 2 {
		t.Fatalf("%d key.usage_exceeded events, want one per period (2)", len(evs))
	}
}

// TestCreditsSpentLast: a request refused for anything else (scopes,
// address, rate limit) spends no credit, and keys without credits never
// ask the ledger.
func TestCreditsSpentLast(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, key := e.create(t, apikey.CreateParams{
		Scopes: []string{"read"}, Credits: credits(5),
		RateLimit:  auth.RateLimit{Rate: 1, Burst: 1},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
	})
	ip := netip.MustParseAddr("203.0.113.9")
	for _, req := range []apikey.Request{
		{Key: key, Scopes: []string{"write"}, IP: ip},
		{Key: key, IP: netip.MustParseAddr("198.51.100.1")},
		{Key: key},
	} {
		check(t, e.svc, req)
	}
	if r := check(t, e.svc, apikey.Request{Key: key, IP: ip}); !r.Valid() || r.Credits.Remaining != 4 {
		t.Fatalf("first allowed request = %s, %+v; want VALID with 4 left", r.Code, r.Credits)
	}
	if r := check(t, e.svc, apikey.Request{Key: key, IP: ip}); r.Code != apikey.CodeRateLimited {
		t.Fatalf("second request = %s, want RATE_LIMITED", r.Code)
	}
	if got := e.get(t, k.ID).Credits.Remaining; got != 4 {
		t.Fatalf("stored credits %d, want 4: refused requests must not spend", got)
	}
	_, plain := e.create(t, apikey.CreateParams{})
	check(t, e.svc, apikey.Request{Key: plain, Cost: 5})
	if r := check(t, e.svc, apikey.Request{Key: plain}); !r.Valid() || r.Credits.Metered {
		t.Fatalf("key without credits = %s, %+v; want VALID, unmetered", r.Code, r.Credits)
	}
}

func TestAllowedIPs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	nets, err := auth.ParseAllowedIPs([]string{"203.0.113.0/24", "2001:db8::/32", "198.51.100.7"})
	if err != nil {
		t.Fatalf("ParseAllowedIPs: %v", err)
	}
	_, key := e.create(t, apikey.CreateParams{AllowedIPs: nets})
	for _, tc := range []struct {
		ip   string
		want apikey.Code
	}{
		{"203.0.113.1", apikey.CodeValid},
		{"203.0.113.255", apikey.CodeValid},
		{"::ffff:203.0.113.1", apikey.CodeValid}, // IPv4 as an IPv6 socket sees it
		{"2001:db8:1::5", apikey.CodeValid},
		{"198.51.100.7", apikey.CodeValid},
		{"198.51.100.8", apikey.CodeIPNotAllowed},
		{"203.0.114.1", apikey.CodeIPNotAllowed},
		{"2001:db9::1", apikey.CodeIPNotAllowed},
		{"", apikey.CodeIPNotAllowed}, // unknown address: fail closed
	} {
		var ip netip.Addr
		if tc.ip != "" {
			ip = netip.MustParseAddr(tc.ip)
		}
		if r := check(t, e.svc, apikey.Request{Key: key, IP: ip}); r.Code != tc.want {
			t.Errorf("from %q: %s, want %s", tc.ip, r.Code, tc.want)
		}
	}
	_, open := e.create(t, apikey.CreateParams{})
	if r := check(t, e.svc, apikey.Request{Key: open}); !r.Valid() {
		t.Fatalf("unrestricted key from an unknown address = %s, want VALID", r.Code)
	}
}

func TestCreateRefusesBadCreditsAndNetworks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for name, p := range map[string]apikey.CreateParams{
		"negative credits":      {Credits: credits(-1)},
		"huge credits":          {Credits: credits(auth.MaxCredits + 1)},
		"refill without amount": {Credits: credits(1, auth.CreditRefill{Interval: auth.RefillDaily})},
		"weekly refill":         {Credits: credits(1, auth.CreditRefill{Amount: 1, Interval: "week"})},
		"huge refill":           {Credits: credits(1, auth.CreditRefill{Amount: auth.MaxCredits + 1, Interval: auth.RefillMonthly})},
		"host bits":             {AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/24")}},
		"too many networks":     {AllowedIPs: make([]netip.Prefix, auth.MaxAllowedIPs+1)},
	} {
		p.Owner, p.Actor = "svc", "key_admin"
		_, _, err := e.svc.Create(context.Background(), p)
		if auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("%s: err %v, want EINVALID", name, err)
		}
	}
	if keys, _, _ := e.db.ListAPIKeys(context.Background(), auth.APIKeyFilter{}); len(keys) != 0 {
		t.Fatalf("%d keys stored, want none", len(keys))
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	k, key := e.create(t, apikey.CreateParams{Name: "old", Scopes: []string{"read"}, Credits: credits(1)})
	e.wantCode(t, key, apikey.CodeValid)
	e.wantCode(t, key, apikey.CodeUsageExceeded)
	exp := t0.Add(48 * time.Hour)
	nets := []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}
	got, err := e.svc.Update(ctx, k.ID, apikey.UpdateParams{
		Name: ptr("new"), Scopes: &[]string{"write", "read"}, Metadata: &map[string]string{"team": "a"},
		RateLimit: &auth.RateLimit{Rate: 10}, ExpiresAt: &exp,
		Credits:    &apikey.CreditsUpdate{Remaining: ptr(int64(2)), Refill: &auth.CreditRefill{Amount: 5, Interval: auth.RefillMonthly}},
		AllowedIPs: &nets, Actor: "key_admin",
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got.Name != "new" || len(got.Scopes) != 2 || got.Metadata["team"] != "a" || got.RateLimit.Burst != 10 ||
		!got.ExpiresAt.Equal(exp) || got.Credits.Remaining != 2 || got.Credits.Refill.Amount != 5 || len(got.AllowedIPs) != 1 {
		t.Fatalf("updated key %+v", got)
	}
	// The cache was dropped: the next verification sees the new record.
	e.wantCode(t, key, apikey.CodeInsufficientScope, "admin")
	if r := check(t, e.svc, apikey.Request{Key: key, IP: netip.MustParseAddr("2001:db8::1")}); !r.Valid() || r.Credits.Remaining != 1 {
		t.Fatalf("after the update: %s, %+v; want VALID with 1 left", r.Code, r.Credits)
	}
	evs := e.events(t, auth.EventKeyUpdated)
	if len(evs) != 1 || evs[0].Details["changed"] != "name,scopes,metadata,rate_limit,expires_at,credits,allowed_ips" ||
		evs[0].Details["credits_remaining"] != "2" || evs[0].Actor != "key_admin" {
		t.Fatalf("key.updated events %+v", evs)
	}
	// Nothing changed: nothing written.
	if _, err := e.svc.Update(ctx, k.ID, apikey.UpdateParams{Name: ptr("new"), Actor: "key_admin"}); err != nil {
		t.Fatalf("Update to the same name: %v", err)
	}
	if evs := e.events(t, auth.EventKeyUpdated); len(evs) != 1 {
		t.Fatalf("an update that changes nothing wrote an event")
	}
	// Credits can be removed, and the restriction lifted.
	got, err = e.svc.Update(ctx, k.ID, apikey.UpdateParams{Credits: &apikey.CreditsUpdate{Remove: true}, AllowedIPs: &[]netip.Prefix{}, Actor: "key_admin"})
	if err != nil || got.Credits != nil || got.AllowedIPs != nil {
		t.Fatalf("Update removing credits and networks = %+v, %v", got, err)
	}

	for name, p := range map[string]apikey.UpdateParams{
		"negative credits":    {Credits: &apikey.CreditsUpdate{Remaining: ptr(int64(-1))}},
		"bad interval":        {Credits: &apikey.CreditsUpdate{Refill: &auth.CreditRefill{Amount: 1, Interval: "year"}}},
		"remove and set":      {Credits: &apikey.CreditsUpdate{Remove: true, Remaining: ptr(int64(1))}},
		"credits from refill": {Credits: &apikey.CreditsUpdate{Refill: &auth.CreditRefill{}}},
		"past expiry":         {ExpiresAt: ptr(t0.Add(-time.Hour))},
		"bad scope":           {Scopes: &[]string{"a b"}},
		"host bits":           {AllowedIPs: &[]netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}},
	} {
		p.Actor = "key_admin"
		if _, err := e.svc.Update(ctx, k.ID, p); auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("%s: err %v, want EINVALID", name, err)
		}
	}
	_, err = e.svc.Update(ctx, "key_none", apikey.UpdateParams{Name: ptr("x"), Actor: "key_admin"})
	wantErrCode(t, err, auth.ENOTFOUND)
	if _, err := e.svc.Revoke(ctx, k.ID, "key_admin"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	_, err = e.svc.Update(ctx, k.ID, apikey.UpdateParams{Name: ptr("x"), Actor: "key_admin"})
	wantErrCode(t, err, auth.ECONFLICT)
	if evs := e.events(t, auth.EventKeyUpdated); len(evs) != 2 {
		t.Fatalf("%d key.updated events, want 2 (refused updates write none)", len(evs))
	}
}

// TestCreditsFailClosedWithoutTheLedger: when Redis cannot be reached, a
// key with credits is not granted uncounted (the error is EUNAVAILABLE,
// which the endpoints answer with 503); a key without credits never asks.
func TestCreditsFailClosedWithoutTheLedger(t *testing.T) {
	t.Parallel()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { down.Close() })
	e := newEnv(t, func(c *apikey.Config) { c.CreditsRedis = down })
	_, metered := e.create(t, apikey.CreateParams{Credits: credits(5)})
	_, err := e.svc.Check(context.Background(), apikey.Request{Key: metered})
	wantErrCode(t, err, auth.EUNAVAILABLE)
	_, plain := e.create(t, apikey.CreateParams{})
	e.wantCode(t, plain, apikey.CodeValid)
}

// BenchmarkVerifyWithCredits is a warm verification of a key with credits:
// the record comes from the cache, the spend from the ledger (a SQLite
// write, or a Redis script).
func BenchmarkVerifyWithCredits(b *testing.B) {
	for _, ledger := range []string{"store", "Redis"} {
		b.Run(ledger, func(b *testing.B) {
			e := newEnv(b, func(c *apikey.Config) {
				c.Now = auth.SystemNow
				if ledger == "Redis" {
					c.CreditsRedis, c.CreditsRedisPrefix = testRedis(b)
				}
			})
			_, key := e.create(b, apikey.CreateParams{Credits: credits(auth.MaxCredits)})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if r, err := e.svc.Check(ctx, apikey.Request{Key: key}); err != nil || !r.Valid() {
					b.Fatalf("Check = %s, %v", r.Code, err)
				}
			}
		})
	}
}

// TestCreditsRedisLostStartsFromTheStore: when Redis loses a key's count,
// it starts again from the value last written back to the store, not from
// the node's cached record (which still says what the key had when it was
// read).
func TestCreditsRedisLostStartsFromTheStore(t *testing.T) {
	t.Parallel()
	c, prefix := testRedis(t)
	e := newEnv(t, func(cfg *apikey.Config) { cfg.CreditsRedis, cfg.CreditsRedisPrefix = c, prefix })
	k, key := e.create(t, apikey.CreateParams{Credits: credits(10)})
	for range 4 {
		e.wantCode(t, key, apikey.CodeValid)
	}
	e.flush(t)
	if got := e.get(t, k.ID).Credits.Remaining; got != 6 {
		t.Fatalf("written back %d, want 6", got)
	}
	if err := c.Del(context.Background(), prefix+k.ID).Err(); err != nil {
		t.Fatal(err)
	}
	if r := e.wantCode(t, key, apikey.CodeValid); r.Credits.Remaining != 5 {
		t.Fatalf("after Redis lost the count: %d left, want 5 (from the store's 6)", r.Credits.Remaining)
	}
}

// TestUsageCountsCreditsAndNetworkRefusals: USAGE_EXCEEDED and
// IP_NOT_ALLOWED are counted in the usage counts like every outcome.
func TestUsageCountsCreditsAndNetworkRefusals(t *testing.T) {
	t.Parallel()
	counter := usage.NewCounter()
	e := newEnv(t, func(c *apikey.Config) { c.Usage = counter })
	nets, _ := auth.ParseAllowedIPs([]string{"192.0.2.0/24"})
	k, key := e.create(t, apikey.CreateParams{Owner: "svc", Credits: credits(1), AllowedIPs: nets})
	ip := netip.MustParseAddr("192.0.2.1")
	for _, req := range []apikey.Request{{Key: key, IP: ip, Route: "r"}, {Key: key, IP: ip, Route: "r"}, {Key: key, Route: "r"}} {
		check(t, e.svc, req)
	}
	got := map[string]int64{}
	for cell, n := range counter.Take() {
		if cell.Event.KeyID != k.ID || cell.Event.Route != "r" {
			t.Errorf("counted under %+v", cell.Event)
		}
		got[cell.Event.Outcome] += n
	}
	if want := map[string]int64{"VALID": 1, "USAGE_EXCEEDED": 1, "IP_NOT_ALLOWED": 1}; !maps.Equal(got, want) {
		t.Fatalf("usage counts %v, want %v", got, want)
	}
}
