package dashboard

import (
	"context"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
)

// miscInert fails unless every payload appears in body only escaped.
func miscInert(t *testing.T, body string, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if strings.Contains(body, p) {
			t.Errorf("the payload %q is in the page unescaped", p)
		}
		if !strings.Contains(body, html.EscapeString(p)) {
			t.Errorf("the payload %q is not in the page (escaped as %q)", p, html.EscapeString(p))
		}
	}
}

// miscStatus fails unless the response has the status.
func miscStatus(t *testing.T, p *response, want int) {
	t.Helper()
	if p.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d\n%s", p.Request.Method, p.Request.URL, p.StatusCode, want, p.body)
	}
}

func TestSigningKeysPageListsTheKeysAndTheJWKS(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	p := b.get("/dashboard/signing-keys")
	miscStatus(t, p, http.StatusOK)
	for _, k := range h.Signing.Keys() {
		if !strings.Contains(p.body, k.ID) {
			t.Errorf("the key %s is not listed", k.ID)
		}
	}
	for _, want := range []string{`class="badge current"`, `class="badge next"`, `href="` + h.URL + `/.well-known/jwks.json"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if !strings.Contains(html.UnescapeString(p.body), "\"keys\": [\n") {
		t.Errorf("the JWKS is not shown pretty-printed:\n%s", p.body)
	}
}

func TestSigningKeyRotationIsConfirmedAndAudited(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	before := map[string]string{}
	for _, k := range h.Signing.Keys() {
		before[k.ID] = k.Status
	}

	p := b.get("/dashboard/signing-keys/rotate")
	miscStatus(t, p, http.StatusOK)
	if !strings.Contains(p.body, "signs every token from this moment") {
		t.Errorf("the confirmation does not explain the rotation:\n%s", p.body)
	}
	p.form(`action="/dashboard/signing-keys/rotate"`)

	// The next key was published a moment ago: clients may not have it.
	p = b.post("/dashboard/signing-keys/rotate", nil)
	miscStatus(t, p, http.StatusConflict)
	if !strings.Contains(p.body, "Rotate again after") || !strings.Contains(p.body, `class="form-error"`) {
		t.Errorf("the refusal is not told:\n%s", p.body)
	}

	h.Clock.Add(10 * time.Minute)
	p = b.post("/dashboard/signing-keys/rotate", nil)
	miscStatus(t, p, http.StatusSeeOther)
	if loc := p.Header.Get("Location"); loc != "/dashboard/signing-keys?done=rotated" {
		t.Errorf("redirected to %q", loc)
	}
	if p = b.follow(p); !strings.Contains(p.body, "Rotated.") {
		t.Errorf("no notice after the rotation")
	}
	var added string
	for _, k := range h.Signing.Keys() {
		old, ok := before[k.ID]
		switch {
		case !ok && k.Status == signing.StatusNext:
			added = k.ID
		case old == signing.StatusNext && k.Status != signing.StatusCurrent:
			t.Errorf("the next key %s is %s, want current", k.ID, k.Status)
		case old == signing.StatusCurrent && k.Status != signing.StatusRetired:
			t.Errorf("the current key %s is %s, want retired", k.ID, k.Status)
		}
	}
	if added == "" {
		t.Fatalf("no new next key: %+v", h.Signing.Keys())
	}
	evs, _, err := h.Store.ListAuditEvents(context.Background(), auth.AuditFilter{Type: auth.EventSigningKeyCreated, Actor: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Details["kid"] != added {
		t.Errorf("audit events of the new key by %s: %+v", alice.ID, evs)
	}
}

func TestSigningKeyPagesAreForAdmins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("dev", auth.RoleDeveloper, "billing")
	b := h.signIn("dev")
	miscStatus(t, b.get("/dashboard/signing-keys"), http.StatusForbidden)
	miscStatus(t, b.get("/dashboard/signing-keys/rotate"), http.StatusForbidden)
	h.Clock.Add(10 * time.Minute)
	before := h.Signing.CurrentKeyID()
	miscStatus(t, b.post("/dashboard/signing-keys/rotate", nil), http.StatusForbidden)
	if h.Signing.CurrentKeyID() != before {
		t.Error("a developer rotated the signing key")
	}
}
