package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// onBothStores runs test on SQLite and on PostgreSQL, each store wrapped
// in a hookStore the test arms.
func onBothStores(t *testing.T, test func(t *testing.T, e *env, hs *hookStore)) {
	t.Helper()
	for name, open := range map[string]func(t *testing.T) auth.Store{
		"sqlite": func(t *testing.T) auth.Store { return sqliteEnv(t).store },
		"postgres": func(t *testing.T) auth.Store {
			dsn, _ := testenv.PostgresSchema(t)
			return openPostgres(t, dsn)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			hs := &hookStore{Store: open(t)}
			test(t, newEnv(t, hs), hs)
		})
	}
}

// hookStore lets a test act between the dispatcher's store calls, as a
// slow store, a slow network or another node would.
type hookStore struct {
	auth.Store
	mu sync.Mutex
	// ignoreSkip drops the busy endpoints the dispatcher asks to leave
	// out, as a store that over-fetches would: the dispatcher must still
	// never act on a stale copy.
	ignoreSkip   bool
	afterDue     func(due []*auth.WebhookDelivery)
	beforeRecord func(d *auth.WebhookDelivery)
	afterRecord  func(d *auth.WebhookDelivery, recorded bool)
}

func (s *hookStore) hooks() (bool, func([]*auth.WebhookDelivery), func(*auth.WebhookDelivery), func(*auth.WebhookDelivery, bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ignoreSkip, s.afterDue, s.beforeRecord, s.afterRecord
}

func (s *hookStore) set(f func(s *hookStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *hookStore) DueWebhookDeliveries(ctx context.Context, now time.Time, limit, perEndpoint int, skip []string) ([]*auth.WebhookDelivery, error) {
	ignoreSkip, afterDue, _, _ := s.hooks()
	if ignoreSkip {
		skip = nil
	}
	due, err := s.Store.DueWebhookDeliveries(ctx, now, limit, perEndpoint, skip)
	if err == nil && afterDue != nil {
		afterDue(due)
	}
	return due, err
}

func (s *hookStore) RecordWebhookAttempt(ctx context.Context, d *auth.WebhookDelivery, attempts int) (bool, error) {
	_, _, before, after := s.hooks()
	if before != nil {
		before(d)
	}
	ok, err := s.Store.RecordWebhookAttempt(ctx, d, attempts)
	if err == nil && after != nil {
		after(d, ok)
	}
	return ok, err
}

func pendingDelivery(id, endpoint string, now time.Time) *auth.WebhookDelivery {
	return &auth.WebhookDelivery{ID: id, EndpointID: endpoint, EventID: "msg_" + id, EventType: auth.WebhookKeyRevoked,
		EventTime: now, Payload: []byte(`{"type":"key.revoked"}`), State: auth.DeliveryPending, NextAttemptAt: now, CreatedAt: now}
}

func fastDispatcher(t *testing.T, e *env) *webhook.Dispatcher {
	t.Helper()
	d, err := webhook.NewDispatcher(webhook.Config{Store: e.store, Sealer: sealer(t), Holder: "node-a", AllowPrivate: true,
		Now: e.clock.Now, PollInterval: 100 * time.Millisecond, AttemptTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowDeliveryIsNotSentTwiceNorItsSuccessLost is the attack: a poll
// starts a delivery to a slow endpoint and the delivery outlasts it; the
// next poll reads the due deliveries while it is still pending, and only
// then does the slow attempt succeed and release the endpoint. The next
// poll must not send its stale copy again, and if it did, its failure
// must not overwrite the success.
func TestSlowDeliveryIsNotSentTwiceNorItsSuccessLost(t *testing.T) {
	t.Parallel()
	for _, ignoreSkip := range []bool{false, true} {
		t.Run(fmt.Sprintf("store ignores skip %v", ignoreSkip), func(t *testing.T) {
			t.Parallel()
			onBothStores(t, func(t *testing.T, e *env, hs *hookStore) {
				staleSend(t, e, hs, ignoreSkip)
			})
		})
	}
}

func staleSend(t *testing.T, e *env, hs *hookStore, ignoreSkip bool) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if sent.Add(1) == 1 {
			time.Sleep(400 * time.Millisecond) // outlasts the poll
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusInternalServerError) // a repeat fails
	}))
	t.Cleanup(srv.Close)
	ep, _ := e.endpoint(srv.URL, auth.WebhookKeyRevoked)
	if err := e.store.DispatchWebhookEvents(t.Context(), nil, []*auth.WebhookDelivery{pendingDelivery("dlv_slow", ep.ID, e.clock.Now())}); err != nil {
		t.Fatal(err)
	}
	d := fastDispatcher(t, e)

	e.tick(d) // starts the slow attempt and returns while it is under way
	if n := sent.Load(); n != 1 {
		t.Fatalf("first poll sent %d requests, want 1", n)
	}
	recorded := make(chan struct{})
	var once sync.Once
	hs.set(func(s *hookStore) {
		s.ignoreSkip = ignoreSkip
		s.afterRecord = func(dl *auth.WebhookDelivery, ok bool) {
			if dl.ID == "dlv_slow" && ok {
				once.Do(func() { close(recorded) })
			}
		}
		// After the read, wait for the slow attempt to be recorded and
		// its endpoint released before the poll goes on.
		s.afterDue = func(due []*auth.WebhookDelivery) {
			for _, dl := range due {
				if dl.ID == "dlv_slow" {
					select {
					case <-recorded:
					case <-time.After(5 * time.Second):
						t.Error("the slow attempt was never recorded")
					}
					time.Sleep(100 * time.Millisecond) // the endpoint is released after the record
				}
			}
		}
	})
	e.tick(d)
	<-recorded
	e.tick(d)
	waitFor(t, "no attempt is under way", func() bool {
		dl, err := e.store.GetWebhookDelivery(t.Context(), ep.ID, "dlv_slow")
		return err == nil && dl.State != auth.DeliveryPending
	})
	time.Sleep(150 * time.Millisecond) // a repeat, if any, would land now
	if n := sent.Load(); n != 1 {
		t.Errorf("delivery sent %d times, want 1", n)
	}
	dl, err := e.store.GetWebhookDelivery(t.Context(), ep.ID, "dlv_slow")
	if err != nil {
		t.Fatal(err)
	}
	if dl.State != auth.DeliverySucceeded || dl.Attempts != 1 || dl.StatusCode != http.StatusNoContent {
		t.Fatalf("delivery is %s after %d attempts (status %d), want succeeded after 1 (204)", dl.State, dl.Attempts, dl.StatusCode)
	}
}

// TestAttemptOutcomeIsDroppedIfAnotherWasRecorded: while an attempt is
// under way, the node that held the lease before records the delivery as
// succeeded. The late attempt fails, and its outcome must not overwrite
// the success.
func TestAttemptOutcomeIsDroppedIfAnotherWasRecorded(t *testing.T) {
	t.Parallel()
	onBothStores(t, func(t *testing.T, e *env, hs *hookStore) {
		var ep *auth.WebhookEndpoint
		var sent atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			sent.Add(1)
			// The other node's attempt succeeds meanwhile.
			dl, err := e.store.GetWebhookDelivery(r.Context(), ep.ID, "dlv_1")
			if err == nil {
				dl.State, dl.Attempts, dl.NextAttemptAt, dl.StatusCode = auth.DeliverySucceeded, 1, time.Time{}, http.StatusOK
				err = e.store.UpdateWebhookDelivery(r.Context(), dl)
			}
			if err != nil {
				t.Error(err)
			}
			w.WriteHeader(http.StatusBadGateway)
		}))
		t.Cleanup(srv.Close)
		ep, _ = e.endpoint(srv.URL, auth.WebhookKeyRevoked)
		if err := e.store.DispatchWebhookEvents(t.Context(), nil, []*auth.WebhookDelivery{pendingDelivery("dlv_1", ep.ID, e.clock.Now())}); err != nil {
			t.Fatal(err)
		}
		dropped := make(chan struct{}, 1)
		hs.set(func(s *hookStore) {
			s.afterRecord = func(dl *auth.WebhookDelivery, ok bool) {
				if !ok {
					dropped <- struct{}{}
				}
			}
		})
		e.tick(fastDispatcher(t, e))
		select {
		case <-dropped:
		case <-time.After(5 * time.Second):
			t.Fatal("the late attempt's outcome was not dropped")
		}
		dl, err := e.store.GetWebhookDelivery(t.Context(), ep.ID, "dlv_1")
		if err != nil {
			t.Fatal(err)
		}
		if sent.Load() != 1 || dl.State != auth.DeliverySucceeded || dl.Attempts != 1 || dl.StatusCode != http.StatusOK {
			t.Fatalf("after %d requests the delivery is %s, %d attempts, status %d; want the other node's success kept",
				sent.Load(), dl.State, dl.Attempts, dl.StatusCode)
		}
		if got, _ := e.store.GetWebhookEndpoint(t.Context(), ep.ID); !got.FailingSince.IsZero() {
			t.Fatalf("a dropped failure marked the endpoint failing since %v", got.FailingSince)
		}
	})
}

