package apikey_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// hookStore wraps the counting store so that a test decides when (and
// whether) each lookup by hash runs, and sees every key created.
type hookStore struct {
	*countingStore
	lookups atomic.Int32
	// onLookup, when set, gets every GetAPIKeyByHash with its rank (1 for
	// the first) and the real lookup, and answers in its place.
	onLookup func(ctx context.Context, n int, lookup func() (*auth.APIKey, error)) (*auth.APIKey, error)
	// onCreate, when set, is called with every new key before it is stored
	// (by Create or Rotate).
	onCreate func(k *auth.APIKey)
}

func (s *hookStore) GetAPIKeyByHash(ctx context.Context, hash []byte) (*auth.APIKey, error) {
	n := int(s.lookups.Add(1))
	lookup := func() (*auth.APIKey, error) { return s.countingStore.GetAPIKeyByHash(ctx, hash) }
	if s.onLookup == nil {
		return lookup()
	}
	return s.onLookup(ctx, n, lookup)
}

func (s *hookStore) CreateAPIKey(ctx context.Context, k *auth.APIKey, events ...auth.AuditEvent) error {
	if s.onCreate != nil {
		s.onCreate(k)
	}
	return s.countingStore.CreateAPIKey(ctx, k, events...)
}

func (s *hookStore) RotateAPIKey(ctx context.Context, oldID string, next *auth.APIKey, oldExpiresAt time.Time, events ...auth.AuditEvent) (*auth.APIKey, error) {
	if s.onCreate != nil {
		s.onCreate(next)
	}
	return s.countingStore.RotateAPIKey(ctx, oldID, next, oldExpiresAt, events...)
}

// newHookedEnv is newEnv with a hookStore in front of the counting store.
// Set its hooks before the verifications they are for.
func newHookedEnv(t testing.TB, configure ...func(*apikey.Config)) (*env, *hookStore) {
	t.Helper()
	var hs *hookStore
	e := newEnv(t, append(configure, func(c *apikey.Config) {
		hs = &hookStore{countingStore: c.Store.(*countingStore)}
		c.Store = hs
	})...)
	return e, hs
}

// --- negative cache ------------------------------------------------------

func TestUnknownKeyIsLookedUpOncePerNegativeCacheTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apikey.Config) { c.NegativeCacheTTL = 10 * time.Second })
	unknown, other := generate(t, testPrefix), generate(t, testPrefix)
	for range 5 {
		e.wantCode(t, unknown, apikey.CodeInvalid)
	}
	if n := e.store.Calls("GetAPIKeyByHash"); n != 1 {
		t.Fatalf("5 verifications of one unknown key made %d store lookups, want 1", n)
	}
	e.wantCode(t, other, apikey.CodeInvalid) // remembering one key says nothing of another
	if n := e.store.Calls("GetAPIKeyByHash"); n != 2 {
		t.Fatalf("a second unknown key made %d store lookups in all, want 2", n)
	}
	e.clock.Add(10*time.Second - time.Microsecond)
	e.wantCode(t, unknown, apikey.CodeInvalid)
	if n := e.store.Calls("GetAPIKeyByHash"); n != 2 {
		t.Fatalf("within the TTL an unknown key was looked up again (%d lookups)", n)
	}
	e.clock.Add(time.Microsecond)
	e.wantCode(t, unknown, apikey.CodeInvalid)
	e.wantCode(t, unknown, apikey.CodeInvalid)
	if n := e.store.Calls("GetAPIKeyByHash"); n != 3 {
		t.Fatalf("after the TTL: %d lookups, want 3 (one more, then remembered again)", n)
	}
}

func TestNegativeCacheDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apikey.Config) { c.NegativeCacheTTL = -1 })
	unknown := generate(t, testPrefix)
	for range 3 {
		e.wantCode(t, unknown, apikey.CodeInvalid)
	}
	if n := e.store.Calls("GetAPIKeyByHash"); n != 3 {
		t.Fatalf("without a negative cache, 3 verifications read the store %d times", n)
	}
	if e.svc.NegativeCacheLen() != 0 {
		t.Fatal("a disabled negative cache holds entries")
	}
}

func TestNegativeCacheIsIndependentOfTheCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apikey.Config) { c.CacheTTL = -1 })
	unknown := generate(t, testPrefix)
	e.wantCode(t, unknown, apikey.CodeInvalid)
	e.wantCode(t, unknown, apikey.CodeInvalid)
	if n := e.store.Calls("GetAPIKeyByHash"); n != 1 {
		t.Fatalf("with the cache off, 2 verifications of an unknown key made %d lookups, want 1", n)
	}
}

func TestNegativeCacheSizeIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apikey.Config) { c.NegativeCacheSize = 8 })
	for range 40 { // a flood of unique random keys
		e.wantCode(t, generate(t, testPrefix), apikey.CodeInvalid)
	}
	if n := e.svc.NegativeCacheLen(); n > 8 || n == 0 {
		t.Fatalf("negative cache holds %d keys after 40 unknown ones, want 1 to 8", n)
	}
	if n := e.store.Calls("GetAPIKeyByHash"); n != 40 {
		t.Fatalf("40 unique unknown keys made %d store lookups, want 40", n)
	}
}

