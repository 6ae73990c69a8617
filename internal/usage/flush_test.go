package usage_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// memStore keeps the counts in memory and fails while fail is set.
type memStore struct {
	mu      sync.Mutex
	fail    bool
	total   map[string]int64 // by outcome
	deleted map[auth.Granularity]time.Time
	calls   int
}

func (s *memStore) AddUsage(_ context.Context, counts []auth.UsageCount) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail {
		return errors.New("database unreachable")
	}
	if s.total == nil {
		s.total = map[string]int64{}
	}
	for _, c := range counts {
		s.total[c.Outcome] += c.Count
	}
	return nil
}

func (s *memStore) DeleteUsageBefore(_ context.Context, g auth.Granularity, t time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted == nil {
		s.deleted = map[auth.Granularity]time.Time{}
	}
	s.deleted[g] = t
	return 0, nil
}

func (s *memStore) get(outcome string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total[outcome]
}

var t0 = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

func TestAFailedFlushKeepsTheCountsForTheNext(t *testing.T) {
	c := usage.NewCounter()
	st := &memStore{fail: true}
	f := &usage.Flusher{Counter: c, Store: st}
	c.Add(usage.Event{KeyID: "key_1", Outcome: "VALID"}, t0, 5)
	if err := f.Flush(t.Context()); err == nil {
		t.Fatal("Flush reported no error while the store failed")
	}
	c.Add(usage.Event{KeyID: "key_1", Outcome: "VALID"}, t0, 2)
	st.mu.Lock()
	st.fail = false
	st.mu.Unlock()
	if err := f.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := st.get("VALID"); n != 7 {
		t.Errorf("stored %d after a failure and a success, want all 7", n)
	}
	if err := f.Flush(t.Context()); err != nil || st.get("VALID") != 7 {
		t.Errorf("a second flush wrote the counts again: %d, %v", st.get("VALID"), err)
	}
}

func TestAnEmptyCounterDoesNotCallTheStore(t *testing.T) {
	st := &memStore{}
	f := &usage.Flusher{Counter: usage.NewCounter(), Store: st}
	if err := f.Flush(t.Context()); err != nil || st.calls != 0 {
		t.Errorf("Flush = %v with %d store calls, want none", err, st.calls)
	}
}

