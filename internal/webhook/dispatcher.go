package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// LeaseName names the store lease that makes one node the dispatcher.
const LeaseName = "webhook-dispatcher"

// Dispatcher defaults.
const (
	DefaultPollInterval = time.Second
	DefaultLeaseTTL     = 30 * time.Second
	// batchSize bounds the outbox events dispatched and the deliveries
	// attempted per poll. With `workers` attempts at once, each at most
	// AttemptTimeout, a poll ends well within the lease's lifetime.
	batchSize = 16
	workers   = 8
	// perEndpoint bounds the deliveries of one endpoint in a poll, so an
	// endpoint with a backlog leaves room for the others.
	perEndpoint = 4
	// recordTimeout bounds writing an attempt's outcome, which goes on
	// after Run's context is done: the receiver has the delivery, and an
	// outcome not recorded means sending it again.
	recordTimeout = 5 * time.Second
)

// errStale reports an attempt's outcome dropped because the delivery
// changed since it was read (see auth.WebhookStore.RecordWebhookAttempt).
var errStale = errors.New("webhook: the delivery changed during the attempt; its outcome was dropped")

// retryDelays is the wait after the nth failed attempt (the last one
// repeats): the first retry within 10 seconds, then growing to hours.
// Retries stop auth.WebhookRetryPeriod after the event, with a last
// attempt at that moment.
var retryDelays = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour,
}

// RetryDelay is the wait after a delivery's attempts-th failed attempt.
func RetryDelay(attempts int) time.Duration {
	if attempts < 1 {
		return 0
	}
	return retryDelays[min(attempts, len(retryDelays))-1]
}

// Config configures a Dispatcher. Store, Sealer and Holder are required.
type Config struct {
	Store  auth.WebhookStore
	Sealer Sealer
	// Holder identifies this node in the lease; unique per process.
	Holder string
	// AllowPrivate lets deliveries reach internal addresses
	// (webhooks.allow_private). Ignored when Client is set.
	AllowPrivate bool
	// Client sends the deliveries; nil for NewClient(AllowPrivate).
	Client       *http.Client
	Logger       *slog.Logger  // nil: discard
	Now          auth.Now      // default auth.SystemNow
	PollInterval time.Duration // 0: DefaultPollInterval
	LeaseTTL     time.Duration // 0: DefaultLeaseTTL
	// AttemptTimeout bounds one attempt; 0: AttemptTimeout. Tests shorten it.
	AttemptTimeout time.Duration
}

// Dispatcher turns outbox events into deliveries and attempts them, on the
// node that holds the lease. Its Run follows background.Runner.
type Dispatcher struct {
	store   auth.WebhookStore
	sealer  Sealer
	holder  string
	client  *http.Client
	log     *slog.Logger
	now     auth.Now
	poll    time.Duration
	ttl     time.Duration
	timeout time.Duration // of one attempt
	// sem bounds the attempts under way at once, across polls.
	sem chan struct{}
	// running counts the endpoints with attempts under way; some may
	// outlast the poll that started them (a slow endpoint does not hold
	// up the next poll), and Run waits for them before giving up the lease.
	running sync.WaitGroup
	mu      sync.Mutex
	busy    map[string]bool // endpoints with attempts under way; guarded by mu
	// gen counts the claims and unclaims of each endpoint; guarded by mu.
	// A poll notes it before reading the due deliveries and claims an
	// endpoint only if it is unchanged: otherwise an attempt of that
	// endpoint ended after the read, and the poll's copies of its
	// deliveries may be stale (one may have just succeeded).
	gen     map[string]uint64
	holding bool      // whether the last acquire succeeded; Run's goroutine only
	until   time.Time // when the lease we hold expires, by d.now; Run's goroutine only
	pruned  time.Time // when finished deliveries were last deleted; Run's goroutine only
}

// pruneEvery is how often the lease holder deletes deliveries older than
// auth.WebhookDeliveryRetention.
const pruneEvery = time.Hour