func TestNegativeCacheEntriesAreSwept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apikey.Config) { c.NegativeCacheTTL = 10 * time.Second })
	e.wantCode(t, generate(t, testPrefix), apikey.CodeInvalid)
	e.flush(t)
	if n := e.svc.NegativeCacheLen(); n != 1 {
		t.Fatalf("a live entry was swept (%d left)", n)
	}
	e.clock.Add(10 * time.Second)
	e.flush(t)
	if n := e.svc.NegativeCacheLen(); n != 0 {
		t.Fatalf("%d expired entries left after a flush", n)
	}
}

func TestANewKeyIsNeverRememberedAsUnknown(t *testing.T) {
	t.Parallel()
	// Nobody can present a key before Create or Rotate returns it; these
	// simulate it anyway (by hash), to check the guarantee holds by
	// construction: a key made on this node verifies at once.
	tests := []struct {
		name   string
		rotate bool
		// late: the lookup read the store before the commit but records
		// its answer only after Create returned (else: before the commit).
		late bool
	}{
		{"create, unknown recorded before the commit", false, false},
		{"create, unknown recorded by a lookup that read before the commit", false, true},
		{"rotate, unknown recorded before the commit", true, false},
		{"rotate, unknown recorded by a lookup that read before the commit", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, hs := newHookedEnv(t)
			old, _ := e.create(t, apikey.CreateParams{})
			var found func()
			hs.onCreate = func(k *auth.APIKey) {
				found = e.svc.StartUnknownLookup(k.Hash)
				if !tt.late {
					found()
				}
			}
			var key string
			if tt.rotate {
				var err error
				if _, key, err = e.svc.Rotate(context.Background(), old.ID, 0, "key_admin"); err != nil {
					t.Fatalf("Rotate: %v", err)
				}
			} else {
				_, key = e.create(t, apikey.CreateParams{})
			}
			if tt.late {
				found()
			}
			e.wantCode(t, key, apikey.CodeValid)
		})
	}
}

// --- shared store reads ------------------------------------------------------

type verified struct {
	r   apikey.Result
	err error
}

// goVerify verifies key (needing no scope) in a new goroutine.
func goVerify(ctx context.Context, e *env, key string) <-chan verified {
	c := make(chan verified, 1)
	go func() {
		r, err := e.svc.Verify(ctx, key, nil)
		c <- verified{r, err}
	}()
	return c
}

// waitJoined waits until the verification v joins a lookup in progress.
func waitJoined(t *testing.T, joined <-chan struct{}, v <-chan verified) {
	t.Helper()
	select {
	case <-joined:
	case got := <-v:
		t.Fatalf("a verification that came during another one's lookup did its own (%s, %v)", got.r.Code, got.err)
	}
}

// gateFirstLookup holds every lookup until the n-1 callers other than the
// first have each either joined the first one's lookup (the service's hook)
// or reached the store themselves, so that all n are in flight together,
// without any sleep, and none can find the key cached by another. With the
// lookups shared, the others all join; without, they all reach the store.
func gateFirstLookup(e *env, hs *hookStore, n int) {
	arrived, open := make(chan struct{}, n), make(chan struct{})
	e.svc.OnLookupJoined(func() { arrived <- struct{}{} })
	hs.onLookup = func(ctx context.Context, rank int, lookup func() (*auth.APIKey, error)) (*auth.APIKey, error) {
		if rank == 1 {
			for range n - 1 {
				<-arrived
			}
			close(open)
		} else {
			arrived <- struct{}{}
			<-open
		}
		return lookup()
	}
}

// subjectKey is the key a table case verifies: a stored valid one, or a
// well-formed one the store does not know; and the code it should get.
func subjectKey(t *testing.T, e *env, known bool) (string, apikey.Code) {
	t.Helper()
	if known {
		_, key := e.create(t, apikey.CreateParams{})
		return key, apikey.CodeValid
	}
	return generate(t, testPrefix), apikey.CodeInvalid
}

func TestConcurrentVerifiesOfOneKeyShareOneStoreLookup(t *testing.T) {
	t.Parallel()
	const n = 8
	for _, known := range []bool{true, false} {
		name := "unknown key"
		if known {
			name = "valid key"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e, hs := newHookedEnv(t)
			key, want := subjectKey(t, e, known)
			gateFirstLookup(e, hs, n)
			e.store.Reset()
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					r, err := e.svc.Verify(context.Background(), key, nil)
					if err != nil || r.Code != want {
						t.Errorf("Verify = %s, %v; want %s", r.Code, err, want)
					}
				})
			}
			wg.Wait()
			if c := e.store.Calls("GetAPIKeyByHash"); c != 1 {
				t.Fatalf("%d concurrent verifications of one key made %d store lookups, want 1", n, c)
			}
		})
	}
}

