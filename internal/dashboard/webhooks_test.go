package dashboard

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var webhookSecretRe = regexp.MustCompile(`data-secret>(whsec_[^<]+)</code>`)

// webhookSecretOf returns the secret shown once on p.
func webhookSecretOf(t *testing.T, p *response) string {
	t.Helper()
	m := webhookSecretRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no secret in a data-secret element:\n%s", p.body)
	}
	return html.UnescapeString(m[1])
}

func TestWebhookFormRefusesBadInputInline(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	tests := []struct {
		name, field, message string
		form                 url.Values
	}{
		{"a URL that is not http", "url", "The webhook URL must be an absolute http or https URL.",
			url.Values{"url": {"ftp://hooks.example"}, "events": {"key.created"}, "description": {"kept"}}},
		{"no event", "events", "At least one event type is required",
			url.Values{"url": {"https://hooks.example/in"}, "description": {"kept"}}},
		{"an unknown event", "events", `Unknown event type "key.eaten"`,
			url.Values{"url": {"https://hooks.example/in"}, "events": {"key.eaten"}, "description": {"kept"}}},
	}
	for _, tt := range tests {
		p := b.post("/dashboard/webhooks", tt.form)
		if p.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tt.name, p.StatusCode)
			continue
		}
		if !strings.Contains(html.UnescapeString(p.body), tt.message) || !strings.Contains(p.body, `id="`+tt.field+`-error"`) {
			t.Errorf("%s: the message %q is not shown on %s:\n%s", tt.name, tt.message, tt.field, p.body)
		}
		if !strings.Contains(p.body, `value="kept"`) {
			t.Errorf("%s: the description entered is lost", tt.name)
		}
		if strings.Contains(p.body, "data-secret") {
			t.Errorf("%s: a secret is shown", tt.name)
		}
	}
	if es, err := h.Webhooks.List(context.Background()); err != nil || len(es) != 0 {
		t.Errorf("refused forms stored endpoints: %v %v", es, err)
	}
}

func TestWebhookLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	ctx := context.Background()
	script, img := `<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`

	p := b.get("/dashboard/webhooks")
	miscStatus(t, p, http.StatusOK)
	p.form(`action="/dashboard/webhooks"`)
	hookURL := "http://127.0.0.1:1/hook?x=" + img + script
	p = b.post("/dashboard/webhooks", url.Values{
		"url": {hookURL}, "events": {auth.WebhookKeyCreated, auth.WebhookKeyRevoked}, "description": {"<b>" + script + img},
	})
	miscStatus(t, p, http.StatusCreated)
	secret := webhookSecretOf(t, p)
	miscInert(t, p.body, img+script) // the URL
	if !strings.Contains(p.body, "you will not see it again") {
		t.Error("the secret is not said to be shown once")
	}
	es, err := h.Webhooks.List(ctx)
	if err != nil || len(es) != 1 {
		t.Fatalf("endpoints: %v %v", es, err)
	}
	e := es[0]
	if e.URL != hookURL || e.Description != "<b>"+script+img || !slices.Equal(e.Events, []string{auth.WebhookKeyCreated, auth.WebhookKeyRevoked}) {
		t.Errorf("stored %+v", e)
	}

	p = b.get("/dashboard/webhooks")
	miscStatus(t, p, http.StatusOK)
	if strings.Contains(html.UnescapeString(p.body), secret) || strings.Contains(p.body, "data-secret") {
		t.Error("the list shows the secret again")
	}
	if !strings.Contains(p.body, `href="/dashboard/webhooks/`+e.ID+`"`) || !strings.Contains(p.body, `class="badge enabled"`) {
		t.Errorf("the list lacks the endpoint:\n%s", p.body)
	}
	miscInert(t, p.body, img+script, "<b>"+script+img)

	detail := "/dashboard/webhooks/" + e.ID
	p = b.get(detail)
	miscStatus(t, p, http.StatusOK)
	if strings.Contains(html.UnescapeString(p.body), secret) {
		t.Error("the detail page shows the secret")
	}
	miscInert(t, p.body, img+script, "<b>"+script+img)

	// Edit: the description, the events, and disabling.
	f := p.form(`action="` + detail + `"`)
	if !slices.Equal(f.fields["events"], []string{auth.WebhookKeyCreated, auth.WebhookKeyRevoked}) || f.fields.Get("enabled") != "1" {
		t.Errorf("the edit form holds %v", f.fields)
	}
	f.fields.Set("description", "billing")
	f.fields["events"] = []string{auth.WebhookKeyRotated}
	f.fields.Del("enabled")
	p = b.post(detail, f.fields)
	miscStatus(t, p, http.StatusSeeOther)
	if e, err = h.Webhooks.Get(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if e.Description != "billing" || !slices.Equal(e.Events, []string{auth.WebhookKeyRotated}) || e.Enabled() {
		t.Errorf("after the edit: %+v", e)
	}
	if p = b.follow(p); !strings.Contains(p.body, `class="badge disabled"`) {
		t.Error("the endpoint is not shown disabled")
	}
	// A bad change comes back inline, nothing written.
	f.fields.Set("url", "gopher://x")
	p = b.post(detail, f.fields)
	miscStatus(t, p, http.StatusBadRequest)
	if !strings.Contains(p.body, `id="url-error"`) || !strings.Contains(p.body, `value="gopher://x"`) {
		t.Errorf("the refusal is not inline:\n%s", p.body)
	}
	if got, _ := h.Webhooks.Get(ctx, e.ID); got.URL != hookURL {
		t.Errorf("a refused edit changed the URL to %q", got.URL)
	}

	// Rotating shows the new secret once.
	p = b.post(detail+"/rotate-secret", nil)
	miscStatus(t, p, http.StatusOK)
	if s2 := webhookSecretOf(t, p); s2 == secret {
		t.Error("the rotated secret is the old one")
	}

	// A failed delivery, retried.
	now := h.Clock.Now()
	did, err := auth.NewID("dlv_", now)
	if err != nil {
		t.Fatal(err)
	}
	err = h.Store.DispatchWebhookEvents(ctx, nil, []*auth.WebhookDelivery{{
		ID: did, EndpointID: e.ID, EventID: "msg_1", EventType: auth.WebhookKeyRotated, EventTime: now,
		Payload: []byte(`{}`), State: auth.DeliveryFailed, Attempts: 9, StatusCode: 502, LastAttemptAt: now,
		LastError: script, CreatedAt: now,
	}})
	if err != nil {
		t.Fatal(err)
	}
	p = b.get(detail)
	miscStatus(t, p, http.StatusOK)
	retry := detail + "/deliveries/" + did + "/retry"
	for _, want := range []string{`class="badge failed"`, "key.rotated", "<td>9</td>", "<td>502</td>", `action="` + retry + `"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the delivery log lacks %s", want)
		}
	}
	miscInert(t, p.body, script)
	p = b.post(retry, nil)
	miscStatus(t, p, http.StatusSeeOther)
	if p = b.follow(p); !strings.Contains(p.body, "Queued for another attempt.") || !strings.Contains(p.body, `class="badge pending"`) {
		t.Errorf("the retried delivery is not shown pending:\n%s", p.body)
	}
	d, err := h.Store.GetWebhookDelivery(ctx, e.ID, did)
	if err != nil || d.State != auth.DeliveryPending {
		t.Errorf("after the retry: %+v %v", d, err)
	}
	evs, _, err := h.Store.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventWebhookDeliveryRetried, Actor: alice.ID})
	if err != nil || len(evs) != 1 {
		t.Errorf("retry events by the user: %v %v", evs, err)
	}
	miscStatus(t, b.post(detail+"/deliveries/dlv_nope/retry", nil), http.StatusNotFound)

	// Delete, after a confirmation.
	p = b.get(detail + "/delete")
	miscStatus(t, p, http.StatusOK)
	p.form(`action="` + detail + `/delete"`)
	p = b.post(detail+"/delete", nil)
	miscStatus(t, p, http.StatusSeeOther)
	if _, err := h.Webhooks.Get(ctx, e.ID); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Errorf("after the delete: %v", err)
	}
	miscStatus(t, b.get(detail), http.StatusNotFound)
}

func TestWebhookPagesAreForAdmins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("dev", auth.RoleDeveloper, "billing")
	b := h.signIn("dev")
	miscStatus(t, b.get("/dashboard/webhooks"), http.StatusForbidden)
	miscStatus(t, b.get("/dashboard/webhooks/wh_x"), http.StatusForbidden)
	p := b.post("/dashboard/webhooks", url.Values{"url": {"https://hooks.example"}, "events": {auth.WebhookKeyCreated}})
	miscStatus(t, p, http.StatusForbidden)
	if es, _ := h.Webhooks.List(context.Background()); len(es) != 0 {
		t.Error("a developer created an endpoint")
	}
}