// NewDispatcher checks cfg and returns a Dispatcher.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Holder == "" {
		return nil, errors.New("webhook: Config.Store, Sealer and Holder are required")
	}
	d := &Dispatcher{
		store: cfg.Store, sealer: cfg.Sealer, holder: cfg.Holder, client: cfg.Client,
		log: cfg.Logger, now: cfg.Now, poll: cfg.PollInterval, ttl: cfg.LeaseTTL, timeout: cfg.AttemptTimeout,
		sem: make(chan struct{}, workers), busy: map[string]bool{}, gen: map[string]uint64{},
	}
	if d.timeout <= 0 {
		d.timeout = AttemptTimeout
	}
	if d.client == nil {
		d.client = NewClient(cfg.AllowPrivate)
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = auth.SystemNow
	}
	if d.poll <= 0 {
		d.poll = DefaultPollInterval
	}
	if d.ttl <= 0 {
		d.ttl = DefaultLeaseTTL
	}
	if d.ttl <= 2*d.poll {
		return nil, errors.New("webhook: the lease must outlive two polls")
	}
	return d, nil
}

// Run polls every PollInterval until ctx is done, then gives up the lease
// (so another node takes over at once, not after it expires) and returns
// nil. Store and network failures are logged and retried at the next poll.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.poll)
	defer t.Stop()
	for {
		if err := d.Tick(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("webhook dispatch failed; retrying at the next poll", "err", err)
		}
		select {
		case <-ctx.Done():
			// Attempts under way end at once (their context is ctx) and
			// leave their deliveries due; one that already has its answer
			// records it first (within recordTimeout).
			d.running.Wait()
			if d.holding {
				release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := d.store.ReleaseWebhookLease(release, LeaseName, d.holder); err != nil {
					d.log.Warn("giving up the webhook lease failed; another node takes over when it expires", "err", err)
				}
				cancel()
			}
			return nil
		case <-t.C:
		}
	}
}

// Tick does one poll's work: take or renew the lease and, holding it,
// dispatch outbox events and attempt the deliveries due.
func (d *Dispatcher) Tick(ctx context.Context) error {
	now := d.now()
	// The holder renews once a third of the lease has passed, not at every
	// poll: on SQLite each renewal is a write to disk.
	if !d.holding || d.until.Sub(now) < 2*d.ttl/3 {
		ok, err := d.store.AcquireWebhookLease(ctx, LeaseName, d.holder, now, d.ttl)
		if err != nil {
			d.holding = false
			return fmt.Errorf("webhook: lease: %w", err)
		}
		d.holding, d.until = ok, now.Add(d.ttl)
	}
	if !d.holding {
		return nil
	}
	endpoints, err := d.store.ListWebhookEndpoints(ctx)
	if err != nil {
		return fmt.Errorf("webhook: list endpoints: %w", err)
	}
	byID := make(map[string]*auth.WebhookEndpoint, len(endpoints))
	for _, e := range endpoints {
		byID[e.ID] = e
	}
	if err := d.dispatch(ctx, endpoints); err != nil {
		return err
	}
	if err := d.deliverDue(ctx, byID, d.workBudget(now)); err != nil {
		return err
	}
	return d.prune(ctx)
}

// prune deletes one batch of finished deliveries past their retention,
// at most every pruneEvery.
func (d *Dispatcher) prune(ctx context.Context) error {
	now := d.now()
	if now.Sub(d.pruned) < pruneEvery {
		return nil
	}
	if _, err := d.store.DeleteFinishedWebhookDeliveries(ctx, now.Add(-auth.WebhookDeliveryRetention), 1000); err != nil {
		return fmt.Errorf("webhook: delete old deliveries: %w", err)
	}
	d.pruned = now
	return nil
}