func TestStoreErrorReachesEveryWaiterAndIsNotCached(t *testing.T) {
	t.Parallel()
	const n = 8
	for _, known := range []bool{true, false} {
		name := "unknown key"
		if known {
			name = "valid key"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e, hs := newHookedEnv(t)
			key, want := subjectKey(t, e, known)
			gateFirstLookup(e, hs, n)
			e.store.Reset()
			errLocked := errors.New("database is locked")
			e.store.Fail("GetAPIKeyByHash", errLocked)
			var failed atomic.Int32
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					r, err := e.svc.Verify(context.Background(), key, nil)
					if !errors.Is(err, errLocked) || r.Code != "" {
						t.Errorf("Verify = %s, %v; want the store's error", r.Code, err)
						return
					}
					failed.Add(1)
				})
			}
			wg.Wait()
			if c := e.store.Calls("GetAPIKeyByHash"); c != 1 || failed.Load() != n {
				t.Fatalf("%d store lookups failed %d verifications; want 1 and %d", c, failed.Load(), n)
			}
			e.store.Fail("GetAPIKeyByHash", nil)
			e.wantCode(t, key, want)
			if c := e.store.Calls("GetAPIKeyByHash"); c != 2 {
				t.Fatalf("after the failure the key was not looked up again (%d lookups in all)", c)
			}
		})
	}
}

func TestALeaderGivingUpDoesNotFailItsWaiters(t *testing.T) {
	t.Parallel()
	e, hs := newHookedEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	leaderIn, joined := make(chan struct{}), make(chan struct{})
	e.svc.OnLookupJoined(func() { close(joined) })
	hs.onLookup = func(ctx context.Context, rank int, lookup func() (*auth.APIKey, error)) (*auth.APIKey, error) {
		if rank == 1 {
			close(leaderIn)
			<-ctx.Done() // a slow store, abandoned by its caller
			return nil, ctx.Err()
		}
		return lookup()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leader := goVerify(ctx, e, key)
	<-leaderIn
	waiter := goVerify(context.Background(), e, key)
	waitJoined(t, joined, waiter)
	cancel()
	if v := <-leader; !errors.Is(v.err, context.Canceled) {
		t.Fatalf("the cancelled leader got %v, want context.Canceled", v.err)
	}
	if v := <-waiter; v.err != nil || v.r.Code != apikey.CodeValid {
		t.Fatalf("the waiter got %s, %v after its leader gave up, want %s", v.r.Code, v.err, apikey.CodeValid)
	}
}

func TestAWaiterGivingUpDoesNotWaitForTheStore(t *testing.T) {
	t.Parallel()
	e, hs := newHookedEnv(t)
	_, key := e.create(t, apikey.CreateParams{})
	leaderIn, release, joined := make(chan struct{}), make(chan struct{}), make(chan struct{})
	e.svc.OnLookupJoined(func() { close(joined) })
	hs.onLookup = func(ctx context.Context, rank int, lookup func() (*auth.APIKey, error)) (*auth.APIKey, error) {
		if rank == 1 {
			close(leaderIn)
			<-release
		}
		return lookup()
	}
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	leader := goVerify(context.Background(), e, key)
	<-leaderIn
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiter := goVerify(ctx, e, key)
	waitJoined(t, joined, waiter)
	cancel()
	select {
	case v := <-waiter:
		if !errors.Is(v.err, context.Canceled) {
			t.Fatalf("the cancelled waiter got %s, %v; want context.Canceled", v.r.Code, v.err)
		}
	case <-time.After(time.Minute): // a watchdog, not a wait: passing never gets here
		t.Fatal("the cancelled waiter is still waiting for the store")
	}
	releaseOnce()
	if v := <-leader; v.err != nil || v.r.Code != apikey.CodeValid {
		t.Fatalf("the leader got %s, %v; want %s", v.r.Code, v.err, apikey.CodeValid)
	}
}

func TestAVerifyAfterRevokeDoesNotShareAnEarlierRead(t *testing.T) {
	t.Parallel()
	// A verification reads the key, then Revoke commits and returns, then
	// a second verification starts while the first is still in flight: the
	// second must not get the first one's (stale) record, and the stale
	// record must not be cached.
	e, hs := newHookedEnv(t)
	k, key := e.create(t, apikey.CreateParams{})
	read, release := make(chan struct{}), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	e.svc.OnLookupJoined(releaseOnce) // a wrong join gets the stale answer, not a deadlock
	hs.onLookup = func(ctx context.Context, rank int, lookup func() (*auth.APIKey, error)) (*auth.APIKey, error) {
		if rank != 1 {
			return lookup()
		}
		rec, err := lookup()
		close(read)
		<-release
		return rec, err
	}
	first := goVerify(context.Background(), e, key)
	<-read
	if _, err := e.svc.Revoke(context.Background(), k.ID, "key_admin"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	e.wantCode(t, key, apikey.CodeRevoked)
	releaseOnce()
	if v := <-first; v.err != nil || v.r.Code != apikey.CodeValid {
		t.Fatalf("the verification that read before the revocation got %s, %v; want its read (%s)", v.r.Code, v.err, apikey.CodeValid)
	}
	e.wantCode(t, key, apikey.CodeRevoked) // the stale read was not cached
}
