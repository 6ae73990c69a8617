package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// newWebhookEnv is the test stack with the webhook service, which refuses
// private destinations unless allowPrivate.
func newWebhookEnv(t *testing.T, allowPrivate bool) *testEnv {
	t.Helper()
	env := newTestEnv(t)
	key, err := webhook.DeriveSealingKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := signing.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := webhook.NewService(webhook.ServiceConfig{Store: env.db, Sealer: sealer, AllowPrivate: allowPrivate, Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Keys: env.keys, Audit: env.db, Webhooks: svc, Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	env.server, env.ts = srv, ts
	env.client = NewClient(ts.URL, env.adminKey, ts.Client())
	return env
}

func TestWebhookEndpointLifecycle(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t, false)
	ctx := context.Background()
	before, _ := env.db.ListWebhookOutbox(ctx, 100) // the admin key's key.created
	created, err := env.client.CreateWebhook(ctx, WebhookRequest{
		URL: "https://hooks.example.com/gatehouse", Events: []string{"key.revoked", "key.leaked", "key.revoked"}, Description: "alerts",
	})
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") || created.Status != WebhookEnabled ||
		strings.Join(created.Events, ",") != "key.leaked,key.revoked" || !strings.HasPrefix(created.ID, "wh_") {
		t.Fatalf("created = %+v", created)
	}
	resp, body := env.do(t, http.MethodGet, "/admin/v1/webhooks/"+created.ID, "", nil, env.adminHeader())
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "secret\"") ||
		strings.Contains(string(body), strings.TrimPrefix(created.Secret, "whsec_")) {
		t.Fatalf("GET: %d %s; want the endpoint without its secret", resp.StatusCode, body)
	}
	list, err := env.client.ListWebhooks(ctx)
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != created.ID {
		t.Fatalf("ListWebhooks = %+v, %v", list, err)
	}

	off, desc := false, ""
	updated, err := env.client.UpdateWebhook(ctx, created.ID, WebhookPatch{Enabled: Some(off), Description: Some(desc)})
	if err != nil || updated.Status != WebhookDisabled || updated.DisabledReason == "" || updated.Description != "" ||
		updated.URL != created.URL {
		t.Fatalf("disable: %+v, %v", updated, err)
	}
	on := true
	if updated, err = env.client.UpdateWebhook(ctx, created.ID, WebhookPatch{Enabled: Some(on)}); err != nil || updated.Status != WebhookEnabled || updated.DisabledReason != "" {
		t.Fatalf("enable: %+v, %v", updated, err)
	}
	// "description": null clears it, as in JSON merge patch.
	if updated, err = env.client.UpdateWebhook(ctx, created.ID, WebhookPatch{Description: Some("again")}); err != nil || updated.Description != "again" {
		t.Fatalf("describe: %+v, %v", updated, err)
	}
	resp, body = env.do(t, http.MethodPatch, "/admin/v1/webhooks/"+created.ID, "application/json",
		strings.NewReader(`{"description": null}`), env.adminHeader())
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"again"`) {
		t.Fatalf("PATCH description null: %d %s, want it cleared", resp.StatusCode, body)
	}
	if got, err := env.client.GetWebhook(ctx, created.ID); err != nil || got.Description != "" || got.URL != created.URL || got.Status != WebhookEnabled {
		t.Fatalf("after description null: %+v, %v; want the description cleared and nothing else changed", got, err)
	}

	rotated, err := env.client.RotateWebhookSecret(ctx, created.ID)
	if err != nil || rotated.Secret == created.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") ||
		!rotated.PreviousSecretExpiresAt.Equal(env.clock.Now().Add(auth.WebhookSecretOverlap)) {
		t.Fatalf("rotate: %+v, %v", rotated, err)
	}

	ds, err := env.client.ListWebhookDeliveries(ctx, created.ID, WebhookDeliveriesParams{})
	if err != nil || len(ds.Items) != 0 {
		t.Fatalf("deliveries = %+v, %v", ds, err)
	}
	if _, err := env.client.RetryWebhookDelivery(ctx, created.ID, "dlv_nope"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("retry of an unknown delivery: %v, want not found", err)
	}
	if err := env.client.DeleteWebhook(ctx, created.ID); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if _, err := env.client.GetWebhook(ctx, created.ID); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := env.client.ListWebhookDeliveries(ctx, created.ID, WebhookDeliveriesParams{}); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("deliveries after delete: %v", err)
	}

	// Every change is audited, without the secret; none sends a webhook.
	events, _, err := env.db.ListAuditEvents(ctx, auth.AuditFilter{KeyID: created.ID})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
		raw, _ := json.Marshal(e)
		for _, s := range []string{created.Secret, rotated.Secret} {
			if strings.Contains(string(raw), strings.TrimPrefix(s, "whsec_")) {
				t.Errorf("audit event %s holds a secret", e.Type)
			}
		}
	}
	want := "webhook.created,webhook.updated,webhook.updated,webhook.updated,webhook.updated,webhook.secret_rotated,webhook.deleted"
	if strings.Join(types, ",") != want {
		t.Errorf("audit events %v, want %s", types, want)
	}
	if out, _ := env.db.ListWebhookOutbox(ctx, 100); len(out) != len(before) {
		t.Errorf("webhook changes wrote %d outbox events", len(out)-len(before))
	}
}

func TestWebhookBadInputIs400AndStoresNothing(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t, false)
	ctx := context.Background()
	good, err := env.client.CreateWebhook(ctx, WebhookRequest{URL: "https://hooks.example.com/", Events: []string{"key.revoked"}})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 3000)
	for name, body := range map[string]string{
		"not http":              `{"url": "ftp://example.com/", "events": ["key.revoked"]}`,
		"javascript":            `{"url": "javascript:alert(1)", "events": ["key.revoked"]}`,
		"file":                  `{"url": "file:///etc/passwd", "events": ["key.revoked"]}`,
		"relative":              `{"url": "/hook", "events": ["key.revoked"]}`,
		"user info":             `{"url": "https://user:pass@example.com/", "events": ["key.revoked"]}`,
		"over-long URL":         `{"url": "https://example.com/` + long + `", "events": ["key.revoked"]}`,
		"over-long description": `{"url": "https://example.com/", "events": ["key.revoked"], "description": "` + long + `"}`,
		"unknown event":         `{"url": "https://example.com/", "events": ["key.exploded"]}`,
		"audit-only event":      `{"url": "https://example.com/", "events": ["key.verification_failed"]}`,
		"no events":             `{"url": "https://example.com/", "events": []}`,
		"events missing":        `{"url": "https://example.com/"}`,
		"events not a list":     `{"url": "https://example.com/", "events": "key.revoked"}`,
		"unknown member":        `{"url": "https://example.com/", "events": ["key.revoked"], "secret": "whsec_x"}`,
		"loopback":              `{"url": "http://127.0.0.1:8080/", "events": ["key.revoked"]}`,
		"localhost":             `{"url": "http://localhost/", "events": ["key.revoked"]}`,
		"metadata":              `{"url": "http://169.254.169.254/latest/", "events": ["key.revoked"]}`,
		"private":               `{"url": "http://10.0.0.7/", "events": ["key.revoked"]}`,
		"IPv6 loopback":         `{"url": "http://[::1]/", "events": ["key.revoked"]}`,
		"not JSON":              `url=https://example.com/`,
	} {
		resp, data := env.do(t, http.MethodPost, "/admin/v1/webhooks", "application/json", strings.NewReader(body), env.adminHeader())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want a 400 problem", name, resp.StatusCode, data)
		}
	}
	for name, body := range map[string]string{
		"bad URL":        `{"url": "gopher://example.com/"}`,
		"no events":      `{"events": []}`,
		"unknown event":  `{"events": ["nope"]}`,
		"private":        `{"url": "http://192.168.1.1/"}`,
		"enabled string": `{"enabled": "yes"}`,
	} {
		resp, data := env.do(t, http.MethodPatch, "/admin/v1/webhooks/"+good.ID, "application/json", strings.NewReader(body), env.adminHeader())
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("PATCH %s: %d %s, want 400", name, resp.StatusCode, data)
		}
	}
	// null cannot remove a URL, the events or the state: it is refused,
	// naming the member, not read as "unchanged".
	for _, member := range []string{"url", "events", "enabled"} {
		body := `{"` + member + `": null, "description": "changed"}`
		resp, data := env.do(t, http.MethodPatch, "/admin/v1/webhooks/"+good.ID, "application/json", strings.NewReader(body), env.adminHeader())
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), `\"`+member+`\"`) {
			t.Errorf("PATCH %s: %d %s, want 400 naming %q", body, resp.StatusCode, data, member)
		}
	}
	list, err := env.client.ListWebhooks(ctx)
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("endpoints after bad input = %+v, %v; want only the good one", list, err)
	}
	if got := list.Items[0]; got.URL != good.URL || strings.Join(got.Events, ",") != "key.revoked" || got.UpdatedAt != good.UpdatedAt {
		t.Fatalf("a refused PATCH changed the endpoint: %+v", got)
	}
	events, _, _ := env.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventWebhookCreated})
	if len(events) != 1 {
		t.Fatalf("%d webhook.created events, want 1", len(events))
	}
}