// body is the JSON body of every delivery, as the specification shapes it.
type body struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// dispatch turns one batch of outbox events into a delivery for each
// endpoint enabled now and subscribed to the event's type.
func (d *Dispatcher) dispatch(ctx context.Context, endpoints []*auth.WebhookEndpoint) error {
	events, err := d.store.ListWebhookOutbox(ctx, batchSize)
	if err != nil || len(events) == 0 {
		return err
	}
	now := d.now()
	ids := make([]string, 0, len(events))
	var deliveries []*auth.WebhookDelivery
	for _, ev := range events {
		ids = append(ids, ev.ID)
		payload, err := json.Marshal(body{Type: ev.Type, Timestamp: ev.Time.UTC().Format(time.RFC3339Nano), Data: ev.Data})
		if err != nil {
			return fmt.Errorf("webhook: encode body of %s: %w", ev.ID, err)
		}
		for _, e := range endpoints {
			if !e.Enabled() || !e.Subscribes(ev.Type) {
				continue
			}
			id, err := auth.NewID("dlv_", now)
			if err != nil {
				return err
			}
			deliveries = append(deliveries, &auth.WebhookDelivery{
				ID: id, EndpointID: e.ID, EventID: ev.ID, EventType: ev.Type, EventTime: ev.Time,
				Payload: payload, State: auth.DeliveryPending, NextAttemptAt: now, CreatedAt: now,
			})
		}
	}
	err = d.store.DispatchWebhookEvents(ctx, ids, deliveries)
	if auth.ErrorCode(err) == auth.ECONFLICT {
		return nil // a node that held the lease before us dispatched them meanwhile
	}
	if err != nil {
		return fmt.Errorf("webhook: dispatch: %w", err)
	}
	return nil
}

// workBudget is how long after now attempts may still start: every
// attempt must end while the lease is ours, or another node could take
// it over and send the same deliveries again.
func (d *Dispatcher) workBudget(now time.Time) time.Duration {
	left := d.until.Sub(now)
	if left > 2*d.timeout {
		return left - d.timeout
	}
	return left / 2 // short leases (tests): local receivers answer fast
}

