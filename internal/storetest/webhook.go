package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// RunWebhooks runs the contract suite of auth.WebhookStore and of the
// outbox every audit-appending write fills. open is as for Run.
func RunWebhooks(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"an endpoint reads back with every field, is listed, updated and deleted", testWebhookEndpointRoundTrip},
		{"unknown endpoints and deliveries are not found", testWebhookNotFound},
		{"a duplicate endpoint ID is a conflict", testWebhookDuplicate},
		{"a change whose audit event maps to a webhook writes an outbox event", testWebhookOutboxWritten},
		{"audit events that map to no webhook write no outbox event", testWebhookOutboxUnmapped},
		{"a failed change writes no outbox event", testWebhookOutboxAtomic},
		{"dispatch moves outbox events into deliveries, once", testWebhookDispatch},
		{"due deliveries, their updates and the list pages", testWebhookDeliveries},
		{"deleting an endpoint deletes its deliveries", testWebhookDeleteCascades},
		{"finished deliveries are deleted once old, pending ones never", testWebhookPrune},
		{"health changes only the failure and disabling fields", testWebhookHealth},
		{"the lease has one holder until it expires", testWebhookLease},
		{"concurrent endpoint updates apply one after another", testWebhookConcurrentUpdates},
		{"due deliveries are fair across endpoints, and a failing endpoint's wait", testWebhookDueFair},
		{"due deliveries leave out the endpoints skipped before the limit", testWebhookDueSkip},
		{"an attempt is recorded only over the delivery it was made from", testWebhookRecordAttempt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

func newEndpoint(id string) *auth.WebhookEndpoint {
	return &auth.WebhookEndpoint{
		ID:          id,
		URL:         "https://hooks.example.com/gatehouse?x=1",
		Events:      []string{auth.WebhookKeyLeaked, auth.WebhookKeyRevoked},
		Description: "サービス 😀 '; DROP TABLE webhook_endpoints; --",
		Secret:      []byte("sealed secret of " + id),
		CreatedAt:   base,
		UpdatedAt:   base,
	}
}

func mustEndpoint(t *testing.T, s auth.Store, es ...*auth.WebhookEndpoint) {
	t.Helper()
	for _, e := range es {
		if err := s.CreateWebhookEndpoint(t.Context(), e, oev(auth.EventWebhookCreated, base)); err != nil {
			t.Fatalf("CreateWebhookEndpoint(%s): %v", e.ID, err)
		}
	}
}

func outbox(t *testing.T, s auth.Store) []auth.WebhookOutboxEvent {
	t.Helper()
	evs, err := s.ListWebhookOutbox(t.Context(), 1000)
	if err != nil {
		t.Fatalf("ListWebhookOutbox: %v", err)
	}
	return evs
}

func newDelivery(id, endpointID, eventID string, next time.Time) *auth.WebhookDelivery {
	return &auth.WebhookDelivery{
		ID: id, EndpointID: endpointID, EventID: eventID, EventType: auth.WebhookKeyRevoked,
		EventTime: base, Payload: []byte(`{"type":"key.revoked"}`), State: auth.DeliveryPending,
		NextAttemptAt: next, CreatedAt: base,
	}
}

func testWebhookEndpointRoundTrip(t *testing.T, s auth.Store) {
	e := newEndpoint("wh_1")
	mustEndpoint(t, s, e)
	got, err := s.GetWebhookEndpoint(t.Context(), e.ID)
	if err != nil {
		t.Fatalf("GetWebhookEndpoint: %v", err)
	}
	wantSame(t, "created endpoint", e, got)

	e2 := newEndpoint("wh_2")
	e2.Events = []string{auth.WebhookRouteChanged}
	mustEndpoint(t, s, e2)
	list, err := s.ListWebhookEndpoints(t.Context())
	if err != nil || len(list) != 2 || list[0].ID != "wh_1" || list[1].ID != "wh_2" {
		t.Fatalf("ListWebhookEndpoints = %v, %v; want wh_1, wh_2", list, err)
	}

	up := e.Clone()
	up.URL = "http://other.example/"
	up.Events = []string{auth.WebhookUserCreated}
	up.Description = ""
	up.Secret = []byte("new sealed")
	up.PreviousSecret = []byte("old sealed")
	up.PreviousSecretExpiresAt = at(24 * time.Hour)
	up.DisabledAt = at(time.Hour)
	up.DisabledReason = "disabled by an operator"
	up.FailingSince = at(time.Minute)
	up.UpdatedAt = at(time.Hour)
	returned, err := s.UpdateWebhookEndpoint(t.Context(), e.ID, func(cur *auth.WebhookEndpoint) ([]auth.AuditEvent, error) {
		wantSame(t, "endpoint given to update", e, cur)
		*cur = *up.Clone()
		return []auth.AuditEvent{oev(auth.EventWebhookUpdated, at(time.Hour))}, nil
	})
	if err != nil {
		t.Fatalf("UpdateWebhookEndpoint: %v", err)
	}
	wantSame(t, "returned endpoint", up, returned)
	got, _ = s.GetWebhookEndpoint(t.Context(), e.ID)
	wantSame(t, "updated endpoint", up, got)

	// An update that refuses writes nothing.
	refused := auth.Errorf(auth.ECONFLICT, "refused")
	if _, err := s.UpdateWebhookEndpoint(t.Context(), e.ID, func(cur *auth.WebhookEndpoint) ([]auth.AuditEvent, error) {
		cur.URL = "http://refused.example/"
		return nil, refused
	}); err != refused {
		t.Fatalf("refused update: %v, want the callback's error as is", err)
	}
	got, _ = s.GetWebhookEndpoint(t.Context(), e.ID)
	wantSame(t, "endpoint after a refused update", up, got)

	if err := s.DeleteWebhookEndpoint(t.Context(), e.ID, oev(auth.EventWebhookDeleted, at(time.Hour))); err != nil {
		t.Fatalf("DeleteWebhookEndpoint: %v", err)
	}
	if _, err := s.GetWebhookEndpoint(t.Context(), e.ID); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("get after delete: %v, want ENOTFOUND", err)
	}
}

