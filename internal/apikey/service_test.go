package apikey_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// --- test fixtures -------------------------------------------------------

var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is the fake clock every service test runs on.
// countingStore wraps the real SQLite store, counting every call by method
// and failing the methods a test chooses.
type countingStore struct {
	auth.Store
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]error
}

func (s *countingStore) enter(method string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method]++
	return s.fail[method]
}

// Calls returns how often method was called ("" for all methods).
func (s *countingStore) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if method == "" {
		n := 0
		for _, c := range s.calls {
			n += c
		}
		return n
	}
	return s.calls[method]
}

func (s *countingStore) Reset() {
	s.mu.Lock()
	clear(s.calls)
	s.mu.Unlock()
}

func (s *countingStore) Fail(method string, err error) {
	s.mu.Lock()
	if err == nil {
		delete(s.fail, method)
	} else {
		s.fail[method] = err
	}
	s.mu.Unlock()
}

func (s *countingStore) CreateAPIKey(ctx context.Context, k *auth.APIKey, events ...auth.AuditEvent) error {
	if err := s.enter("CreateAPIKey"); err != nil {
		return err
	}
	return s.Store.CreateAPIKey(ctx, k, events...)
}

func (s *countingStore) GetAPIKey(ctx context.Context, id string) (*auth.APIKey, error) {
	if err := s.enter("GetAPIKey"); err != nil {
		return nil, err
	}
	return s.Store.GetAPIKey(ctx, id)
}

func (s *countingStore) GetAPIKeyByHash(ctx context.Context, hash []byte) (*auth.APIKey, error) {
	if err := s.enter("GetAPIKeyByHash"); err != nil {
		return nil, err
	}
	return s.Store.GetAPIKeyByHash(ctx, hash)
}

func (s *countingStore) ListAPIKeys(ctx context.Context, f auth.APIKeyFilter) ([]*auth.APIKey, string, error) {
	if err := s.enter("ListAPIKeys"); err != nil {
		return nil, "", err
	}
	return s.Store.ListAPIKeys(ctx, f)
}

func (s *countingStore) RotateAPIKey(ctx context.Context, oldID string, next *auth.APIKey, oldExpiresAt time.Time, events ...auth.AuditEvent) (*auth.APIKey, error) {
	if err := s.enter("RotateAPIKey"); err != nil {
		return nil, err
	}
	return s.Store.RotateAPIKey(ctx, oldID, next, oldExpiresAt, events...)
}

func (s *countingStore) RevokeAPIKey(ctx context.Context, id string, at time.Time, events ...auth.AuditEvent) (*auth.APIKey, error) {
	if err := s.enter("RevokeAPIKey"); err != nil {
		return nil, err
	}
	return s.Store.RevokeAPIKey(ctx, id, at, events...)
}

func (s *countingStore) TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error {
	if err := s.enter("TouchAPIKeys"); err != nil {
		return err
	}
	return s.Store.TouchAPIKeys(ctx, lastUsed)
}

func (s *countingStore) MarkExpiredAPIKeys(ctx context.Context, now time.Time) ([]string, error) {
	if err := s.enter("MarkExpiredAPIKeys"); err != nil {
		return nil, err
	}
	return s.Store.MarkExpiredAPIKeys(ctx, now)
}

func (s *countingStore) AppendAuditEvents(ctx context.Context, events ...auth.AuditEvent) error {
	if err := s.enter("AppendAuditEvents"); err != nil {
		return err
	}
	return s.Store.AppendAuditEvents(ctx, events...)
}

func (s *countingStore) ListAuditEvents(ctx context.Context, f auth.AuditFilter) ([]auth.AuditEvent, int64, error) {
	if err := s.enter("ListAuditEvents"); err != nil {
		return nil, 0, err
	}
	return s.Store.ListAuditEvents(ctx, f)
}

type env struct {
	svc   *apikey.Service
	db    *sqlite.DB // the real store, for changes "made by another node"
	store *countingStore
	clock *testenv.Clock
	// mono stands for the monotonic clock by which the service times its
	// trust in a change feed (newWatchedEnv only). It is apart from clock,
	// the service's Now, which a wall clock's steps move.
	mono *testenv.Clock
	logs *testenv.SyncBuffer
	cfg  apikey.Config
}

const testPrefix = "sk_live_"