func TestRunFlushesOnTheTickAndOnceMoreWhenStopped(t *testing.T) {
	c := usage.NewCounter()
	st := &memStore{}
	f := &usage.Flusher{Counter: c, Store: st, Interval: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	c.Count(usage.Event{Outcome: "VALID"}, time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for st.get("VALID") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no flush on the tick")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Counted just before the stop: the final flush must write it, with a
	// context of its own although Run's is cancelled.
	c.Count(usage.Event{Outcome: "EXPIRED"}, time.Now())
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil on cancellation", err)
	}
	if n := st.get("EXPIRED"); n != 1 {
		t.Errorf("final flush wrote %d, want 1", n)
	}
}

// ackLostStore writes the counts, then holds the call until released or
// until its context is cancelled, when it reports the cancellation: a
// commit that landed while its acknowledgement was lost, as a PostgreSQL
// driver reports one whose context ends mid-commit.
type ackLostStore struct {
	memStore
	writing chan struct{}
	release chan struct{}
}

func (s *ackLostStore) AddUsage(ctx context.Context, counts []auth.UsageCount) error {
	if err := s.memStore.AddUsage(ctx, counts); err != nil {
		return err
	}
	select {
	case s.writing <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The attack the two-node test on PostgreSQL met: stopping Run while a
// tick's flush commits must not turn that flush into a failure whose counts
// the final flush writes again.
func TestStoppingDuringAFlushDoesNotCountTwice(t *testing.T) {
	st := &ackLostStore{writing: make(chan struct{}, 1), release: make(chan struct{})}
	c := usage.NewCounter()
	f := &usage.Flusher{Counter: c, Store: st, Interval: time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	c.Count(usage.Event{Outcome: "VALID"}, time.Now())
	<-st.writing
	cancel()
	time.Sleep(20 * time.Millisecond) // a cancelled write would have returned by now
	close(st.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := st.get("VALID"); n != 1 {
		t.Errorf("VALID stored %d times, want 1", n)
	}
}

func TestPruneDeletesEachGranularityPastItsRetention(t *testing.T) {
	st := &memStore{}
	f := &usage.Flusher{Counter: usage.NewCounter(), Store: st, Now: func() time.Time { return t0 },
		Retention: auth.UsageRetention{Minute: 2 * time.Hour}}
	if err := f.Prune(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := map[auth.Granularity]time.Time{
		auth.GranularityMinute: time.Date(2030, 5, 6, 5, 8, 0, 0, time.UTC),
		auth.GranularityHour:   time.Date(2030, 2, 5, 7, 0, 0, 0, time.UTC), // 90 days (default)
		auth.GranularityDay:    time.Date(2028, 5, 6, 0, 0, 0, 0, time.UTC), // 730 days (default)
	}
	for g, w := range want {
		if got := st.deleted[g]; !got.Equal(w) {
			t.Errorf("%s buckets deleted before %v, want %v", g, got, w)
		}
	}
}

// TestTwoNodesCountExactly runs two nodes' counters and flushers against
// one store, counting and flushing at the same time: the stored totals
// must be exactly what both counted.
func TestTwoNodesCountExactly(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var st auth.Store
			if backend == "postgres" {
				dsn, _ := testenv.PostgresSchema(t)
				db, err := postgres.Open(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				st = db
			} else {
				db, err := sqlite.Open(t.Context(), t.TempDir()+"/g.db")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				st = db
			}
			twoNodes(t, st)
		})
	}
}

func twoNodes(t *testing.T, st auth.Store) {
	const nodes, workers, perWorker = 2, 4, 3000
	outcomes := []string{"VALID", "VALID", "VALID", "RATE_LIMITED", "INSUFFICIENT_SCOPE"}
	keys := []string{"key_a", "key_b", "key_c"}
	var want sync.Map // outcome -> *atomic.Int64
	add := func(o string) {
		v, _ := want.LoadOrStore(o, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	start := time.Now().UTC()
	var flushers sync.WaitGroup
	var counting sync.WaitGroup
	stop, cancel := context.WithCancel(context.Background())
	for n := range nodes {
		c := usage.NewCounter()
		f := &usage.Flusher{Counter: c, Store: st, Interval: 2 * time.Millisecond}
		flushers.Go(func() {
			if err := f.Run(stop); err != nil {
				t.Error(err)
			}
		})
		for w := range workers {
			counting.Go(func() {
				for i := range perWorker {
					o := outcomes[(i+w)%len(outcomes)]
					// Spread over two minutes so that rollups merge.
					at := start.Add(time.Duration(i%2) * time.Minute)
					c.Count(usage.Event{KeyID: keys[(i+n)%len(keys)], Route: "orders", Owner: "billing", Outcome: o}, at)
					add(o)
				}
			})
		}
	}
	counting.Wait()
	cancel() // each flusher's final flush writes what is left
	flushers.Wait()

	for _, g := range auth.Granularities {
		got := map[string]int64{}
		pts, err := st.QueryUsage(t.Context(), auth.UsageFilter{
			UsageSubject: auth.UsageSubject{Owner: "billing"},
			Granularity:  g, From: g.Floor(start), To: g.Ceil(start.Add(2 * time.Minute)),
		})
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, p := range pts {
			got[p.Outcome] += p.Count
			total += p.Count
		}
		want.Range(func(k, v any) bool {
			if w := v.(*atomic.Int64).Load(); got[k.(string)] != w {
				t.Errorf("%s: %s = %d, want %d", g, k, got[k.(string)], w)
			}
			return true
		})
		if total != nodes*workers*perWorker {
			t.Errorf("%s: total %d, want %d", g, total, nodes*workers*perWorker)
		}
	}
}

func TestCountsNoStoreCanKeepAreDroppedAndTheRestWritten(t *testing.T) {
	db, err := sqlite.Open(t.Context(), t.TempDir()+"/g.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := usage.NewCounter()
	f := &usage.Flusher{Counter: c, Store: db}
	c.Add(usage.Event{KeyID: "key_1", Outcome: "VALID"}, t0, 3)
	c.Add(usage.Event{UserID: "sub\x00of another issuer", Route: "partner", Outcome: "VALID"}, t0, 1)
	if err := f.Flush(t.Context()); err != nil {
		t.Fatalf("Flush = %v; the good counts should be written", err)
	}
	pts, err := db.QueryUsage(t.Context(), auth.UsageFilter{Granularity: auth.GranularityMinute, From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil || len(pts) != 1 || pts[0].Count != 3 {
		t.Errorf("stored %v, %v; want the 3 counts of key_1 alone", pts, err)
	}
	if left := c.Take(); len(left) != 0 {
		t.Errorf("the dropped count came back: %v", left)
	}
}