func testWebhookNotFound(t *testing.T, s auth.Store) {
	ctx := t.Context()
	e := newEndpoint("wh_missing")
	for name, err := range map[string]error{
		"get": func() error { _, err := s.GetWebhookEndpoint(ctx, "wh_missing"); return err }(),
		"update": func() error {
			_, err := s.UpdateWebhookEndpoint(ctx, e.ID, func(*auth.WebhookEndpoint) ([]auth.AuditEvent, error) {
				t.Error("update called for a missing endpoint")
				return nil, nil
			})
			return err
		}(),
		"delete": s.DeleteWebhookEndpoint(ctx, "wh_missing"),
		"health": s.SetWebhookEndpointHealth(ctx, "wh_missing", base, time.Time{}, ""),
		"delivery": func() error {
			_, err := s.GetWebhookDelivery(ctx, "wh_missing", "dlv_missing")
			return err
		}(),
		"update delivery": s.UpdateWebhookDelivery(ctx, newDelivery("dlv_missing", "wh_missing", "msg_1", base)),
	} {
		if auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Errorf("%s: %v, want ENOTFOUND", name, err)
		}
	}
}

func testWebhookDuplicate(t *testing.T, s auth.Store) {
	mustEndpoint(t, s, newEndpoint("wh_1"))
	err := s.CreateWebhookEndpoint(t.Context(), newEndpoint("wh_1"))
	if auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("duplicate: %v, want ECONFLICT", err)
	}
}

