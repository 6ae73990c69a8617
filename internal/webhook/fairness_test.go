package webhook_test

import (
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

func TestDeadEndpointsBacklogDoesNotDelayAHealthyOne(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		deadBacklog(t, sqliteEnv(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn, _ := testenv.PostgresSchema(t)
		deadBacklog(t, newEnv(t, openPostgres(t, dsn)))
	})
}

// counting is a receiver that answers every request with status, or
// (status 0) hangs until the sender gives up.
type counting struct {
	n      atomic.Int64
	status int
	srv    *httptest.Server
}

func newCounting(t *testing.T, status int) *counting {
	c := &counting{status: status}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		// Read to the end: only then does the server notice the sender
		// hanging up, which ends r.Context().
		_, _ = io.Copy(io.Discard, r.Body)
		if c.status == 0 {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(c.status)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// deadBacklog: one endpoint answers 500 and another hangs, each with a
// backlog of 40 deliveries due before the healthy endpoint's. The healthy
// endpoint gets its delivery in the first poll, and the next poll's too
// while the hanging attempt is still under way; the dead endpoints are
// tried once per poll at most and then wait for their retry time, instead
// of being tried again (and failing) at every poll.
func deadBacklog(t *testing.T, e *env) {
	ctx := t.Context()
	failing, hanging, healthy := newCounting(t, http.StatusInternalServerError), newCounting(t, 0), newCounting(t, http.StatusNoContent)
	epA, _ := e.endpoint(failing.srv.URL, auth.WebhookKeyRevoked)
	epH, _ := e.endpoint(hanging.srv.URL, auth.WebhookKeyRevoked)
	epB, _ := e.endpoint(healthy.srv.URL, auth.WebhookKeyRevoked)
	now := e.clock.Now()
	delivery := func(id, endpoint string, next time.Time) *auth.WebhookDelivery {
		return &auth.WebhookDelivery{ID: id, EndpointID: endpoint, EventID: "msg_" + id, EventType: auth.WebhookKeyRevoked,
			EventTime: now, Payload: []byte(`{"type":"key.revoked"}`), State: auth.DeliveryPending, NextAttemptAt: next, CreatedAt: now}
	}
	var backlog []*auth.WebhookDelivery
	for i := range 40 {
		at := now.Add(-time.Hour + time.Duration(i)*time.Second)
		backlog = append(backlog, delivery(fmt.Sprintf("dlv_a%02d", i), epA.ID, at), delivery(fmt.Sprintf("dlv_h%02d", i), epH.ID, at))
	}
	backlog = append(backlog, delivery("dlv_b1", epB.ID, now))
	if err := e.store.DispatchWebhookEvents(ctx, nil, backlog); err != nil {
		t.Fatal(err)
	}
	const attemptTimeout = 2 * time.Second
	d, err := webhook.NewDispatcher(webhook.Config{Store: e.store, Sealer: sealer(t), Holder: "node-a", AllowPrivate: true,
		Now: e.clock.Now, PollInterval: 100 * time.Millisecond, AttemptTimeout: attemptTimeout})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	e.tick(d)
	if took := time.Since(start); took > time.Second {
		t.Errorf("the poll took %v: the hanging endpoint held it up", took)
	}
	if n := healthy.n.Load(); n != 1 {
		t.Fatalf("after the first poll the healthy endpoint got %d requests, want 1", n)
	}
	if n := failing.n.Load(); n != 1 {
		t.Fatalf("the failing endpoint got %d requests in one poll, want 1", n)
	}

	// The next poll, the hanging attempt still under way: the healthy
	// endpoint's new delivery goes out; the dead ones are left alone.
	if err := e.store.DispatchWebhookEvents(ctx, nil, []*auth.WebhookDelivery{delivery("dlv_b2", epB.ID, e.clock.Now())}); err != nil {
		t.Fatal(err)
	}
	e.tick(d)
	if n := healthy.n.Load(); n != 2 {
		t.Fatalf("after the second poll the healthy endpoint got %d requests, want 2", n)
	}
	if a, h := failing.n.Load(), hanging.n.Load(); a != 1 || h != 1 {
		t.Fatalf("second poll: failing endpoint %d requests, hanging %d; want 1 each (waiting for their retry)", a, h)
	}

	// Once the hanging attempt has timed out, the hanging endpoint's
	// backlog too waits for its retry. The attempt is recorded, then the
	// backlog deferred, in two writes: wait for the second, which the
	// dispatcher finishes before it counts the endpoint as idle.
	deadline := time.Now().Add(3 * attemptTimeout)
	for {
		dl, err := e.store.GetWebhookDelivery(ctx, epH.ID, "dlv_h00")
		if err != nil {
			t.Fatal(err)
		}
		next, err := e.store.GetWebhookDelivery(ctx, epH.ID, "dlv_h01")
		if err != nil {
			t.Fatal(err)
		}
		if dl.Attempts == 1 && next.NextAttemptAt.After(e.clock.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hanging attempt was never recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 3 {
		e.tick(d)
	}
	if a, h := failing.n.Load(), hanging.n.Load(); a != 1 || h != 1 {
		t.Fatalf("polls before the retry time: failing endpoint %d requests, hanging %d; want 1 each", a, h)
	}
	for _, ep := range []string{epA.ID, epH.ID} {
		due, err := e.store.DueWebhookDeliveries(ctx, e.clock.Now().Add(webhook.RetryDelay(1)-time.Millisecond), 100, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range due {
			if dl.EndpointID == ep {
				t.Fatalf("delivery %s of a failing endpoint is due before the first retry time", dl.ID)
			}
		}
	}

	// At the retry time the failing endpoint is tried again: once.
	e.clock.Add(webhook.RetryDelay(1))
	e.tick(d)
	if n := failing.n.Load(); n != 2 {
		t.Fatalf("at the retry time the failing endpoint got %d requests in all, want 2", n)
	}
	waitIdle(t, e, epH.ID)
}

// waitIdle waits until no attempt to the endpoint is under way, so none
// outlives the test's store.
func waitIdle(t *testing.T, e *env, endpoint string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ds := e.deliveries(endpoint)
		attempts := 0
		for _, dl := range ds {
			attempts += dl.Attempts
		}
		if attempts == 2 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConcurrentRotationsKeepEverySecretShown: two rotations at once each
// show an operator a secret; the second applies on top of the first, so
// the next delivery is signed with both (the first's as the previous
// secret), and neither is silently dropped.
func TestConcurrentRotationsKeepEverySecretShown(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) *env{
		"sqlite": sqliteEnv,
		"postgres": func(t *testing.T) *env {
			dsn, _ := testenv.PostgresSchema(t)
			return newEnv(t, openPostgres(t, dsn))
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := open(t)
			rcv := newReceiver(t)
			ep, _ := e.endpoint(rcv.URL(), auth.WebhookKeyRevoked)
			const n = 4
			secrets := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, s, err := e.svc.RotateSecret(t.Context(), ep.ID, "key_admin")
					if err != nil {
						t.Errorf("RotateSecret: %v", err)
					}
					secrets[i] = s
				})
			}
			wg.Wait()
			e.revokeKey("key_1")
			e.tick(e.dispatcher("node-a", true))
			got := rcv.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			r := got[0]
			verified := 0
			for _, s := range secrets {
				if verify(s, r.ID, r.Timestamp, r.Signature, r.Body, e.clock.Now()) == nil {
					verified++
				}
			}
			// The last rotation's secret and the one before it sign: each
			// rotation's previous secret is the secret shown by the one
			// before, never one that was overwritten unseen.
			if verified != 2 {
				t.Fatalf("%d of the %d secrets shown verify the delivery, want 2 (the last two rotations')", verified, n)
			}
		})
	}
}
