package revocation

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var base = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func revoke(t *testing.T, s auth.TokenStore, jti string, revokedAt, exp time.Time) {
	t.Helper()
	if err := s.RevokeToken(t.Context(), auth.RevokedToken{JTI: jti, RevokedAt: revokedAt, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
}

func TestListLoadsSyncsAndPrunes(t *testing.T) {
	db := openStore(t)
	clock := testenv.NewClock(base)
	revoke(t, db, "old", base.Add(-time.Hour), base.Add(time.Hour))
	revoke(t, db, "dead", base.Add(-2*time.Hour), base.Add(-time.Minute)) // expired: never loaded

	l, err := New(t.Context(), Options{Store: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Revoked("old") || l.Revoked("dead") || l.Revoked("") || l.Len() != 1 {
		t.Fatalf("after load: old=%v dead=%v len=%d", l.Revoked("old"), l.Revoked("dead"), l.Len())
	}

	// Another node revokes with a clock 10s behind ours: the overlap still
	// catches the entry although its revoked_at predates our last sync.
	clock.Add(5 * time.Second)
	revoke(t, db, "skewed", base.Add(-5*time.Second), base.Add(30*time.Minute))
	revoke(t, db, "new", clock.Now(), base.Add(10*time.Minute))
	if l.Revoked("skewed") || l.Revoked("new") {
		t.Fatal("seen before a sync")
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, jti := range []string{"old", "skewed", "new"} {
		if !l.Revoked(jti) {
			t.Errorf("%s not revoked after sync", jti)
		}
	}

	// Entries leave the list when their tokens expire.
	clock.Add(15 * time.Minute)
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if l.Revoked("new") || !l.Revoked("skewed") || !l.Revoked("old") || l.Len() != 2 {
		t.Fatalf("after expiry: new=%v skewed=%v old=%v len=%d", l.Revoked("new"), l.Revoked("skewed"), l.Revoked("old"), l.Len())
	}
}

func TestSyncingStoreAppliesAtOnce(t *testing.T) {
	db := openStore(t)
	clock := testenv.NewClock(base)
	l, err := New(t.Context(), Options{Store: db, Now: clock.Now, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s := SyncingStore{OAuthStore: db, List: l}
	revoke(t, s, "jti-1", clock.Now(), base.Add(time.Hour))
	if !l.Revoked("jti-1") {
		t.Fatal("a revocation through this node's store is not seen by its next request")
	}
	// A family revocation puts the family's access tokens on the list.
	now := clock.Now()
	c := &auth.Client{ID: "cli_1", Name: "c", AuthMethod: auth.AuthMethodSecretBasic, GrantTypes: []string{auth.GrantRefreshToken}, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	rt := &auth.RefreshToken{Hash: []byte("01234567890123456789012345678901"), FamilyID: "fam_1", ClientID: "cli_1",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(time.Hour)}
	if err := db.CreateRefreshToken(t.Context(), rt, &auth.IssuedToken{JTI: "jti-fam", FamilyID: "fam_1", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeFamily(t.Context(), "fam_1", now); err != nil {
		t.Fatal(err)
	}
	if !l.Revoked("jti-fam") {
		t.Fatal("a family revocation is not seen at once")
	}
}

func TestNewFailsClosedWithoutTheList(t *testing.T) {
	db := openStore(t)
	db.Close()
	if _, err := New(t.Context(), Options{Store: db}); err == nil {
		t.Fatal("New succeeded without reading the list")
	}
}

func TestRunPollsOtherNodesRevocations(t *testing.T) {
	db := openStore(t)
	l, err := New(t.Context(), Options{Store: db, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	revoke(t, db, "remote", time.Now(), time.Now().Add(time.Hour))
	deadline := time.Now().Add(10 * time.Second)
	for !l.Revoked("remote") {
		if time.Now().After(deadline) {
			t.Fatal("the poll never saw the revocation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil once cancelled", err)
	}
}

func BenchmarkRevoked(b *testing.B) {
	l := &List{}
	m := map[string]time.Time{}
	for i := range 10000 {
		m[time.Duration(i).String()] = base
	}
	l.jtis.Store(&m)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if l.Revoked("at_0123456789abcdef") {
				b.Fatal("revoked")
			}
		}
	})
}

// An entry without an expiry (the store's NULL expires_at, which
// ListRevokedTokens treats as never expiring) stays on the list: it must
// not be pruned as expired, and so forgotten once the overlap has passed.
func TestEntryWithoutExpiryIsKept(t *testing.T) {
	db := openStore(t)
	clock := testenv.NewClock(base)
	l, err := New(t.Context(), Options{Store: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	revoke(t, db, "forever", base, time.Time{})
	for range 3 {
		clock.Add(time.Minute) // past the overlap each time
		if err := l.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		if !l.Revoked("forever") {
			t.Fatalf("at %v: an entry without expiry left the list", clock.Now())
		}
	}
}

// With PostgreSQL, a revocation through another node reaches this node's
// list at once through NOTIFY, not at the next poll (here an hour away).
func TestNotificationsFromOtherNodes(t *testing.T) {
	dsn, _ := testenv.PostgresSchema(t)
	open := func() *postgres.DB {
		db, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	other, here := open(), open()
	feed, kick := changes.New(here, nil), changes.NewKick()
	feed.Subscribe(kick, auth.ChangeRevocation)
	l, err := New(t.Context(), Options{Store: here, Interval: time.Hour, Changed: kick.C})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 2)
	go func() { done <- l.Run(ctx) }()
	go func() { done <- feed.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	// Revoke again until seen: the first may come before the watcher listens
	// (it would be found by the sync the watcher does when it connects).
	for i := 0; !l.Revoked("jti-remote"); i++ {
		if time.Now().After(deadline) {
			t.Fatal("the notification never reached the list")
		}
		if i%20 == 0 {
			now := time.Now()
			revoke(t, other, "jti-remote", now, now.Add(time.Hour))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Run = %v, want nil once cancelled", err)
		}
	}
}

// A node whose store cannot be read cannot hear of revocations made through
// other nodes: with MaxAge, once its list is older than that, Fresh says
// so (the gateway then refuses tokens with 503), until a sync succeeds
// again. Revoked still answers from the list.
func TestAListOlderThanMaxAgeIsNotFresh(t *testing.T) {
	db := openStore(t)
	revoke(t, db, "old", base, base.Add(time.Hour))
	l, err := New(t.Context(), Options{Store: db, Now: testenv.NewClock(base).Now, MaxAge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var elapsed time.Duration
	l.since = func(time.Time) time.Duration { return elapsed }
	elapsed = time.Second
	if !l.Fresh() || l.Revoked("live") || !l.Revoked("old") {
		t.Fatalf("a list MaxAge old: fresh=%v live=%v old=%v, want true false true", l.Fresh(), l.Revoked("live"), l.Revoked("old"))
	}
	db.Close() // the store becomes unreachable
	if err := l.Sync(t.Context()); err == nil {
		t.Fatal("Sync succeeded on a closed store")
	}
	elapsed = time.Second + time.Nanosecond
	if l.Fresh() {
		t.Fatal("a list older than MaxAge is fresh")
	}
	if l.Revoked("live") || !l.Revoked("old") {
		t.Fatal("Revoked no longer answers from the list")
	}
}

func TestAListWithoutMaxAgeIsAlwaysFresh(t *testing.T) {
	l, err := New(t.Context(), Options{Store: openStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	l.since = func(time.Time) time.Duration { return 100 * time.Hour }
	if !l.Fresh() {
		t.Fatal("not fresh without a MaxAge")
	}
}

// During a store outage grace (the node cannot reach its database) the list
// stays fresh as of its last sync; once the grace is over, it is stale as
// before.
func TestAListStaysFreshPastMaxAgeOnlyDuringAStoreOutageGrace(t *testing.T) {
	t.Parallel()
	db := openStore(t)
	inGrace := true
	l, err := New(t.Context(), Options{Store: db, MaxAge: time.Second, Outage: func() bool { return inGrace }})
	if err != nil {
		t.Fatal(err)
	}
	l.since = func(time.Time) time.Duration { return 30 * time.Second }
	if !l.Fresh() {
		t.Fatal("a list past MaxAge is stale during the store outage grace")
	}
	inGrace = false
	if l.Fresh() {
		t.Fatal("a list past MaxAge is fresh without a store outage grace")
	}
}