// TestBusyEndpointsDoNotFillTheBatch: four endpoints hang with four due
// deliveries each, a whole batch; a healthy endpoint's delivery, due
// later, goes out at the next poll all the same.
func TestBusyEndpointsDoNotFillTheBatch(t *testing.T) {
	t.Parallel()
	onBothStores(t, func(t *testing.T, e *env, _ *hookStore) {
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(slow.Close)
		var once sync.Once
		unblock := func() { once.Do(func() { close(release) }) }
		t.Cleanup(unblock) // before slow.Close, which waits for the handlers
		var healthy atomic.Int64
		fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			healthy.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(fast.Close)
		now := e.clock.Now()
		var backlog []*auth.WebhookDelivery
		var slowIDs []string
		for i := range 4 {
			ep, _ := e.endpoint(slow.URL, auth.WebhookKeyRevoked)
			slowIDs = append(slowIDs, ep.ID)
			for j := range 4 {
				dl := pendingDelivery(fmt.Sprintf("dlv_%d_%d", i, j), ep.ID, now.Add(-time.Hour+time.Duration(j)*time.Second))
				backlog = append(backlog, dl)
			}
		}
		good, _ := e.endpoint(fast.URL, auth.WebhookKeyRevoked)
		backlog = append(backlog, pendingDelivery("dlv_good", good.ID, now))
		if err := e.store.DispatchWebhookEvents(t.Context(), nil, backlog); err != nil {
			t.Fatal(err)
		}
		d := fastDispatcher(t, e)
		e.tick(d) // the batch is the 16 slow deliveries; all four endpoints hang
		if n := healthy.Load(); n != 0 {
			t.Fatalf("the first poll reached the healthy endpoint %d times; the test expects a batch full of slow deliveries", n)
		}
		e.tick(d)
		if n := healthy.Load(); n != 1 {
			t.Fatalf("with four endpoints busy, the next poll sent the healthy endpoint %d requests, want 1", n)
		}
		unblock()
		waitFor(t, "the slow endpoints' deliveries are recorded", func() bool {
			for _, id := range slowIDs {
				for _, dl := range e.deliveries(id) {
					if dl.State == auth.DeliveryPending {
						return false
					}
				}
			}
			return true
		})
	})
}

// TestOutcomeIsRecordedWhenStopping: shutdown arrives just after the
// receiver answered. The outcome is recorded all the same, or the
// delivery would be sent again by the next lease holder.
func TestOutcomeIsRecordedWhenStopping(t *testing.T) {
	t.Parallel()
	onBothStores(t, func(t *testing.T, e *env, hs *hookStore) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		ep, _ := e.endpoint(srv.URL, auth.WebhookKeyRevoked)
		if err := e.store.DispatchWebhookEvents(t.Context(), nil, []*auth.WebhookDelivery{pendingDelivery("dlv_1", ep.ID, e.clock.Now())}); err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(t.Context())
		defer stop()
		hs.set(func(s *hookStore) { s.beforeRecord = func(*auth.WebhookDelivery) { stop() } })
		d := fastDispatcher(t, e)
		_ = d.Tick(ctx) // the poll's own error, if any, is the stop's
		waitFor(t, "the delivery is recorded", func() bool {
			dl, err := e.store.GetWebhookDelivery(t.Context(), ep.ID, "dlv_1")
			return err == nil && dl.State == auth.DeliverySucceeded && dl.Attempts == 1
		})
	})
}