func testWebhookOutboxWritten(t *testing.T, s auth.Store) {
	k := newKey("key_1")
	mustCreate(t, s, k)
	ev := event(auth.EventKeyRevoked, k.ID, at(time.Hour))
	ev.Details = map[string]string{"owner": "svc"}
	if _, err := s.RevokeAPIKey(t.Context(), k.ID, at(time.Hour), ev); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	// The route and the refresh token reuse map too, through other writes.
	r := &auth.AuditEvent{Time: at(2 * time.Hour), Type: auth.EventFamilyRevoked, Actor: auth.ActorSystem,
		KeyID: "cl_1", Reason: auth.ReasonRefreshTokenReused, Count: 1, Details: map[string]string{"family_id": "fam_1"}}
	if err := s.AppendAuditEvents(t.Context(), *r); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	got := outbox(t, s)
	if len(got) != 2 {
		t.Fatalf("outbox holds %d events, want 2: %+v", len(got), got)
	}
	byType := map[string]auth.WebhookOutboxEvent{}
	for _, e := range got {
		byType[e.Type] = e
		if e.ID == "" {
			t.Errorf("outbox event %s has no ID", e.Type)
		}
	}
	rev, ok := byType[auth.WebhookKeyRevoked]
	if !ok || !rev.Time.Equal(at(time.Hour)) {
		t.Fatalf("key.revoked outbox event = %+v", rev)
	}
	var data map[string]any
	if err := json.Unmarshal(rev.Data, &data); err != nil {
		t.Fatalf("outbox data %q: %v", rev.Data, err)
	}
	if data["key_id"] != k.ID || data["owner"] != "svc" {
		t.Errorf("key.revoked data = %v, want key_id %s and owner svc", data, k.ID)
	}
	if _, ok := byType[auth.WebhookRefreshTokenReuse]; !ok {
		t.Errorf("no refresh_token.reuse_detected event in %+v", got)
	}
}

func testWebhookOutboxUnmapped(t *testing.T, s auth.Store) {
	evs := []auth.AuditEvent{
		oev(auth.EventKeyVerificationFailed, base),
		oev(auth.EventUserUpdated, base),
		oev(auth.EventWebhookCreated, base),
		{Time: base, Type: auth.EventFamilyRevoked, Actor: "a", Reason: "revoked_by_client", Count: 1},
	}
	if err := s.AppendAuditEvents(t.Context(), evs...); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	mustEndpoint(t, s, newEndpoint("wh_1")) // webhook.created itself sends nothing
	if got := outbox(t, s); len(got) != 0 {
		t.Fatalf("outbox = %+v, want empty", got)
	}
}

func testWebhookOutboxAtomic(t *testing.T, s auth.Store) {
	k := newKey("key_1")
	mustCreate(t, s, k)
	// A second key with the same ID: the insert fails, so its key.created
	// event must not reach the outbox.
	err := s.CreateAPIKey(t.Context(), newKey("key_1"), event(auth.EventKeyCreated, "key_1", base))
	if auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("duplicate CreateAPIKey: %v, want ECONFLICT", err)
	}
	// A rotation whose new key collides rolls back too.
	_, err = s.RotateAPIKey(t.Context(), k.ID, newKey("key_1"), at(time.Hour),
		event(auth.EventKeyRotated, k.ID, at(time.Hour)), event(auth.EventKeyCreated, "key_1", at(time.Hour)))
	if err == nil {
		t.Fatal("rotating onto an existing ID succeeded")
	}
	if got := outbox(t, s); len(got) != 0 {
		t.Fatalf("outbox after failed changes = %+v, want empty", got)
	}
}