// deliverDue attempts one batch of due deliveries, a few at once,
// starting none after budget has passed; what is left stays due. The
// batch is fair across endpoints (at most perEndpoint each), endpoints
// still busy from an earlier poll are skipped, and the poll waits for its
// attempts at most one poll interval: a slow or hanging endpoint delays
// neither the other endpoints' deliveries nor the next poll. The busy
// endpoints are left out of the batch, so they cannot fill it.
func (d *Dispatcher) deliverDue(ctx context.Context, endpoints map[string]*auth.WebhookEndpoint, budget time.Duration) error {
	busy, gens := d.snapshot()
	due, err := d.store.DueWebhookDeliveries(ctx, d.now(), batchSize, perEndpoint, busy)
	if err != nil {
		return fmt.Errorf("webhook: due deliveries: %w", err)
	}
	// Endpoint health is written after each attempt; attempts of one
	// endpoint go one after another so those writes do not race.
	byEndpoint := map[string][]*auth.WebhookDelivery{}
	var order []string
	for _, dl := range due {
		if _, seen := byEndpoint[dl.EndpointID]; !seen {
			order = append(order, dl.EndpointID)
		}
		byEndpoint[dl.EndpointID] = append(byEndpoint[dl.EndpointID], dl)
	}
	stopStarting := time.Now().Add(budget)
	var wg sync.WaitGroup
	for _, id := range order {
		if !d.claim(id, gens[id]) {
			// Its attempts from an earlier poll are still under way, or
			// ended after the read: they are read again next poll.
			continue
		}
		e, list := endpoints[id], byEndpoint[id]
		wg.Add(1)
		d.running.Add(1)
		go func() {
			defer d.running.Done()
			defer wg.Done()
			defer d.unclaim(id)
			select {
			case d.sem <- struct{}{}:
				defer func() { <-d.sem }()
			case <-ctx.Done():
				return
			}
			d.deliverAll(ctx, e, list, stopStarting)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	wait := time.NewTimer(d.poll)
	defer wait.Stop()
	select {
	case <-done:
	case <-wait.C: // the slow ones go on; their endpoints are skipped until they end
	case <-ctx.Done():
	}
	return nil
}

// snapshot returns the busy endpoints and every endpoint's claim
// generation, taken before the due deliveries are read.
func (d *Dispatcher) snapshot() ([]string, map[string]uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	busy := make([]string, 0, len(d.busy))
	for id := range d.busy {
		busy = append(busy, id)
	}
	return busy, maps.Clone(d.gen)
}

// claim marks the endpoint busy, unless it is already or its generation
// is no longer gen: its deliveries read at gen may be stale.
func (d *Dispatcher) claim(id string, gen uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.busy[id] || d.gen[id] != gen {
		return false
	}
	d.busy[id] = true
	d.gen[id]++
	return true
}

func (d *Dispatcher) unclaim(id string) {
	d.mu.Lock()
	delete(d.busy, id)
	d.gen[id]++
	d.mu.Unlock()
}

// deliverAll attempts list, deliveries of e, in order until one fails.
// Then the endpoint's other pending deliveries wait for that one's retry:
// each would cost a failure (perhaps a timeout) now, and left due they
// would fill every poll ahead of the healthy endpoints.
func (d *Dispatcher) deliverAll(ctx context.Context, e *auth.WebhookEndpoint, list []*auth.WebhookDelivery, stopStarting time.Time) {
	for _, dl := range list {
		if ctx.Err() != nil || time.Now().After(stopStarting) {
			return
		}
		ok, err := d.deliver(ctx, e, dl)
		switch {
		case errors.Is(err, errStale):
			// Another attempt's outcome, or an operator's change, is the
			// newer truth; the next poll reads the delivery again.
			d.log.Debug("dropped the outcome of a webhook attempt: the delivery changed meanwhile", "delivery_id", dl.ID)
			return
		case err != nil:
			d.log.Warn("recording a webhook attempt failed", "delivery_id", dl.ID, "err", err)
		}
		if ok {
			continue
		}
		if ctx.Err() != nil || err != nil {
			return // nothing (reliable) was recorded: the deliveries stay due
		}
		until := dl.NextAttemptAt
		if until.IsZero() { // given up: the others wait as after a first failure
			until = d.now().Add(RetryDelay(1))
		}
		if _, err := d.store.DeferWebhookDeliveries(ctx, dl.EndpointID, until); err != nil && ctx.Err() == nil {
			d.log.Warn("deferring a failing endpoint's deliveries failed", "endpoint_id", dl.EndpointID, "err", err)
		}
		return
	}
}

// deliver makes one attempt of dl to e (nil if the endpoint is gone),
// records the outcome and the endpoint's health, and reports whether the
// endpoint accepted it. errStale if the delivery changed since dl was
// read: nothing is recorded.
func (d *Dispatcher) deliver(ctx context.Context, e *auth.WebhookEndpoint, dl *auth.WebhookDelivery) (bool, error) {
	read := dl.Attempts
	if e == nil || !e.Enabled() {
		// Nothing is sent to a disabled endpoint; an operator who enables
		// it again can retry the delivery.
		dl.State, dl.NextAttemptAt, dl.LastError = auth.DeliveryFailed, time.Time{}, "The endpoint is disabled."
		return true, d.record(ctx, dl, read)
	}
	start := d.now()
	status, excerpt, latency, err := d.attempt(ctx, e, dl, start)
	if err != nil && ctx.Err() != nil {
		return false, nil // stopped mid-attempt: the delivery stays due, and is attempted again
	}
	// The receiver may have the delivery now: its outcome is recorded
	// even if Run is stopping meanwhile, or it would be sent again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	now := d.now()
	dl.Attempts++
	dl.LastAttemptAt, dl.StatusCode, dl.Latency = start, status, latency
	if err == nil && status >= 200 && status < 300 {
		dl.State, dl.NextAttemptAt, dl.LastError = auth.DeliverySucceeded, time.Time{}, ""
		if err := d.record(ctx, dl, read); err != nil && !errors.Is(err, errStale) {
			return true, err
		}
		// Recorded or not, the endpoint answered: it is healthy.
		if !e.FailingSince.IsZero() {
			e.FailingSince = time.Time{}
			return true, ignoreDisabled(d.store.SetWebhookEndpointHealth(ctx, e.ID, time.Time{}, time.Time{}, ""))
		}
		return true, nil
	}
	switch {
	case err != nil:
		dl.LastError = excerptOf([]byte(err.Error()))
	default:
		dl.LastError = excerpt
	}
	next, giveUp := nextAttempt(dl, now)
	if giveUp {
		dl.State, dl.NextAttemptAt = auth.DeliveryFailed, time.Time{}
	} else {
		dl.NextAttemptAt = next
	}
	if err := d.record(ctx, dl, read); err != nil {
		return false, err
	}
	return false, ignoreDisabled(d.recordFailure(ctx, e, start, dl.LastError))
}

// record writes dl's outcome if the stored delivery is still pending with
// attempts attempts, as it was read; errStale if not.
func (d *Dispatcher) record(ctx context.Context, dl *auth.WebhookDelivery, attempts int) error {
	ok, err := d.store.RecordWebhookAttempt(ctx, dl, attempts)
	if err != nil {
		return err
	}
	if !ok {
		return errStale
	}
	return nil
}

// ignoreDisabled drops the ECONFLICT of a health change to an endpoint
// disabled meanwhile: its state is the operator's now.
func ignoreDisabled(err error) error {
	if auth.ErrorCode(err) == auth.ECONFLICT {
		return nil
	}
	return err
}

// nextAttempt says when dl, having just failed at now, is attempted again,
// or that it is given up: retries stop WebhookRetryPeriod after the event
// was dispatched, with a last attempt at that moment.
func nextAttempt(dl *auth.WebhookDelivery, now time.Time) (time.Time, bool) {
	deadline := dl.CreatedAt.Add(auth.WebhookRetryPeriod)
	if !now.Before(deadline) {
		return time.Time{}, true
	}
	next := now.Add(RetryDelay(dl.Attempts))
	if next.After(deadline) {
		next = deadline
	}
	return next, false
}

// recordFailure notes that e failed at 'at', and disables it once it has
// failed every attempt for auth.WebhookDisableAfter.
func (d *Dispatcher) recordFailure(ctx context.Context, e *auth.WebhookEndpoint, at time.Time, lastError string) error {
	if e.FailingSince.IsZero() {
		e.FailingSince = at
		return d.store.SetWebhookEndpointHealth(ctx, e.ID, at, time.Time{}, "")
	}
	if at.Sub(e.FailingSince) < auth.WebhookDisableAfter {
		return nil
	}
	now := d.now()
	reason := fmt.Sprintf("Disabled automatically: every delivery attempt failed from %s to %s. Last error: %s",
		e.FailingSince.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339), lastError)
	reason = auth.TruncateUTF8(reason, 512)
	ev := auth.AuditEvent{Time: now, Type: auth.EventWebhookDisabled, Actor: auth.ActorSystem, KeyID: e.ID, Count: 1,
		Details: map[string]string{"failing_since": e.FailingSince.UTC().Format(time.RFC3339)}}
	e.DisabledAt, e.DisabledReason = now, reason
	d.log.Warn("webhook endpoint disabled after failing for 3 days", "endpoint_id", e.ID)
	return d.store.SetWebhookEndpointHealth(ctx, e.ID, e.FailingSince, now, reason, ev)
}

// attempt sends dl to e once, signed with every secret that still signs,
// and returns the status, an excerpt of a non-2xx answer, and the latency.
func (d *Dispatcher) attempt(ctx context.Context, e *auth.WebhookEndpoint, dl *auth.WebhookDelivery, now time.Time) (int, string, time.Duration, error) {
	keys, err := d.signingKeys(e, now)
	if err != nil {
		return 0, "", 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(dl.Payload))
	if err != nil {
		return 0, "", 0, fmt.Errorf("bad endpoint URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhooks/1")
	req.Header.Set(HeaderID, dl.EventID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(HeaderSignature, signatureHeader(keys, dl.EventID, now, dl.Payload))
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	// Read a bounded amount, so a good connection can be reused and a
	// huge or endless answer costs nothing.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	latency := time.Since(start)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, "", latency, nil
	}
	return resp.StatusCode, excerptOf(answer), latency, nil
}

// signingKeys opens the endpoint's current secret and, until it expires,
// its previous one.
func (d *Dispatcher) signingKeys(e *auth.WebhookEndpoint, now time.Time) ([][]byte, error) {
	cur, err := d.sealer.Open(sealID(e.ID), e.Secret)
	if err != nil {
		return nil, errors.New("the endpoint's secret cannot be opened (was the server secret changed?)")
	}
	keys := [][]byte{cur}
	if len(e.PreviousSecret) > 0 && now.Before(e.PreviousSecretExpiresAt) {
		if prev, err := d.sealer.Open(sealID(e.ID), e.PreviousSecret); err == nil {
			keys = append(keys, prev)
		}
	}
	return keys, nil
}

// excerptOf keeps the start of b as valid, printable text.
func excerptOf(b []byte) string {
	s := strings.ToValidUTF8(string(b[:min(len(b), maxExcerpt)]), "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' {
			return ' '
		}
		return r
	}, s)
	return auth.TruncateUTF8(strings.TrimSpace(s), maxExcerpt)
}