func openDB(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newEnv starts a Service on a fresh SQLite database and a fake clock;
// configure may change the Config first.
func newEnv(t testing.TB, configure ...func(*apikey.Config)) *env {
	t.Helper()
	db := openDB(t)
	e := &env{
		db:    db,
		store: &countingStore{Store: db, calls: map[string]int{}, fail: map[string]error{}},
		clock: testenv.NewClock(t0),
		logs:  &testenv.SyncBuffer{},
	}
	e.cfg = apikey.Config{
		Store:  e.store,
		Audit:  e.store,
		Secret: testSecret(9),
		Prefix: testPrefix,
		Now:    e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range configure {
		f(&e.cfg)
	}
	svc, err := apikey.NewService(e.cfg)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	e.svc = svc
	return e
}

func (e *env) create(t testing.TB, p apikey.CreateParams) (*auth.APIKey, string) {
	t.Helper()
	if p.Owner == "" {
		p.Owner = "billing-service"
	}
	if p.Actor == "" {
		p.Actor = "key_admin"
	}
	k, plaintext, err := e.svc.Create(context.Background(), p)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return k, plaintext
}

func (e *env) verify(t testing.TB, key string, scopes ...string) apikey.Result {
	t.Helper()
	r, err := e.svc.Verify(context.Background(), key, scopes)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

func (e *env) wantCode(t testing.TB, key string, want apikey.Code, scopes ...string) apikey.Result {
	t.Helper()
	r := e.verify(t, key, scopes...)
	if r.Code != want {
		t.Fatalf("Verify = %s, want %s", r.Code, want)
	}
	return r
}

func (e *env) flush(t testing.TB) {
	t.Helper()
	if err := e.svc.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// events returns the audit events of one type, read from the real store.
func (e *env) events(t testing.TB, typ string) []auth.AuditEvent {
	t.Helper()
	var all []auth.AuditEvent
	f := auth.AuditFilter{Type: typ, Limit: auth.MaxPageSize}
	for {
		evs, next, err := e.db.ListAuditEvents(context.Background(), f)
		if err != nil {
			t.Fatalf("ListAuditEvents: %v", err)
		}
		all = append(all, evs...)
		if next == 0 {
			return all
		}
		f.After = next
	}
}

func (e *env) get(t testing.TB, id string) *auth.APIKey {
	t.Helper()
	k, err := e.db.GetAPIKey(context.Background(), id)
	if err != nil {
		t.Fatalf("GetAPIKey: %v", err)
	}
	return k
}

func wantErrCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := auth.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// --- NewService -------------------------------------------------------------

func TestNewServiceRejectsBadConfig(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	good := apikey.Config{Store: db, Audit: db, Secret: testSecret(1), Prefix: testPrefix}
	tests := []struct {
		name   string
		change func(*apikey.Config)
	}{
		{"no store", func(c *apikey.Config) { c.Store = nil }},
		{"no audit store", func(c *apikey.Config) { c.Audit = nil }},
		{"short secret", func(c *apikey.Config) { c.Secret = make([]byte, 31) }},
		{"no prefix", func(c *apikey.Config) { c.Prefix = "" }},
		{"invalid prefix", func(c *apikey.Config) { c.Prefix = "SK-LIVE-" }},
		{"negative cache size", func(c *apikey.Config) { c.CacheSize = -1 }},
		{"negative negative-cache size", func(c *apikey.Config) { c.NegativeCacheSize = -1 }},
	}
	for _, tt := range tests {
		cfg := good
		tt.change(&cfg)
		if _, err := apikey.NewService(cfg); err == nil {
			t.Errorf("%s: NewService accepted the config", tt.name)
		}
	}
	if _, err := apikey.NewService(good); err != nil {
		t.Fatalf("NewService(good config): %v", err)
	}
}

// --- Create -------------------------------------------------------------

func TestCreateReturnsAKeyThatVerifies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := apikey.CreateParams{
		Owner:          "billing-service",
		Name:           "production",
		Scopes:         []string{"invoices:write", "invoices:read", "invoices:read"},
		Metadata:       map[string]string{"team": "billing"},
		ExpiresAt:      t0.Add(90 * 24 * time.Hour),
		RateLimit:      auth.RateLimit{Rate: 2.5},
		RotationPeriod: 30 * 24 * time.Hour,
		Actor:          "key_admin1",
	}
	k, plaintext, err := e.svc.Create(context.Background(), p)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if prefix, err := apikey.Parse(plaintext); err != nil || prefix != testPrefix {
		t.Fatalf("Parse(new key) = %q, %v", prefix, err)
	}
	h, _ := secret.NewHasher(testSecret(9))
	sum := h.Sum(plaintext)
	want := &auth.APIKey{
		ID: k.ID, Hash: sum[:], Prefix: testPrefix, Hint: plaintext[len(plaintext)-4:],
		Owner: "billing-service", Name: "production",
		Scopes:         []string{"invoices:read", "invoices:write"},
		Metadata:       map[string]string{"team": "billing"},
		RateLimit:      auth.RateLimit{Rate: 2.5, Burst: 3},
		RotationPeriod: 30 * 24 * time.Hour,
		CreatedAt:      t0, ExpiresAt: t0.Add(90 * 24 * time.Hour),
		RotationDueAt: t0.Add(30 * 24 * time.Hour),
	}
	for _, got := range []*auth.APIKey{k, e.get(t, k.ID)} {
		if !sameKey(got, want) {
			t.Fatalf("record\n got %+v\nwant %+v", got, want)
		}
	}
	if !strings.HasPrefix(k.ID, "key_") || len(k.ID) != 20 {
		t.Fatalf("ID %q, want key_ and 16 characters", k.ID)
	}
	evs := e.events(t, auth.EventKeyCreated)
	if len(evs) != 1 || evs[0].KeyID != k.ID || evs[0].Actor != "key_admin1" || evs[0].Count != 1 {
		t.Fatalf("key.created events: %+v", evs)
	}
	r := e.wantCode(t, plaintext, apikey.CodeValid, "invoices:read")
	if r.Key == nil || r.Key.ID != k.ID || r.RateLimit.Limit != 3 || r.RateLimit.Remaining != 2 {
		t.Fatalf("Verify result %+v", r)
	}
}

func sameKey(a, b *auth.APIKey) bool {
	return a.ID == b.ID && bytes.Equal(a.Hash, b.Hash) && a.Prefix == b.Prefix && a.Hint == b.Hint &&
		a.Owner == b.Owner && a.Name == b.Name && slices.Equal(a.Scopes, b.Scopes) && maps.Equal(a.Metadata, b.Metadata) &&
		a.RateLimit == b.RateLimit && a.RotationPeriod == b.RotationPeriod &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.RevokedAt.Equal(b.RevokedAt) &&
		a.LastUsedAt.Equal(b.LastUsedAt) && a.RotationDueAt.Equal(b.RotationDueAt) &&
		a.RotatedFrom == b.RotatedFrom && a.RotatedTo == b.RotatedTo
}

func TestCreateGivesEveryKeyItsOwnSecretAndID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids, keys := map[string]bool{}, map[string]bool{}
	for range 50 {
		k, plaintext := e.create(t, apikey.CreateParams{})
		if ids[k.ID] || keys[plaintext] {
			t.Fatal("Create repeated an ID or a key")
		}
		ids[k.ID], keys[plaintext] = true, true
	}
}

func TestCreateValidates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ok := apikey.CreateParams{Owner: "svc", Actor: "key_admin"}
	tests := []struct {
		name   string
		change func(*apikey.CreateParams)
	}{
		{"owner missing", func(p *apikey.CreateParams) { p.Owner = "" }},
		{"owner too long", func(p *apikey.CreateParams) { p.Owner = strings.Repeat("o", 129) }},
		{"owner with a newline", func(p *apikey.CreateParams) { p.Owner = "svc\nadmin" }},
		{"owner with a right-to-left override", func(p *apikey.CreateParams) { p.Owner = "svc\u202e" }},
		{"owner not UTF-8", func(p *apikey.CreateParams) { p.Owner = "svc\xff" }},
		{"name too long", func(p *apikey.CreateParams) { p.Name = strings.Repeat("n", 129) }},
		{"name with a NUL", func(p *apikey.CreateParams) { p.Name = "a\x00b" }},
		{"actor missing", func(p *apikey.CreateParams) { p.Actor = "" }},
		{"empty scope", func(p *apikey.CreateParams) { p.Scopes = []string{""} }},
		{"scope with a space", func(p *apikey.CreateParams) { p.Scopes = []string{"read write"} }},
		{"scope with a double quote", func(p *apikey.CreateParams) { p.Scopes = []string{`say"hi"`} }},
		{"scope with a backslash", func(p *apikey.CreateParams) { p.Scopes = []string{`a\b`} }},
		{"unknown environment", func(p *apikey.CreateParams) { p.Environment = "staging" }},
		{"scope too long", func(p *apikey.CreateParams) { p.Scopes = []string{strings.Repeat("s", 129)} }},
		{"scope with Unicode", func(p *apikey.CreateParams) { p.Scopes = []string{"lire:é"} }},
		{"65 scopes", func(p *apikey.CreateParams) { p.Scopes = manyScopes(65) }},
		{"33 metadata entries", func(p *apikey.CreateParams) { p.Metadata = manyMetadata(33) }},
		{"empty metadata key", func(p *apikey.CreateParams) { p.Metadata = map[string]string{"": "x"} }},
		{"metadata key too long", func(p *apikey.CreateParams) { p.Metadata = map[string]string{strings.Repeat("k", 65): "x"} }},
		{"metadata value too long", func(p *apikey.CreateParams) { p.Metadata = map[string]string{"k": strings.Repeat("v", 513)} }},
		{"metadata value with a control character", func(p *apikey.CreateParams) { p.Metadata = map[string]string{"k": "\x1b[31m"} }},
		{"expiry now", func(p *apikey.CreateParams) { p.ExpiresAt = t0 }},
		{"expiry in the past", func(p *apikey.CreateParams) { p.ExpiresAt = t0.Add(-time.Second) }},
		{"expiry beyond 100 years", func(p *apikey.CreateParams) { p.ExpiresAt = t0.Add(apikey.MaxLifetime + time.Second) }},
		{"expiry past the year 9999", func(p *apikey.CreateParams) { p.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"rate under one a day", func(p *apikey.CreateParams) { p.RateLimit = auth.RateLimit{Rate: 1e-300, Burst: 1} }},
		{"negative rate", func(p *apikey.CreateParams) { p.RateLimit = auth.RateLimit{Rate: -1} }},
		{"NaN rate", func(p *apikey.CreateParams) { p.RateLimit = auth.RateLimit{Rate: nan()} }},
		{"burst without rate", func(p *apikey.CreateParams) { p.RateLimit = auth.RateLimit{Burst: 10} }},
		{"negative burst", func(p *apikey.CreateParams) { p.RateLimit = auth.RateLimit{Rate: 1, Burst: -1} }},
		{"burst over a million", func(p *apikey.CreateParams) { p.RateLimit = auth.RateLimit{Rate: 1, Burst: 1_000_001} }},
		{"rate over a million without burst", func(p *apikey.CreateParams) { p.RateLimit = auth.RateLimit{Rate: 2e6} }},
		{"negative rotation period", func(p *apikey.CreateParams) { p.RotationPeriod = -time.Hour }},
		{"rotation period under an hour", func(p *apikey.CreateParams) { p.RotationPeriod = 59 * time.Minute }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.change(&p)
			e.store.Reset()
			_, _, err := e.svc.Create(context.Background(), p)
			wantErrCode(t, err, auth.EINVALID)
			if msg := auth.ErrorMessage(err); msg == "" || len(msg) > 200 {
				t.Fatalf("message %q: want a short caller-safe explanation", msg)
			}
			if n := e.store.Calls(""); n != 0 {
				t.Fatalf("invalid params reached the store (%d calls)", n)
			}
		})
	}
	// The limits themselves are allowed.
	p := ok
	p.Owner, p.Name = strings.Repeat("o", 128), "Zoë's key ✓"
	p.Scopes = manyScopes(64)
	p.Scopes[0] = "Aa0:._/*-" + strings.Repeat("x", 119)
	p.Scopes = append(p.Scopes, p.Scopes[1], p.Scopes[2]) // duplicates do not count
	p.Metadata = manyMetadata(32)
	p.RateLimit = auth.RateLimit{Rate: 0.5, Burst: 1_000_000}
	p.RotationPeriod = time.Hour
	if _, _, err := e.svc.Create(context.Background(), p); err != nil {
		t.Fatalf("Create at the limits: %v", err)
	}
}

func nan() float64 { var z float64; return z / z }

func manyScopes(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "scope" + strings.Repeat("x", i)
	}
	return s
}