func TestWebhookRoutesAre404WithoutTheService(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	_, err := env.client.ListWebhooks(context.Background())
	var pe *ProblemError
	if !errors.As(err, &pe) || pe.Status != http.StatusNotFound {
		t.Fatalf("ListWebhooks without the service: %v, want 404", err)
	}
}

// TestWebhookWireFormatGolden pins the JSON of the webhook documents, as
// TestWireFormatGolden does for the others (updated with -update).
func TestWebhookWireFormatGolden(t *testing.T) {
	t.Parallel()
	now := testStart
	sealed := []byte("sealed-secret-bytes")
	full := &auth.WebhookEndpoint{
		ID: "wh_06tm024rl09mmgso", URL: "https://hooks.example.com/gatehouse", Events: []string{"key.leaked", "key.revoked"},
		Description: "security alerts", Secret: sealed, PreviousSecret: sealed, PreviousSecretExpiresAt: now.Add(24 * time.Hour),
		DisabledAt: now, DisabledReason: "Disabled by an operator.", FailingSince: now.Add(-time.Hour),
		CreatedAt: now.Add(-48 * time.Hour), UpdatedAt: now,
	}
	minimal := &auth.WebhookEndpoint{ID: "wh_06tm024rl0l7gs1a", URL: "https://example.com/", Events: []string{"route.changed"},
		Secret: sealed, CreatedAt: now, UpdatedAt: now}
	cases := map[string]any{
		"webhook_full":    webhookFromRecord(full, now),
		"webhook_created": CreatedWebhook{Webhook: webhookFromRecord(minimal, now), Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		"webhook_list":    WebhookList{Items: []Webhook{webhookFromRecord(minimal, now)}},
		"webhook_deliveries": WebhookDeliveryList{Items: []WebhookDelivery{
			deliveryFromRecord(&auth.WebhookDelivery{ID: "dlv_2", EndpointID: minimal.ID, EventID: "msg_2", EventType: "key.revoked",
				EventTime: now, Payload: []byte("{}"), State: auth.DeliveryPending, Attempts: 2, StatusCode: 503,
				Latency: 12345 * time.Microsecond, LastAttemptAt: now, NextAttemptAt: now.Add(30 * time.Second),
				LastError: "Service Unavailable", CreatedAt: now}),
			deliveryFromRecord(&auth.WebhookDelivery{ID: "dlv_1", EndpointID: minimal.ID, EventID: "msg_1", EventType: "key.created",
				EventTime: now, State: auth.DeliverySucceeded, Attempts: 1, StatusCode: 204, Latency: time.Millisecond,
				LastAttemptAt: now, CreatedAt: now}),
		}, NextCursor: "dlv_1"},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			if bytes.Contains(got, sealed) || bytes.Contains(got, []byte(base64.StdEncoding.EncodeToString(sealed))) {
				t.Errorf("the sealed secret is on the wire: %s", got)
			}
			path := filepath.Join("testdata", "wire", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n%s", name, path, got)
			}
		})
	}
}