func testWebhookDispatch(t *testing.T, s auth.Store) {
	mustEndpoint(t, s, newEndpoint("wh_1"))
	for i := range 3 {
		k := newKey(fmt.Sprintf("key_%d", i))
		mustCreate(t, s, k)
		if _, err := s.RevokeAPIKey(t.Context(), k.ID, at(time.Hour), event(auth.EventKeyRevoked, k.ID, at(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	evs := outbox(t, s)
	if len(evs) != 3 {
		t.Fatalf("outbox holds %d events, want 3", len(evs))
	}
	ids := []string{evs[0].ID, evs[1].ID}
	ds := []*auth.WebhookDelivery{newDelivery("dlv_1", "wh_1", evs[0].ID, at(time.Hour)), newDelivery("dlv_2", "wh_1", evs[1].ID, at(time.Hour))}
	if err := s.DispatchWebhookEvents(t.Context(), ids, ds); err != nil {
		t.Fatalf("DispatchWebhookEvents: %v", err)
	}
	left := outbox(t, s)
	if len(left) != 1 || left[0].ID != evs[2].ID {
		t.Fatalf("outbox after dispatch = %+v, want only %s", left, evs[2].ID)
	}
	got, err := s.GetWebhookDelivery(t.Context(), "wh_1", "dlv_1")
	if err != nil {
		t.Fatalf("GetWebhookDelivery: %v", err)
	}
	wantSame(t, "delivery", ds[0], got)

	// Another dispatcher holding the same (now dispatched) event, together
	// with a fresh one: conflict, and the fresh one stays in the outbox.
	err = s.DispatchWebhookEvents(t.Context(), []string{evs[2].ID, evs[0].ID},
		[]*auth.WebhookDelivery{newDelivery("dlv_3", "wh_1", evs[2].ID, at(time.Hour))})
	if auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("dispatching a dispatched event: %v, want ECONFLICT", err)
	}
	if left := outbox(t, s); len(left) != 1 {
		t.Fatalf("a refused dispatch changed the outbox: %+v", left)
	}
	if _, err := s.GetWebhookDelivery(t.Context(), "wh_1", "dlv_3"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("a refused dispatch inserted its delivery: %v", err)
	}
	// An event no endpoint wants is dispatched into nothing.
	if err := s.DispatchWebhookEvents(t.Context(), []string{evs[2].ID}, nil); err != nil {
		t.Fatalf("dispatch without deliveries: %v", err)
	}
	if left := outbox(t, s); len(left) != 0 {
		t.Fatalf("outbox = %+v, want empty", left)
	}
}

func testWebhookDeliveries(t *testing.T, s auth.Store) {
	mustEndpoint(t, s, newEndpoint("wh_1"), newEndpoint("wh_2"))
	var ds []*auth.WebhookDelivery
	for i := range 5 {
		ds = append(ds, newDelivery(fmt.Sprintf("dlv_%d", i), "wh_1", fmt.Sprintf("msg_%d", i), at(time.Duration(5-i)*time.Minute)))
	}
	ds = append(ds, newDelivery("dlv_x", "wh_2", "msg_0", at(0)))
	if err := s.DispatchWebhookEvents(t.Context(), nil, ds); err != nil {
		t.Fatalf("DispatchWebhookEvents: %v", err)
	}
	due, err := s.DueWebhookDeliveries(t.Context(), at(3*time.Minute), 10, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range due {
		ids = append(ids, d.ID)
	}
	wantStrings(t, "due", ids, []string{"dlv_x", "dlv_4", "dlv_3", "dlv_2"})

	d := ds[4].Clone()
	d.State = auth.DeliverySucceeded
	d.Attempts = 2
	d.NextAttemptAt = time.Time{}
	d.LastAttemptAt = at(4 * time.Minute)
	d.StatusCode = 204
	d.Latency = 1500 * time.Microsecond
	d.LastError = "ok ✓"
	if err := s.UpdateWebhookDelivery(t.Context(), d); err != nil {
		t.Fatalf("UpdateWebhookDelivery: %v", err)
	}
	got, _ := s.GetWebhookDelivery(t.Context(), "wh_1", d.ID)
	wantSame(t, "updated delivery", d, got)
	due, _ = s.DueWebhookDeliveries(t.Context(), at(time.Hour), 10, 10, nil)
	if len(due) != 5 || slices.ContainsFunc(due, func(x *auth.WebhookDelivery) bool { return x.ID == d.ID }) {
		t.Fatalf("due after success = %d deliveries, want 5 without %s", len(due), d.ID)
	}
	if _, err := s.GetWebhookDelivery(t.Context(), "wh_2", "dlv_1"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("another endpoint's delivery: %v, want ENOTFOUND", err)
	}

	var pages []string
	before := ""
	for range 5 {
		page, next, err := s.ListWebhookDeliveries(t.Context(), auth.WebhookDeliveryFilter{EndpointID: "wh_1", Before: before, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page {
			pages = append(pages, x.ID)
		}
		if next == "" {
			break
		}
		before = next
	}
	wantStrings(t, "listed", pages, []string{"dlv_4", "dlv_3", "dlv_2", "dlv_1", "dlv_0"})
}

func testWebhookDeleteCascades(t *testing.T, s auth.Store) {
	mustEndpoint(t, s, newEndpoint("wh_1"))
	if err := s.DispatchWebhookEvents(t.Context(), nil, []*auth.WebhookDelivery{newDelivery("dlv_1", "wh_1", "msg_1", base)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhookEndpoint(t.Context(), "wh_1"); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.DueWebhookDeliveries(t.Context(), at(time.Hour), 10, 10, nil); len(due) != 0 {
		t.Fatalf("deliveries of a deleted endpoint are still due: %d", len(due))
	}
	// A delivery for an endpoint that does not exist cannot be inserted.
	if err := s.DispatchWebhookEvents(t.Context(), nil, []*auth.WebhookDelivery{newDelivery("dlv_2", "wh_1", "msg_1", base)}); err == nil {
		t.Fatal("a delivery to a deleted endpoint was inserted")
	}
}

func testWebhookPrune(t *testing.T, s auth.Store) {
	mustEndpoint(t, s, newEndpoint("wh_1"))
	old := newDelivery("dlv_1", "wh_1", "msg_1", time.Time{})
	old.State = auth.DeliverySucceeded
	failed := newDelivery("dlv_2", "wh_1", "msg_2", time.Time{})
	failed.State = auth.DeliveryFailed
	pending := newDelivery("dlv_3", "wh_1", "msg_3", base)
	recent := newDelivery("dlv_4", "wh_1", "msg_4", time.Time{})
	recent.State, recent.CreatedAt = auth.DeliverySucceeded, at(2*time.Hour)
	if err := s.DispatchWebhookEvents(t.Context(), nil, []*auth.WebhookDelivery{old, failed, pending, recent}); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteFinishedWebhookDeliveries(t.Context(), at(time.Hour), 1)
	if err != nil || n != 1 {
		t.Fatalf("first delete = %d, %v; want 1 (the limit)", n, err)
	}
	n, err = s.DeleteFinishedWebhookDeliveries(t.Context(), at(time.Hour), 100)
	if err != nil || n != 1 {
		t.Fatalf("second delete = %d, %v; want 1", n, err)
	}
	page, _, err := s.ListWebhookDeliveries(t.Context(), auth.WebhookDeliveryFilter{EndpointID: "wh_1"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range page {
		ids = append(ids, d.ID)
	}
	wantStrings(t, "left", ids, []string{"dlv_4", "dlv_3"})
}

func testWebhookHealth(t *testing.T, s auth.Store) {
	e := newEndpoint("wh_1")
	mustEndpoint(t, s, e)
	if err := s.SetWebhookEndpointHealth(t.Context(), e.ID, at(time.Minute), at(time.Hour), "failing for 3 days",
		oev(auth.EventWebhookDisabled, at(time.Hour))); err != nil {
		t.Fatalf("SetWebhookEndpointHealth: %v", err)
	}
	got, _ := s.GetWebhookEndpoint(t.Context(), e.ID)
	want := e.Clone()
	want.FailingSince, want.DisabledAt, want.DisabledReason = at(time.Minute), at(time.Hour), "failing for 3 days"
	wantSame(t, "endpoint", want, got)
	if got.Enabled() {
		t.Error("a disabled endpoint reports Enabled")
	}
	// A disabled endpoint's health is left alone: the dispatcher must not
	// undo an operator's (or its own) disabling.
	err := s.SetWebhookEndpointHealth(t.Context(), e.ID, time.Time{}, time.Time{}, "", oev(auth.EventWebhookUpdated, at(2*time.Hour)))
	if auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("health of a disabled endpoint: %v, want ECONFLICT", err)
	}
	got, _ = s.GetWebhookEndpoint(t.Context(), e.ID)
	wantSame(t, "endpoint after a refused health change", want, got)
	events, _, _ := s.ListAuditEvents(t.Context(), auth.AuditFilter{Type: auth.EventWebhookUpdated})
	if len(events) != 0 {
		t.Fatalf("a refused health change appended %d events", len(events))
	}
}

func testWebhookLease(t *testing.T, s auth.Store) {
	ctx := t.Context()
	acquire := func(holder string, now time.Time) bool {
		t.Helper()
		ok, err := s.AcquireWebhookLease(ctx, "webhooks", holder, now, 30*time.Second)
		if err != nil {
			t.Fatalf("AcquireWebhookLease(%s): %v", holder, err)
		}
		return ok
	}
	if !acquire("a", base) {
		t.Fatal("a could not take a free lease")
	}
	if acquire("b", at(10*time.Second)) {
		t.Fatal("b took a's unexpired lease")
	}
	if !acquire("a", at(20*time.Second)) {
		t.Fatal("a could not renew its lease")
	}
	if acquire("b", at(49*time.Second)) {
		t.Fatal("b took a's renewed lease before it expired")
	}
	if !acquire("b", at(51*time.Second)) {
		t.Fatal("b could not take the expired lease")
	}
	if acquire("a", at(52*time.Second)) {
		t.Fatal("a took the lease back from b")
	}
	if err := s.ReleaseWebhookLease(ctx, "webhooks", "a"); err != nil {
		t.Fatal(err)
	}
	if acquire("a", at(53*time.Second)) {
		t.Fatal("a's release of a lease it did not hold freed it")
	}
	if err := s.ReleaseWebhookLease(ctx, "webhooks", "b"); err != nil {
		t.Fatal(err)
	}
	if !acquire("a", at(54*time.Second)) {
		t.Fatal("a could not take a released lease")
	}
	// Two holders racing for a free lease: exactly one wins.
	errs := parallel(8, func(i int) error {
		ok, err := s.AcquireWebhookLease(ctx, "race", fmt.Sprintf("n%d", i), base, time.Minute)
		if err != nil {
			return err
		}
		if !ok {
			return errLost
		}
		return nil
	})
	won := 0
	for _, err := range errs {
		switch err {
		case nil:
			won++
		case errLost:
		default:
			t.Fatalf("racing acquire: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d holders won the lease, want 1", won)
	}
}

var errLost = fmt.Errorf("lease held by another")

// testWebhookConcurrentUpdates: updates read the endpoint as the update
// before them left it, so none is lost (a PATCH racing a disabling, two
// rotations racing each other).
func testWebhookConcurrentUpdates(t *testing.T, s auth.Store) {
	mustEndpoint(t, s, newEndpoint("wh_1"))
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateWebhookEndpoint(t.Context(), "wh_1", func(e *auth.WebhookEndpoint) ([]auth.AuditEvent, error) {
				e.Description += fmt.Sprint(i)
				e.PreviousSecret, e.Secret = e.Secret, []byte(fmt.Sprint("secret ", i))
				return []auth.AuditEvent{oev(auth.EventWebhookUpdated, at(time.Hour))}, nil
			})
			if err != nil {
				t.Errorf("UpdateWebhookEndpoint %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got, err := s.GetWebhookEndpoint(t.Context(), "wh_1")
	if err != nil {
		t.Fatal(err)
	}
	digits := strings.TrimPrefix(got.Description, newEndpoint("wh_1").Description)
	if len(digits) != n {
		t.Fatalf("description %q after %d concurrent appends: updates were lost", got.Description, n)
	}
	last := digits[n-1:]
	prev := digits[n-2 : n-1]
	if string(got.Secret) != "secret "+last || string(got.PreviousSecret) != "secret "+prev {
		t.Fatalf("secret %q, previous %q; want the last rotation's on top of the one before (%s then %s)",
			got.Secret, got.PreviousSecret, prev, last)
	}
}

// testWebhookDueFair: a backlog of one endpoint does not fill the due
// batch, and deferring an endpoint moves only its pending deliveries due
// before the new time.
func testWebhookDueFair(t *testing.T, s auth.Store) {
	mustEndpoint(t, s, newEndpoint("wh_a"), newEndpoint("wh_b"))
	var ds []*auth.WebhookDelivery
	for i := range 40 {
		ds = append(ds, newDelivery(fmt.Sprintf("dlv_a%02d", i), "wh_a", fmt.Sprintf("msg_%d", i), at(time.Duration(i)*time.Millisecond)))
	}
	ds = append(ds, newDelivery("dlv_b", "wh_b", "msg_0", at(time.Second)))
	late := newDelivery("dlv_a_late", "wh_a", "msg_late", at(time.Hour))
	done := newDelivery("dlv_a_done", "wh_a", "msg_done", time.Time{})
	done.State = auth.DeliverySucceeded
	ds = append(ds, late, done)
	if err := s.DispatchWebhookEvents(t.Context(), nil, ds); err != nil {
		t.Fatalf("DispatchWebhookEvents: %v", err)
	}
	due, err := s.DueWebhookDeliveries(t.Context(), at(time.Minute), 16, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range due {
		ids = append(ids, d.ID)
	}
	wantStrings(t, "due, at most 4 of an endpoint", ids, []string{"dlv_a00", "dlv_a01", "dlv_a02", "dlv_a03", "dlv_b"})

	n, err := s.DeferWebhookDeliveries(t.Context(), "wh_a", at(30*time.Minute))
	if err != nil || n != 40 {
		t.Fatalf("DeferWebhookDeliveries = %d, %v; want 40 (not the later one, not the finished one)", n, err)
	}
	due, _ = s.DueWebhookDeliveries(t.Context(), at(time.Minute), 16, 4, nil)
	if len(due) != 1 || due[0].ID != "dlv_b" {
		t.Fatalf("due after deferring wh_a = %d deliveries, want only dlv_b", len(due))
	}
	for _, id := range []string{"dlv_a00", "dlv_a39"} {
		if d, _ := s.GetWebhookDelivery(t.Context(), "wh_a", id); d == nil || !d.NextAttemptAt.Equal(at(30*time.Minute)) || d.State != auth.DeliveryPending {
			t.Fatalf("%s after deferring: %+v", id, d)
		}
	}
	if d, _ := s.GetWebhookDelivery(t.Context(), "wh_a", "dlv_a_late"); !d.NextAttemptAt.Equal(at(time.Hour)) {
		t.Fatalf("a delivery due after the deferral moved to %v", d.NextAttemptAt)
	}
	if d, _ := s.GetWebhookDelivery(t.Context(), "wh_a", "dlv_a_done"); d.State != auth.DeliverySucceeded || !d.NextAttemptAt.IsZero() {
		t.Fatalf("a finished delivery changed: %+v", d)
	}
}

// testWebhookDueSkip: deliveries of skipped endpoints do not count
// against the limit, so busy endpoints cannot fill the batch.
func testWebhookDueSkip(t *testing.T, s auth.Store) {
	ids := []string{"wh_a", "wh_b", "wh_c", "wh_d", "wh_e"}
	var eps []*auth.WebhookEndpoint
	for _, id := range ids {
		eps = append(eps, newEndpoint(id))
	}
	mustEndpoint(t, s, eps...)
	var ds []*auth.WebhookDelivery
	for _, ep := range ids[:4] {
		for i := range 4 {
			ds = append(ds, newDelivery(fmt.Sprintf("dlv_%s%d", ep, i), ep, fmt.Sprintf("msg_%d", i), at(time.Duration(i)*time.Millisecond)))
		}
	}
	ds = append(ds, newDelivery("dlv_e", "wh_e", "msg_0", at(time.Second)))
	if err := s.DispatchWebhookEvents(t.Context(), nil, ds); err != nil {
		t.Fatalf("DispatchWebhookEvents: %v", err)
	}
	due, err := s.DueWebhookDeliveries(t.Context(), at(time.Minute), 16, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 16 || slices.ContainsFunc(due, func(d *auth.WebhookDelivery) bool { return d.EndpointID == "wh_e" }) {
		t.Fatalf("due without skipping = %d deliveries; want 16, none of wh_e (the premise of this test)", len(due))
	}
	due, err = s.DueWebhookDeliveries(t.Context(), at(time.Minute), 16, 4, []string{"wh_a", "wh_b", "wh_c", "wh_d"})
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].ID != "dlv_e" {
		t.Fatalf("due skipping the four busy endpoints = %d deliveries, want only dlv_e", len(due))
	}
	due, _ = s.DueWebhookDeliveries(t.Context(), at(time.Minute), 16, 4, []string{"wh_a", "wh_missing"})
	if len(due) != 13 || slices.ContainsFunc(due, func(d *auth.WebhookDelivery) bool { return d.EndpointID == "wh_a" }) {
		t.Fatalf("due skipping wh_a = %d deliveries, want 13 without wh_a", len(due))
	}
}

// testWebhookRecordAttempt: an attempt's outcome is written only while
// the delivery is pending with the attempts it was read with; a stale
// outcome never overwrites a newer one, least of all a success.
func testWebhookRecordAttempt(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mustEndpoint(t, s, newEndpoint("wh_1"))
	read := newDelivery("dlv_1", "wh_1", "msg_1", base)
	if err := s.DispatchWebhookEvents(ctx, nil, []*auth.WebhookDelivery{read}); err != nil {
		t.Fatal(err)
	}
	// Two attempts made from the same copy: the first to finish succeeds.
	won := read.Clone()
	won.State, won.Attempts, won.NextAttemptAt = auth.DeliverySucceeded, 1, time.Time{}
	won.LastAttemptAt, won.StatusCode, won.Latency = at(time.Second), 204, time.Millisecond
	if ok, err := s.RecordWebhookAttempt(ctx, won, read.Attempts); err != nil || !ok {
		t.Fatalf("RecordWebhookAttempt = %v, %v; want true", ok, err)
	}
	lost := read.Clone()
	lost.Attempts, lost.NextAttemptAt, lost.LastAttemptAt = 1, at(time.Minute), at(2*time.Second)
	lost.StatusCode, lost.LastError = 500, "boom"
	if ok, err := s.RecordWebhookAttempt(ctx, lost, read.Attempts); err != nil || ok {
		t.Fatalf("stale RecordWebhookAttempt = %v, %v; want false, nil", ok, err)
	}
	got, _ := s.GetWebhookDelivery(ctx, "wh_1", "dlv_1")
	wantSame(t, "delivery after a stale attempt", won, got)

	// Pending again (an operator's retry) with 1 attempt: an outcome read
	// with 0 attempts is stale, one read with 1 is not.
	retried := got.Clone()
	retried.State, retried.NextAttemptAt = auth.DeliveryPending, at(time.Hour)
	if err := s.UpdateWebhookDelivery(ctx, retried); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.RecordWebhookAttempt(ctx, lost, 0); err != nil || ok {
		t.Fatalf("RecordWebhookAttempt with an old attempt count = %v, %v; want false, nil", ok, err)
	}
	next := retried.Clone()
	next.Attempts, next.NextAttemptAt, next.StatusCode, next.LastError = 2, at(2*time.Hour), 502, "bad gateway"
	if ok, err := s.RecordWebhookAttempt(ctx, next, 1); err != nil || !ok {
		t.Fatalf("RecordWebhookAttempt = %v, %v; want true", ok, err)
	}
	got, _ = s.GetWebhookDelivery(ctx, "wh_1", "dlv_1")
	wantSame(t, "delivery after a second attempt", next, got)

	// A delivery that is gone, or of another endpoint: false, no error.
	other := next.Clone()
	other.EndpointID = "wh_2"
	if ok, err := s.RecordWebhookAttempt(ctx, other, 2); err != nil || ok {
		t.Fatalf("RecordWebhookAttempt of another endpoint = %v, %v; want false, nil", ok, err)
	}
	missing := newDelivery("dlv_missing", "wh_1", "msg_1", base)
	if ok, err := s.RecordWebhookAttempt(ctx, missing, 0); err != nil || ok {
		t.Fatalf("RecordWebhookAttempt of a missing delivery = %v, %v; want false, nil", ok, err)
	}
}