func manyMetadata(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[strings.Repeat("k", i+1)] = "v"
	}
	return m
}

// --- Verify -------------------------------------------------------------

func TestVerifyCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, valid := e.create(t, apikey.CreateParams{Scopes: []string{"read", "write"}})
	_, expiring := e.create(t, apikey.CreateParams{ExpiresAt: t0.Add(time.Minute)})
	revokedKey, revoked := e.create(t, apikey.CreateParams{})
	if _, err := e.svc.Revoke(context.Background(), revokedKey.ID, "key_admin"); err != nil {
		t.Fatal(err)
	}
	_, limited := e.create(t, apikey.CreateParams{RateLimit: auth.RateLimit{Rate: 1, Burst: 1}})
	unknown := generate(t, testPrefix)
	otherPrefix := generate(t, "sk_test_")
	e.clock.Add(time.Minute)
	e.verify(t, limited) // uses up its bucket

	tests := []struct {
		name   string
		key    string
		scopes []string
		want   apikey.Code
	}{
		{"valid, no scopes asked", valid, nil, apikey.CodeValid},
		{"valid, scopes held", valid, []string{"write", "read"}, apikey.CodeValid},
		{"scope missing", valid, []string{"read", "admin"}, apikey.CodeInsufficientScope},
		{"expired", expiring, nil, apikey.CodeExpired},
		{"revoked", revoked, nil, apikey.CodeRevoked},
		{"rate limited", limited, nil, apikey.CodeRateLimited},
		{"unknown but well-formed", unknown, nil, apikey.CodeInvalid},
		{"another environment's prefix, unknown", otherPrefix, nil, apikey.CodeInvalid},
		{"typo", valid[:10] + flip(valid[10]) + valid[11:], nil, apikey.CodeInvalid},
		{"garbage", "hello", nil, apikey.CodeInvalid},
		{"empty", "", nil, apikey.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.wantCode(t, tt.key, tt.want, tt.scopes...)
			if r.Valid() != (tt.want == apikey.CodeValid) {
				t.Fatalf("Valid() = %v for %s", r.Valid(), r.Code)
			}
			if known := tt.want != apikey.CodeInvalid; (r.Key != nil) != known {
				t.Fatalf("Result.Key = %v for %s", r.Key, r.Code)
			}
		})
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestVerifyRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.create(t, apikey.CreateParams{RateLimit: auth.RateLimit{Rate: 1, Burst: 2}})
	r1 := e.wantCode(t, key, apikey.CodeValid)
	r2 := e.wantCode(t, key, apikey.CodeValid)
	r3 := e.wantCode(t, key, apikey.CodeRateLimited)
	if r1.RateLimit.Remaining != 1 || r2.RateLimit.Remaining != 0 {
		t.Fatalf("remaining %d then %d, want 1 then 0", r1.RateLimit.Remaining, r2.RateLimit.Remaining)
	}
	want := apikey.RateLimitState{Limit: 2, Remaining: 0, Reset: 2 * time.Second, RetryAfter: time.Second}
	if r3.RateLimit != want {
		t.Fatalf("limited: %+v, want %+v", r3.RateLimit, want)
	}
	e.clock.Add(r3.RateLimit.RetryAfter)
	e.wantCode(t, key, apikey.CodeValid)
}

