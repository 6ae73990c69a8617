package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

var serverSecret = []byte("0123456789abcdef0123456789abcdef")

func sealer(t *testing.T) *signing.Sealer {
	t.Helper()
	key, err := webhook.DeriveSealingKey(serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// env is one store with a clock, a service and a way to make dispatchers.
type env struct {
	t     *testing.T
	store auth.Store
	clock *testenv.Clock
	svc   *webhook.Service
}

func newEnv(t *testing.T, store auth.Store) *env {
	t.Helper()
	clock := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	svc, err := webhook.NewService(webhook.ServiceConfig{Store: store, Sealer: sealer(t), AllowPrivate: true, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: store, clock: clock, svc: svc}
}

func openSQLite(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func sqliteEnv(t *testing.T) *env {
	return newEnv(t, openSQLite(t, filepath.Join(t.TempDir(), "g.db")))
}

func (e *env) dispatcher(holder string, allowPrivate bool) *webhook.Dispatcher {
	e.t.Helper()
	d, err := webhook.NewDispatcher(webhook.Config{
		Store: e.store, Sealer: sealer(e.t), Holder: holder, AllowPrivate: allowPrivate, Now: e.clock.Now,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) tick(d *webhook.Dispatcher) {
	e.t.Helper()
	if err := d.Tick(e.t.Context()); err != nil {
		e.t.Fatalf("Tick: %v", err)
	}
}

func (e *env) endpoint(url string, events ...string) (*auth.WebhookEndpoint, string) {
	e.t.Helper()
	ep, secret, err := e.svc.Create(e.t.Context(), webhook.CreateParams{URL: url, Events: events}, "key_admin")
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return ep, secret
}

// revokeKey creates and revokes a key through the store, as the key
// service does: its key.revoked audit event fills the outbox.
func (e *env) revokeKey(id string) {
	e.t.Helper()
	now := e.clock.Now()
	h := make([]byte, 32)
	copy(h, id)
	k := &auth.APIKey{ID: id, Hash: h, Prefix: "sk_test_", Hint: "abcd", Owner: "svc", CreatedAt: now}
	ctx := e.t.Context()
	if err := e.store.CreateAPIKey(ctx, k, auth.AuditEvent{Time: now, Type: auth.EventKeyCreated, Actor: "key_admin", KeyID: id, Count: 1}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.RevokeAPIKey(ctx, id, now, auth.AuditEvent{Time: now, Type: auth.EventKeyRevoked, Actor: "key_admin", KeyID: id, Count: 1}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deliveries(endpointID string) []*auth.WebhookDelivery {
	e.t.Helper()
	ds, _, err := e.store.ListWebhookDeliveries(e.t.Context(), auth.WebhookDeliveryFilter{EndpointID: endpointID, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

func TestDeliveryIsSignedAsStandardWebhooksSays(t *testing.T) {
	t.Parallel()
	e := sqliteEnv(t)
	rcv := newReceiver(t)
	ep, secret := e.endpoint(rcv.URL(), auth.WebhookKeyRevoked)
	other, _ := e.endpoint(rcv.URL(), auth.WebhookKeyCreated, auth.WebhookUserCreated) // key.created only
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q does not start with whsec_", secret)
	}
	if strings.Contains(string(ep.Secret), strings.TrimPrefix(secret, "whsec_")) {
		t.Fatal("the stored secret holds the secret in the clear")
	}
	e.revokeKey("key_1")
	e.tick(e.dispatcher("node-a", true))

	got := rcv.requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2 (key.revoked, key.created): %+v", len(got), got)
	}
	var revoked *received
	for i := range got {
		if got[i].Type == auth.WebhookKeyRevoked {
			revoked = &got[i]
		}
	}
	if revoked == nil {
		t.Fatalf("no key.revoked among %+v", got)
	}
	if err := verify(secret, revoked.ID, revoked.Timestamp, revoked.Signature, revoked.Body, e.clock.Now()); err != nil {
		t.Fatalf("receiver cannot verify the delivery: %v", err)
	}
	if revoked.Data["key_id"] != "key_1" || revoked.Data["actor"] != "key_admin" {
		t.Errorf("data = %v, want key_id key_1 and actor key_admin", revoked.Data)
	}
	if !strings.HasPrefix(revoked.ID, "msg_") {
		t.Errorf("webhook-id = %q", revoked.ID)
	}
	// A tampered body fails the same check: the verifier is not lenient.
	if verify(secret, revoked.ID, revoked.Timestamp, revoked.Signature, append(revoked.Body, ' '), e.clock.Now()) == nil {
		t.Fatal("a changed body verifies")
	}
	ds := e.deliveries(ep.ID)
	if len(ds) != 1 || ds[0].State != auth.DeliverySucceeded || ds[0].StatusCode != 200 || ds[0].Attempts != 1 {
		t.Fatalf("deliveries = %+v, want one succeeded with 200 after 1 attempt", ds)
	}
	if n := len(e.deliveries(other.ID)); n != 1 {
		t.Fatalf("the key.created endpoint has %d deliveries, want 1", n)
	}
	// Nothing is sent twice.
	e.clock.Add(time.Hour)
	e.tick(e.dispatcher("node-a", true))
	if n := len(rcv.requests()); n != 2 {
		t.Fatalf("receiver got %d requests after another poll, want still 2", n)
	}
	// Finished deliveries are listed for the retention period, then deleted.
	e.clock.Add(auth.WebhookDeliveryRetention)
	e.tick(e.dispatcher("node-a", true))
	if n := len(e.deliveries(ep.ID)); n != 0 {
		t.Fatalf("%d deliveries left after the retention period", n)
	}
}

func TestRotatedSecretSignsAlongsideForADay(t *testing.T) {
	t.Parallel()
	e := sqliteEnv(t)
	rcv := newReceiver(t)
	ep, oldSecret := e.endpoint(rcv.URL(), auth.WebhookKeyRevoked)
	_, newSecret, err := e.svc.RotateSecret(t.Context(), ep.ID, "key_admin")
	if err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher("node-a", true)
	e.revokeKey("key_1")
	e.tick(d)
	e.clock.Add(auth.WebhookSecretOverlap + time.Second)
	e.revokeKey("key_2")
	e.tick(d)

	got := rcv.requests()
	if len(got) != 2 {
		t.Fatalf("got %d requests, want 2", len(got))
	}
	first, later := got[0], got[1]
	if n := len(strings.Fields(first.Signature)); n != 2 {
		t.Errorf("during the overlap: %d signatures, want 2", n)
	}
	firstNow := e.clock.Now().Add(-auth.WebhookSecretOverlap - time.Second)
	for _, s := range []string{oldSecret, newSecret} {
		if err := verify(s, first.ID, first.Timestamp, first.Signature, first.Body, firstNow); err != nil {
			t.Errorf("during the overlap: %v", err)
		}
	}
	if err := verify(newSecret, later.ID, later.Timestamp, later.Signature, later.Body, e.clock.Now()); err != nil {
		t.Errorf("after the overlap, the new secret: %v", err)
	}
	if verify(oldSecret, later.ID, later.Timestamp, later.Signature, later.Body, e.clock.Now()) == nil {
		t.Error("after the overlap the old secret still verifies")
	}
}

func TestRetryDelaysStartWithinTenSecondsAndGrowToHours(t *testing.T) {
	t.Parallel()
	if d := webhook.RetryDelay(1); d <= 0 || d > 10*time.Second {
		t.Fatalf("first retry after %v, want within 10s", d)
	}
	prev := time.Duration(0)
	for n := 1; n <= 20; n++ {
		d := webhook.RetryDelay(n)
		if d < prev {
			t.Fatalf("delay %d (%v) is shorter than delay %d (%v)", n, d, n-1, prev)
		}
		prev = d
	}
	if prev < 2*time.Hour || prev > 24*time.Hour {
		t.Fatalf("delays grow to %v, want hours", prev)
	}
}

// TestFailingEndpointIsRetriedForThreeDaysThenDisabled follows one
// delivery to an endpoint that always fails, with the clock jumping to
// each attempt: the attempts follow the schedule, stop 3 days after the
// event, and the endpoint ends disabled, saying why.
func TestFailingEndpointIsRetriedForThreeDaysThenDisabled(t *testing.T) {
	t.Parallel()
	e := sqliteEnv(t)
	rcv := newReceiver(t)
	rcv.setStatus(http.StatusServiceUnavailable)
	ep, _ := e.endpoint(rcv.URL(), auth.WebhookKeyRevoked)
	d := e.dispatcher("node-a", true)
	e.revokeKey("key_1")
	start := e.clock.Now()
	e.tick(d)

	var attemptsAt []time.Duration
	for range 100 {
		ds := e.deliveries(ep.ID)
		if len(ds) != 1 {
			t.Fatalf("%d deliveries, want 1", len(ds))
		}
		dl := ds[0]
		attemptsAt = append(attemptsAt, dl.LastAttemptAt.Sub(start))
		if dl.State != auth.DeliveryPending {
			if dl.State != auth.DeliveryFailed {
				t.Fatalf("state %q, want failed", dl.State)
			}
			break
		}
		if dl.StatusCode != 503 || !strings.Contains(dl.LastError, "receiver says 503") {
			t.Fatalf("status %d, error %q; want 503 with an excerpt of the answer", dl.StatusCode, dl.LastError)
		}
		wait := dl.NextAttemptAt.Sub(e.clock.Now())
		if len(attemptsAt) == 1 && wait > 10*time.Second {
			t.Fatalf("first retry in %v, want within 10s", wait)
		}
		// A poll before it is due sends nothing.
		e.clock.Add(wait - time.Millisecond)
		before := len(rcv.requests())
		e.tick(d)
		if len(rcv.requests()) != before {
			t.Fatal("a delivery was attempted before it was due")
		}
		e.clock.Add(time.Millisecond)
		e.tick(d)
	}
	last := attemptsAt[len(attemptsAt)-1]
	if last != auth.WebhookRetryPeriod {
		t.Fatalf("last attempt %v after the event, want %v; attempts at %v", last, auth.WebhookRetryPeriod, attemptsAt)
	}
	if len(rcv.requests()) != len(attemptsAt) || len(attemptsAt) < 10 {
		t.Fatalf("%d requests for %d recorded attempts", len(rcv.requests()), len(attemptsAt))
	}
	got, err := e.svc.Get(t.Context(), ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Enabled() || !strings.Contains(got.DisabledReason, "failed") {
		t.Fatalf("endpoint enabled=%v reason %q; want disabled, saying it failed", got.Enabled(), got.DisabledReason)
	}
	// A disabled endpoint gets no new deliveries.
	e.revokeKey("key_2")
	e.tick(d)
	if n := len(e.deliveries(ep.ID)); n != 1 {
		t.Fatalf("a disabled endpoint got a new delivery (%d)", n)
	}
	// Enabled again, it gets the next event; a retry resends the old one.
	on := true
	if _, err := e.svc.Update(t.Context(), ep.ID, webhook.UpdateParams{Enabled: &on}, "key_admin"); err != nil {
		t.Fatal(err)
	}
	rcv.setStatus(http.StatusNoContent)
	old := e.deliveries(ep.ID)[0]
	if _, err := e.svc.Retry(t.Context(), ep.ID, old.ID, "key_admin"); err != nil {
		t.Fatal(err)
	}
	e.revokeKey("key_3")
	e.tick(d)
	for _, dl := range e.deliveries(ep.ID) {
		if dl.State != auth.DeliverySucceeded {
			t.Errorf("after re-enabling: delivery %s of %s is %s", dl.ID, dl.EventType, dl.State)
		}
	}
}

// TestSuccessResetsTheFailureClock: an endpoint that fails now and then is
// never disabled.
func TestSuccessResetsTheFailureClock(t *testing.T) {
	t.Parallel()
	e := sqliteEnv(t)
	rcv := newReceiver(t)
	ep, _ := e.endpoint(rcv.URL(), auth.WebhookKeyRevoked)
	d := e.dispatcher("node-a", true)
	for i := range 5 {
		rcv.setStatus(500)
		e.revokeKey(fmt.Sprintf("key_%d", i))
		e.tick(d)
		e.clock.Add(20 * time.Hour)
		rcv.setStatus(200)
		e.tick(d)
	}
	got, _ := e.svc.Get(t.Context(), ep.ID)
	if !got.Enabled() || !got.FailingSince.IsZero() {
		t.Fatalf("endpoint enabled=%v failing since %v; want enabled and not failing", got.Enabled(), got.FailingSince)
	}
}

func TestRestartMidRetryStillDelivers(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "g.db")
		restartMidRetry(t, func() auth.Store { return openSQLite(t, path) })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn, _ := testenv.PostgresSchema(t)
		restartMidRetry(t, func() auth.Store { return openPostgres(t, dsn) })
	})
}

// restartMidRetry: a node fails an attempt and dies without a word (its
// lease is not given up); another process on the same store takes over
// once the lease expires and delivers the event, with the same webhook-id.
func restartMidRetry(t *testing.T, open func() auth.Store) {
	first := open()
	e := newEnv(t, first)
	rcv := newReceiver(t)
	rcv.setStatus(http.StatusBadGateway)
	ep, secret := e.endpoint(rcv.URL(), auth.WebhookKeyRevoked)
	e.revokeKey("key_1")
	e.tick(e.dispatcher("node-a", true))
	ds := e.deliveries(ep.ID)
	if len(ds) != 1 || ds[0].Attempts != 1 || ds[0].State != auth.DeliveryPending {
		t.Fatalf("after the failed attempt: %+v", ds)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := open()
	e2 := &env{t: t, store: second, clock: e.clock, svc: e.svc}
	rcv.setStatus(http.StatusOK)
	d2 := e2.dispatcher("node-b", true)
	e2.clock.Add(10 * time.Second) // the retry is due, node-a's lease is not expired
	e2.tick(d2)
	if n := len(rcv.requests()); n != 1 {
		t.Fatalf("node-b delivered while node-a's lease held: %d requests", n)
	}
	e2.clock.Add(webhook.DefaultLeaseTTL)
	e2.tick(d2)
	got := rcv.requests()
	if len(got) != 2 || got[0].ID != got[1].ID {
		t.Fatalf("requests = %+v; want the retry, with the first attempt's webhook-id", got)
	}
	if err := verify(secret, got[1].ID, got[1].Timestamp, got[1].Signature, got[1].Body, e2.clock.Now()); err != nil {
		t.Fatal(err)
	}
	ds = e2.deliveries(ep.ID)
	if len(ds) != 1 || ds[0].State != auth.DeliverySucceeded || ds[0].Attempts != 2 {
		t.Fatalf("after the restart: %+v", ds)
	}
}

// TestOneDispatcherAtATimeOnPostgres runs two dispatchers, each with its
// own connection pool, on one PostgreSQL database: every event reaches the
// endpoint exactly once.
func TestOneDispatcherAtATimeOnPostgres(t *testing.T) {
	t.Parallel()
	dsn, _ := testenv.PostgresSchema(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	rcv := newReceiver(t)
	svc, err := webhook.NewService(webhook.ServiceConfig{Store: a, Sealer: sealer(t), AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Create(t.Context(), webhook.CreateParams{URL: rcv.URL(), Events: []string{auth.WebhookKeyRevoked}}, "key_admin"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 2)
	for i, store := range []auth.Store{a, b} {
		d, err := webhook.NewDispatcher(webhook.Config{Store: store, Sealer: sealer(t), Holder: fmt.Sprintf("node-%d", i),
			AllowPrivate: true, PollInterval: 20 * time.Millisecond, LeaseTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- d.Run(ctx) }()
	}
	const events = 30
	envA := &env{t: t, store: a, clock: testenv.NewClock(time.Now()), svc: svc}
	envB := &env{t: t, store: b, clock: envA.clock, svc: svc}
	for i := range events {
		e := envA
		if i%2 == 1 {
			e = envB
		}
		e.clock = testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
		e.revokeKey(fmt.Sprintf("key_%02d", i))
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(rcv.requests()) < events && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room for a duplicate to show up
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil on cancel", err)
		}
	}
	seen := map[string]int{}
	for _, r := range rcv.requests() {
		seen[r.ID]++
	}
	if len(seen) != events {
		t.Fatalf("%d distinct events delivered, want %d", len(seen), events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
}

func TestPrivateDestinationsAreRefusedAtConnectTime(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	port := rcv.srv.URL[strings.LastIndex(rcv.srv.URL, ":")+1:]
	refused := webhook.NewClient(false)
	for _, u := range []string{
		rcv.srv.URL,                                // 127.0.0.1
		"http://localhost:" + port,                 // a name resolving to loopback
		"http://[::1]:" + port,                     // IPv6 loopback
		"http://[::ffff:127.0.0.1]:" + port,        // IPv4-mapped loopback
		"http://10.1.2.3:80",                       // RFC 1918
		"http://192.168.0.1:80",                    // RFC 1918
		"http://169.254.169.254/latest/meta-data/", // cloud metadata
		"http://100.64.0.1:80",                     // CGNAT
		"http://[fd00::1]:80",                      // ULA
		"http://0.0.0.0:" + port,                   // unspecified
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
		resp, err := refused.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: reached (status %d), want refused", u, resp.StatusCode)
			continue
		}
		if !errors.Is(err, webhook.ErrForbiddenAddress) {
			t.Errorf("%s: %v, want ErrForbiddenAddress", u, err)
		}
	}
	if len(rcv.requests()) != 0 {
		t.Fatal("a refused destination got a request")
	}
	resp, err := webhook.NewClient(true).Post(rcv.URL(), "application/json", strings.NewReader(`{"type":"x","timestamp":"2030-01-01T00:00:00Z","data":{}}`))
	if err != nil {
		t.Fatalf("with allow_private: %v", err)
	}
	resp.Body.Close()

	// The dispatcher uses the refusing client unless allow_private: an
	// endpoint registered while private addresses were allowed is still
	// refused when the setting is off.
	e := sqliteEnv(t)
	ep, _ := e.endpoint(rcv.URL(), auth.WebhookKeyRevoked)
	e.revokeKey("key_1")
	e.tick(e.dispatcher("node-a", false))
	ds := e.deliveries(ep.ID)
	if len(ds) != 1 || ds[0].State != auth.DeliveryPending || !strings.Contains(ds[0].LastError, "internal address") {
		t.Fatalf("deliveries = %+v; want a failed attempt saying the address is internal", ds)
	}
	if len(rcv.requests()) != 1 { // the allow_private Post above
		t.Fatal("the dispatcher reached a private address")
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	e := sqliteEnv(t)
	target := newReceiver(t)
	redirector := http.NewServeMux()
	redirector.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL(), http.StatusTemporaryRedirect)
	})
	srv := newServer(t, redirector)
	ep, _ := e.endpoint(srv+"/hook", auth.WebhookKeyRevoked)
	e.revokeKey("key_1")
	e.tick(e.dispatcher("node-a", true))
	if len(target.requests()) != 0 {
		t.Fatal("the redirect was followed")
	}
	if ds := e.deliveries(ep.ID); len(ds) != 1 || ds[0].StatusCode != http.StatusTemporaryRedirect || ds[0].State != auth.DeliveryPending {
		t.Fatalf("deliveries = %+v; want a failed attempt with 307", ds)
	}
}

func TestServiceRefusesBadInputAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := sqliteEnv(t)
	strict, err := webhook.NewService(webhook.ServiceConfig{Store: e.store, Sealer: sealer(t)})
	if err != nil {
		t.Fatal(err)
	}
	long := "https://example.com/" + strings.Repeat("a", auth.MaxWebhookURLLength)
	for _, p := range []webhook.CreateParams{
		{URL: "ftp://example.com/", Events: []string{auth.WebhookKeyRevoked}},
		{URL: "javascript:alert(1)", Events: []string{auth.WebhookKeyRevoked}},
		{URL: "https://user:pw@example.com/", Events: []string{auth.WebhookKeyRevoked}},
		{URL: "/relative", Events: []string{auth.WebhookKeyRevoked}},
		{URL: long, Events: []string{auth.WebhookKeyRevoked}},
		{URL: "https://example.com/", Events: nil},
		{URL: "https://example.com/", Events: []string{"key.exploded"}},
		{URL: "https://example.com/", Events: []string{auth.EventWebhookCreated}},
		{URL: "https://example.com/", Events: []string{auth.WebhookKeyRevoked}, Description: strings.Repeat("d", 513)},
		{URL: "http://127.0.0.1/", Events: []string{auth.WebhookKeyRevoked}},
		{URL: "http://[::1]/", Events: []string{auth.WebhookKeyRevoked}},
		{URL: "http://169.254.169.254/", Events: []string{auth.WebhookKeyRevoked}},
		{URL: "http://10.0.0.1/", Events: []string{auth.WebhookKeyRevoked}},
		{URL: "http://localhost:8080/", Events: []string{auth.WebhookKeyRevoked}},
	} {
		if _, _, err := strict.Create(t.Context(), p, "key_admin"); auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("Create(%.60q, %q): %v, want EINVALID", p.URL, p.Events, err)
		}
	}
	if list, _ := strict.List(t.Context()); len(list) != 0 {
		t.Fatalf("bad input stored %d endpoints", len(list))
	}
	if _, _, err := strict.Create(t.Context(), webhook.CreateParams{URL: "https://example.com/", Events: []string{auth.WebhookKeyRevoked}}, "a"); err != nil {
		t.Fatalf("a public URL: %v", err)
	}
}