func TestVerifyUnlimitedKeyReportsNoLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	for range 1000 {
		if r := e.wantCode(t, key, apikey.CodeValid); r.RateLimit != (apikey.RateLimitState{}) {
			t.Fatalf("unlimited key: rate limit state %+v", r.RateLimit)
		}
	}
}

func TestVerifyExpiryFollowsTheClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.create(t, apikey.CreateParams{ExpiresAt: t0.Add(time.Hour)})
	e.wantCode(t, key, apikey.CodeValid)
	e.clock.Add(time.Hour - time.Microsecond)
	e.wantCode(t, key, apikey.CodeValid)
	e.clock.Add(time.Microsecond)
	e.store.Reset()
	e.wantCode(t, key, apikey.CodeExpired)
	if n := e.store.Calls("GetAPIKeyByHash"); n != 0 {
		t.Fatalf("expiry of a cached key needed %d store reads", n)
	}
}

func TestMalformedKeysNeverReachTheStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	e.store.Reset()
	bad := []string{
		"", "x", key[:len(key)-1], key + "0", strings.ToUpper(key), " " + key,
		key[:len(key)-1] + flip(key[len(key)-1]), // checksum typo
		key[:12] + flip(key[12]) + key[13:],      // body typo
		"sk_test_" + key[len(testPrefix):],       // other prefix, checksum now wrong
		strings.Repeat("A", 1<<20),
	}
	for _, k := range bad {
		e.wantCode(t, k, apikey.CodeInvalid)
	}
	if n := e.store.Calls(""); n != 0 {
		t.Fatalf("malformed keys caused %d store calls", n)
	}
}

func TestWarmVerifyNeedsNoStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.create(t, apikey.CreateParams{Scopes: []string{"read"}})
	e.store.Reset()
	for range 100 {
		e.wantCode(t, key, apikey.CodeValid, "read")
		e.wantCode(t, key, apikey.CodeInsufficientScope, "write")
	}
	if n := e.store.Calls(""); n != 1 {
		t.Fatalf("200 verifications of one key made %d store calls, want 1", n)
	}
}

func TestWarmVerifyAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	e := newEnv(t, func(c *apikey.Config) { c.Registerer = prometheus.NewRegistry() })
	_, key := e.create(t, apikey.CreateParams{Scopes: []string{"read"}, RateLimit: auth.RateLimit{Rate: 1e9, Burst: 1e6}})
	scopes := []string{"read"}
	ctx := context.Background()
	e.svc.Verify(ctx, key, scopes)
	if n := testing.AllocsPerRun(1000, func() { e.svc.Verify(ctx, key, scopes) }); n != 0 {
		t.Fatalf("a warm Verify allocates %.1f times", n)
	}
	bad := key[:len(key)-1] + flip(key[len(key)-1])
	if n := testing.AllocsPerRun(1000, func() { e.svc.Verify(ctx, bad, scopes) }); n != 0 {
		t.Fatalf("refusing a malformed key allocates %.1f times", n)
	}
	unknown := generate(t, testPrefix)
	e.svc.Verify(ctx, unknown, scopes)
	if n := testing.AllocsPerRun(1000, func() { e.svc.Verify(ctx, unknown, scopes) }); n != 0 {
		t.Fatalf("refusing an unknown key found in the negative cache allocates %.1f times", n)
	}
}

func TestVerifyReturnsStoreErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	e.store.Fail("GetAPIKeyByHash", errors.New("disk on fire"))
	r, err := e.svc.Verify(context.Background(), key, nil)
	if err == nil || r.Valid() || r.Code != "" {
		t.Fatalf("Verify with a failing store = %+v, %v; want an error and no code", r, err)
	}
	if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), key[8:20]) {
		t.Fatalf("error %q contains the key", err)
	}
	e.store.Fail("GetAPIKeyByHash", nil)
	e.wantCode(t, key, apikey.CodeValid)
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apikey.Config) { c.CacheTTL = -1 })
	_, key := e.create(t, apikey.CreateParams{})
	e.store.Reset()
	for range 3 {
		e.wantCode(t, key, apikey.CodeValid)
	}
	if n := e.store.Calls("GetAPIKeyByHash"); n != 3 {
		t.Fatalf("without a cache, 3 verifications read the store %d times", n)
	}
	if e.svc.CacheLen() != 0 {
		t.Fatal("a disabled cache holds entries")
	}
}

func TestCacheEntriesExpireSoOtherNodesChangesArePickedUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apikey.Config) { c.CacheTTL = 30 * time.Second })
	k, key := e.create(t, apikey.CreateParams{})
	e.wantCode(t, key, apikey.CodeValid)
	// Another node revokes the key; no notification reaches this one.
	if _, err := e.db.RevokeAPIKey(context.Background(), k.ID, e.clock.Now(), auth.AuditEvent{Type: auth.EventKeyRevoked, Actor: "key_admin", KeyID: k.ID, Count: 1}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(29 * time.Second)
	e.wantCode(t, key, apikey.CodeValid) // still the cached record
	e.clock.Add(time.Second)
	e.wantCode(t, key, apikey.CodeRevoked)
}

func TestInvalidateDropsAKeyChangedElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, key := e.create(t, apikey.CreateParams{})
	e.wantCode(t, key, apikey.CodeValid)
	if _, err := e.db.RevokeAPIKey(context.Background(), k.ID, e.clock.Now(), auth.AuditEvent{Type: auth.EventKeyRevoked, Actor: "key_admin", KeyID: k.ID, Count: 1}); err != nil {
		t.Fatal(err)
	}
	e.svc.Invalidate(k.ID)
	e.wantCode(t, key, apikey.CodeRevoked)
}

func TestCacheSizeIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apikey.Config) { c.CacheSize = 8 })
	var keys []string
	for range 40 {
		_, key := e.create(t, apikey.CreateParams{})
		keys = append(keys, key)
	}
	for _, key := range keys {
		e.wantCode(t, key, apikey.CodeValid)
	}
	if n := e.svc.CacheLen(); n > 8 {
		t.Fatalf("cache holds %d keys, bound is 8", n)
	}
}

// --- Rotate and Revoke ---------------------------------------------------

func TestRotateWithGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old, oldKey := e.create(t, apikey.CreateParams{
		Name: "prod", Scopes: []string{"read"}, Metadata: map[string]string{"team": "a"},
		RateLimit: auth.RateLimit{Rate: 5, Burst: 10}, RotationPeriod: 24 * time.Hour,
		ExpiresAt: t0.Add(30 * 24 * time.Hour),
	})
	e.wantCode(t, oldKey, apikey.CodeValid) // cached
	e.clock.Add(time.Minute)
	next, newKey, err := e.svc.Rotate(context.Background(), old.ID, time.Hour, "key_admin2")
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if newKey == oldKey || next.ID == old.ID || next.RotatedFrom != old.ID {
		t.Fatalf("new key %+v is not a fresh key rotated from %s", next, old.ID)
	}
	if next.Owner != old.Owner || next.Name != old.Name || !slices.Equal(next.Scopes, old.Scopes) ||
		!maps.Equal(next.Metadata, old.Metadata) || next.RateLimit != old.RateLimit ||
		next.RotationPeriod != old.RotationPeriod || !next.ExpiresAt.Equal(old.ExpiresAt) {
		t.Fatalf("rotation changed the key's settings:\n old %+v\n new %+v", old, next)
	}
	if want := e.clock.Now().Add(24 * time.Hour); !next.RotationDueAt.Equal(want) {
		t.Fatalf("RotationDueAt %v, want %v", next.RotationDueAt, want)
	}
	if got := e.get(t, old.ID); got.RotatedTo != next.ID || !got.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("old key after rotation: RotatedTo %q, ExpiresAt %v", got.RotatedTo, got.ExpiresAt)
	}
	evs := e.events(t, auth.EventKeyRotated)
	if len(evs) != 1 || evs[0].KeyID != old.ID || evs[0].Actor != "key_admin2" {
		t.Fatalf("key.rotated events: %+v", evs)
	}

	// During the grace period both keys work.
	e.wantCode(t, oldKey, apikey.CodeValid, "read")
	e.wantCode(t, newKey, apikey.CodeValid, "read")
	e.clock.Add(time.Hour - time.Microsecond)
	e.wantCode(t, oldKey, apikey.CodeValid)
	// After it, only the new one.
	e.clock.Add(time.Microsecond)
	e.wantCode(t, oldKey, apikey.CodeExpired)
	e.wantCode(t, newKey, apikey.CodeValid)
}

func TestRotateWithoutGraceRefusesTheOldKeyAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old, oldKey := e.create(t, apikey.CreateParams{})
	e.wantCode(t, oldKey, apikey.CodeValid) // cached
	_, newKey, err := e.svc.Rotate(context.Background(), old.ID, 0, "key_admin")
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	e.wantCode(t, oldKey, apikey.CodeExpired)
	e.wantCode(t, newKey, apikey.CodeValid)
}

func TestRotateErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	k, _ := e.create(t, apikey.CreateParams{})
	_, _, err := e.svc.Rotate(ctx, k.ID, -time.Second, "key_admin")
	wantErrCode(t, err, auth.EINVALID)
	_, _, err = e.svc.Rotate(ctx, k.ID, 0, "")
	wantErrCode(t, err, auth.EINVALID)
	_, _, err = e.svc.Rotate(ctx, "key_0000000000000000", 0, "key_admin")
	wantErrCode(t, err, auth.ENOTFOUND)

	if _, _, err := e.svc.Rotate(ctx, k.ID, time.Hour, "key_admin"); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.Rotate(ctx, k.ID, time.Hour, "key_admin")
	wantErrCode(t, err, auth.ECONFLICT) // already rotated

	revoked, _ := e.create(t, apikey.CreateParams{})
	e.svc.Revoke(ctx, revoked.ID, "key_admin")
	_, _, err = e.svc.Rotate(ctx, revoked.ID, 0, "key_admin")
	wantErrCode(t, err, auth.ECONFLICT)

	expired, _ := e.create(t, apikey.CreateParams{ExpiresAt: t0.Add(time.Minute)})
	e.clock.Add(time.Minute)
	_, _, err = e.svc.Rotate(ctx, expired.ID, 0, "key_admin")
	wantErrCode(t, err, auth.ECONFLICT) // rotating must not revive it
}

func TestRevokeIsRefusedOnTheVeryNextVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, key := e.create(t, apikey.CreateParams{})
	for range 3 {
		e.wantCode(t, key, apikey.CodeValid) // cached
	}
	got, err := e.svc.Revoke(context.Background(), k.ID, "key_admin3")
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if !got.RevokedAt.Equal(t0) {
		t.Fatalf("RevokedAt %v, want %v", got.RevokedAt, t0)
	}
	// Same instant on the fake clock: nothing but the invalidation can make
	// this refusal happen.
	e.wantCode(t, key, apikey.CodeRevoked)
	evs := e.events(t, auth.EventKeyRevoked)
	if len(evs) != 1 || evs[0].KeyID != k.ID || evs[0].Actor != "key_admin3" {
		t.Fatalf("key.revoked events: %+v", evs)
	}
	// Revoking again changes nothing.
	if _, err := e.svc.Revoke(context.Background(), k.ID, "key_admin3"); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	if n := len(e.events(t, auth.EventKeyRevoked)); n != 1 {
		t.Fatalf("%d key.revoked events after revoking twice, want 1", n)
	}
}

func TestRevokeErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.svc.Revoke(context.Background(), "key_0000000000000000", "key_admin")
	wantErrCode(t, err, auth.ENOTFOUND)
	k, _ := e.create(t, apikey.CreateParams{})
	_, err = e.svc.Revoke(context.Background(), k.ID, "")
	wantErrCode(t, err, auth.EINVALID)
}

func TestGetAndList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ids []string
	for i := range 5 {
		owner := "a"
		if i%2 == 1 {
			owner = "b"
		}
		k, _ := e.create(t, apikey.CreateParams{Owner: owner})
		ids = append(ids, k.ID)
		e.clock.Add(time.Millisecond)
	}
	k, err := e.svc.Get(context.Background(), ids[2])
	if err != nil || k.ID != ids[2] {
		t.Fatalf("Get = %v, %v", k, err)
	}
	_, err = e.svc.Get(context.Background(), "key_0000000000000000")
	wantErrCode(t, err, auth.ENOTFOUND)

	keys, next, err := e.svc.List(context.Background(), auth.APIKeyFilter{Owner: "a", Limit: 2})
	if err != nil || len(keys) != 2 || keys[0].ID != ids[0] || keys[1].ID != ids[2] || next == "" {
		t.Fatalf("List page 1 = %d keys, next %q, %v", len(keys), next, err)
	}
	keys, next, err = e.svc.List(context.Background(), auth.APIKeyFilter{Owner: "a", Limit: 2, After: next})
	if err != nil || len(keys) != 1 || keys[0].ID != ids[4] || next != "" {
		t.Fatalf("List page 2 = %d keys, next %q, %v", len(keys), next, err)
	}
}

// --- background work ----------------------------------------------------

func TestLastUsedIsWrittenInBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, key := e.create(t, apikey.CreateParams{})
	e.store.Reset()
	for range 10 {
		e.wantCode(t, key, apikey.CodeValid)
	}
	if n := e.store.Calls("TouchAPIKeys"); n != 0 {
		t.Fatalf("Verify wrote last-used times itself (%d calls)", n)
	}
	if got := e.get(t, k.ID).LastUsedAt; !got.IsZero() {
		t.Fatalf("LastUsedAt %v before any flush", got)
	}
	e.flush(t)
	if got := e.get(t, k.ID).LastUsedAt; !got.Equal(t0) {
		t.Fatalf("LastUsedAt %v after flush, want %v", got, t0)
	}

	// Within a second nothing new is recorded; after it, the new time is.
	e.clock.Add(500 * time.Millisecond)
	e.wantCode(t, key, apikey.CodeValid)
	e.store.Reset()
	e.flush(t)
	if n := e.store.Calls("TouchAPIKeys"); n != 0 {
		t.Fatalf("a use within a second of the last one was written (%d calls)", n)
	}
	e.clock.Add(time.Second)
	e.wantCode(t, key, apikey.CodeValid)
	e.flush(t)
	if got, want := e.get(t, k.ID).LastUsedAt, t0.Add(1500*time.Millisecond); !got.Equal(want) {
		t.Fatalf("LastUsedAt %v, want %v", got, want)
	}
}

func TestRefusedUsesDoNotCountAsLastUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, key := e.create(t, apikey.CreateParams{Scopes: []string{"read"}})
	e.wantCode(t, key, apikey.CodeInsufficientScope, "write")
	e.flush(t)
	if got := e.get(t, k.ID).LastUsedAt; !got.IsZero() {
		t.Fatalf("a refused request set LastUsedAt to %v", got)
	}
}

func TestFailuresAreAggregatedIntoAuditEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, key := e.create(t, apikey.CreateParams{Scopes: []string{"read"}})
	for range 3 {
		e.wantCode(t, "garbage", apikey.CodeInvalid)
	}
	for range 2 {
		e.wantCode(t, generate(t, testPrefix), apikey.CodeInvalid)
	}
	for range 4 {
		e.wantCode(t, key, apikey.CodeInsufficientScope, "admin")
	}
	e.svc.Revoke(context.Background(), k.ID, "key_admin")
	e.wantCode(t, key, apikey.CodeRevoked)
	if n := len(e.events(t, auth.EventKeyVerificationFailed)); n != 0 {
		t.Fatalf("%d failure events before any flush", n)
	}
	e.flush(t)
	type agg struct {
		keyID, reason string
		count         int64
	}
	var got []agg
	for _, ev := range e.events(t, auth.EventKeyVerificationFailed) {
		if ev.Actor != auth.ActorSystem || !ev.Time.Equal(t0) {
			t.Fatalf("failure event %+v: want Actor system and the flush time", ev)
		}
		got = append(got, agg{ev.KeyID, ev.Reason, ev.Count})
	}
	want := []agg{{"", "INVALID", 5}, {k.ID, "INSUFFICIENT_SCOPE", 4}, {k.ID, "REVOKED", 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("failure events %+v, want %+v", got, want)
	}
	e.flush(t)
	if n := len(e.events(t, auth.EventKeyVerificationFailed)); n != 3 {
		t.Fatalf("%d failure events after a second flush, want still 3", n)
	}
}

func TestExpiryIsReportedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, _ := e.create(t, apikey.CreateParams{ExpiresAt: t0.Add(time.Hour)})
	e.flush(t)
	if n := len(e.events(t, auth.EventKeyExpired)); n != 0 {
		t.Fatalf("%d key.expired events before the expiry", n)
	}
	e.clock.Add(2 * time.Hour)
	e.flush(t)
	e.flush(t)
	evs := e.events(t, auth.EventKeyExpired)
	if len(evs) != 1 || evs[0].KeyID != k.ID {
		t.Fatalf("key.expired events %+v, want one for %s", evs, k.ID)
	}
}

func TestFlushKeepsWhatItCouldNotWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, key := e.create(t, apikey.CreateParams{})
	e.wantCode(t, key, apikey.CodeValid)
	e.wantCode(t, "garbage", apikey.CodeInvalid)
	e.store.Fail("TouchAPIKeys", errors.New("database is locked"))
	e.store.Fail("AppendAuditEvents", errors.New("database is locked"))
	if err := e.svc.Flush(context.Background()); err == nil {
		t.Fatal("Flush hid the store's errors")
	}
	e.store.Fail("TouchAPIKeys", nil)
	e.store.Fail("AppendAuditEvents", nil)
	e.flush(t)
	if got := e.get(t, k.ID).LastUsedAt; !got.Equal(t0) {
		t.Fatalf("LastUsedAt %v after a failed and a good flush, want %v", got, t0)
	}
	if evs := e.events(t, auth.EventKeyVerificationFailed); len(evs) != 1 || evs[0].Count != 1 {
		t.Fatalf("failure events %+v after a failed and a good flush, want one of count 1", evs)
	}
}

func TestFlushWritesManyKeysInBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.svc.SetFlushBatch(10)
	const n = 25
	var ids []string
	for range n {
		k, key := e.create(t, apikey.CreateParams{})
		e.wantCode(t, key, apikey.CodeValid)
		ids = append(ids, k.ID)
	}
	e.store.Reset()
	e.flush(t)
	if calls := e.store.Calls("TouchAPIKeys"); calls != 3 {
		t.Fatalf("%d keys written in %d calls, want 3 batches", n, calls)
	}
	for _, id := range ids {
		if e.get(t, id).LastUsedAt.IsZero() {
			t.Fatalf("key %s has no LastUsedAt after the flush", id)
		}
	}
}

func TestRunFlushesPeriodicallyAndOnStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apikey.Config) { c.FlushInterval = time.Hour })
	k, key := e.create(t, apikey.CreateParams{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	e.wantCode(t, key, apikey.CodeValid)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	if got := e.get(t, k.ID).LastUsedAt; !got.Equal(t0) {
		t.Fatalf("LastUsedAt %v after Run stopped, want %v (the final flush)", got, t0)
	}
}

// watchingStore is a store whose change feed the test drives: each report
// runs on the watcher's goroutine, as a real watcher's would.
type watchingStore struct {
	*countingStore
	reports chan func(auth.ChangeHandler)
	handled chan struct{}
}

func (w *watchingStore) WatchChanges(ctx context.Context, h auth.ChangeHandler) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case report := <-w.reports:
			report(h)
			w.handled <- struct{}{}
		}
	}
}

// report has the watcher make a report, and returns once the service has
// taken it.
func (w *watchingStore) report(f func(auth.ChangeHandler)) {
	w.reports <- f
	<-w.handled
}

func (w *watchingStore) changed(id string) {
	w.report(func(h auth.ChangeHandler) { h.Changed(auth.Change{Kind: auth.ChangeAPIKey, ID: id}) })
}
func (w *watchingStore) synced(at time.Time) {
	w.report(func(h auth.ChangeHandler) { h.FeedSynced(at) })
}
func (w *watchingStore) lost() {
	w.report(func(h auth.ChangeHandler) { h.FeedLost(errors.New("connection reset")) })
}

// newWatchedEnv is newEnv on a store with a change feed, and Run and the
// feed running until the test ends.
func newWatchedEnv(t *testing.T, configure ...func(*apikey.Config)) (*env, *watchingStore) {
	t.Helper()
	return newWatchedEnvWithGrace(t, 0, configure...)
}

// newWatchedEnvWithGrace is newWatchedEnv with a feed that has a store
// outage grace.
func newWatchedEnvWithGrace(t *testing.T, grace time.Duration, configure ...func(*apikey.Config)) (*env, *watchingStore) {
	t.Helper()
	var ws *watchingStore
	var feed *changes.Feed
	e := newEnv(t, append(configure, func(c *apikey.Config) {
		ws = &watchingStore{countingStore: c.Store.(*countingStore), reports: make(chan func(auth.ChangeHandler)), handled: make(chan struct{})}
		c.Store = ws
		feed = changes.New(ws, nil)
		feed.SetOutageGrace(grace)
		c.Changes = feed
	})...)
	e.mono = testenv.NewClock(t0)
	e.svc.SetMonotonic(e.mono.Now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- e.svc.Run(ctx) }()
	go func() { done <- feed.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Run returned %v", err)
			}
		}
	})
	return e, ws
}

func TestRunDropsKeysChangedByOtherNodes(t *testing.T) {
	t.Parallel()
	e, ws := newWatchedEnv(t)
	k, key := e.create(t, apikey.CreateParams{})
	ws.synced(e.mono.Now())

	e.wantCode(t, key, apikey.CodeValid) // cached
	if _, err := e.db.RevokeAPIKey(context.Background(), k.ID, e.clock.Now(), auth.AuditEvent{Type: auth.EventKeyRevoked, Actor: "key_admin", KeyID: k.ID, Count: 1}); err != nil {
		t.Fatal(err)
	}
	e.wantCode(t, key, apikey.CodeValid) // no notification yet
	ws.changed(k.ID)
	e.wantCode(t, key, apikey.CodeRevoked)
}

// --- metrics and secrecy ---------------------------------------------------

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *apikey.Config) { c.Registerer = reg })
	_, key := e.create(t, apikey.CreateParams{})
	e.wantCode(t, key, apikey.CodeValid)
	e.wantCode(t, key, apikey.CodeValid)
	e.wantCode(t, "garbage", apikey.CodeInvalid)
	e.wantCode(t, key, apikey.CodeInsufficientScope, "admin")
	unknown := generate(t, testPrefix)
	e.wantCode(t, unknown, apikey.CodeInvalid) // a miss
	e.wantCode(t, unknown, apikey.CodeInvalid) // a hit, in the negative cache

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
				if strings.Contains(l.GetValue(), key[len(testPrefix):len(testPrefix)+8]) {
					t.Fatalf("metric label %q holds key material", l.GetValue())
				}
			}
			got[name] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"gatehouse_apikey_verifications_total{code=VALID}":              2,
		"gatehouse_apikey_verifications_total{code=INVALID}":            3,
		"gatehouse_apikey_verifications_total{code=INSUFFICIENT_SCOPE}": 1,
		"gatehouse_apikey_verifications_total{code=EXPIRED}":            0,
		"gatehouse_apikey_verifications_total{code=REVOKED}":            0,
		"gatehouse_apikey_verifications_total{code=RATE_LIMITED}":       0,
		"gatehouse_apikey_verifications_total{code=USAGE_EXCEEDED}":     0,
		"gatehouse_apikey_verifications_total{code=IP_NOT_ALLOWED}":     0,
		"gatehouse_apikey_cache_hits_total":                             3,
		"gatehouse_apikey_cache_misses_total":                           2,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("metrics\n got %v\nwant %v", got, want)
	}
	if _, err := apikey.NewService(e.cfg); err == nil {
		t.Fatal("a second service registered the same metrics without an error")
	}
}

func TestNoPlaintextKeyInLogsOrErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	k, key := e.create(t, apikey.CreateParams{})
	_, newKey, err := e.svc.Rotate(ctx, k.ID, time.Minute, "key_admin")
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	e.store.Fail("GetAPIKeyByHash", errors.New("boom"))
	_, err = e.svc.Verify(ctx, generate(t, testPrefix), nil)
	errs = append(errs, err)
	e.store.Fail("GetAPIKeyByHash", nil)
	e.store.Fail("TouchAPIKeys", errors.New("boom"))
	e.store.Fail("AppendAuditEvents", errors.New("boom"))
	e.store.Fail("MarkExpiredAPIKeys", errors.New("boom"))
	e.wantCode(t, key, apikey.CodeValid)
	e.wantCode(t, key[:len(key)-1]+flip(key[len(key)-1]), apikey.CodeInvalid)
	errs = append(errs, e.svc.Flush(ctx))

	runCtx, cancel := context.WithCancel(ctx)
	cancel()
	e.svc.Run(runCtx) // logs the failing final flush

	logs := e.logs.String()
	if !strings.Contains(logs, "flush failed") {
		t.Fatalf("the failing flush was not logged: %q", logs)
	}
	for _, secret := range []string{key, newKey} {
		body := secret[len(testPrefix) : len(testPrefix)+bodyPart]
		if strings.Contains(logs, body) {
			t.Fatal("a log line contains key material")
		}
		for _, err := range errs {
			if err == nil || strings.Contains(err.Error(), body) {
				t.Fatalf("error %v: want an error without key material", err)
			}
		}
	}
}

// bodyPart is how many characters of a key's body the secrecy tests look for.
const bodyPart = 8

// --- concurrency ------------------------------------------------------------

func TestConcurrentVerifyRotateRevokeFlush(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apikey.Config) { c.CacheSize = 16 })
	ctx := context.Background()
	type key struct {
		rec       *auth.APIKey
		plaintext string
	}
	var keys []key
	for range 20 {
		k, p := e.create(t, apikey.CreateParams{Scopes: []string{"read"}, RateLimit: auth.RateLimit{Rate: 1000, Burst: 1000}})
		keys = append(keys, key{k, p})
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				k := keys[(i+g)%len(keys)]
				if _, err := e.svc.Verify(ctx, k.plaintext, []string{"read"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i, k := range keys {
			if i%2 == 0 {
				e.svc.Revoke(ctx, k.rec.ID, "key_admin")
			} else {
				e.svc.Rotate(ctx, k.rec.ID, 0, "key_admin")
			}
		}
	})
	wg.Go(func() {
		for range 5 {
			if err := e.svc.Flush(ctx); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	// Once everything settled, no old key is accepted.
	for _, k := range keys {
		if r := e.verify(t, k.plaintext, "read"); r.Valid() {
			t.Fatalf("key %s still valid after it was revoked or rotated without grace", k.rec.ID)
		}
	}
}
