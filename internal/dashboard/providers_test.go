package dashboard

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
)

func TestProvidersPageCreatesListsAndDeletes(t *testing.T) {
	t.Parallel()
	var svc *federation.Service
	h := newHarness(t, func(c *Config) {
		sealer, err := signing.NewSealer(make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		if svc, err = federation.New(federation.Config{Store: c.Store.(federation.Store), Sealer: sealer, Issuer: c.Issuer}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		c.Providers = svc
	})
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	page := b.get("/dashboard/providers")
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, "No provider is configured") {
		t.Fatalf("providers page (%d):\n%s", page.StatusCode, page.body)
	}
	// A refused provider keeps what was typed and says why.
	bad := b.post("/dashboard/providers", url.Values{"name": {"acme"}, "kind": {"oidc"}, "issuer": {"http://idp.example"}, "client_id": {"c"}})
	if bad.StatusCode != http.StatusBadRequest || !strings.Contains(bad.body, "https") || !strings.Contains(bad.body, `value="acme"`) {
		t.Fatalf("refused create (%d):\n%s", bad.StatusCode, bad.body)
	}
	done := b.follow(b.post("/dashboard/providers", url.Values{"name": {"acme"}, "display_name": {"Acme ID"}, "kind": {"oidc"},
		"issuer": {"https://idp.example"}, "client_id": {"gatehouse"}, "client_secret": {"s3cret"},
		"claim_mapping": {"email=mail"}, "create_users": {"on"}}))
	want := h.URL + "/oauth2/providers/acme/callback"
	if done.StatusCode != http.StatusOK || !strings.Contains(done.body, "Acme ID") || !strings.Contains(done.body, want) ||
		strings.Contains(done.body, "s3cret") {
		t.Fatalf("after create (%d):\n%s", done.StatusCode, done.body)
	}
	p, err := svc.Get(t.Context(), "acme")
	if err != nil || p.ClaimMapping["email"] != "mail" || !p.CreateUsers || len(p.ClientSecret) == 0 {
		t.Fatalf("stored %+v, %v", p, err)
	}
	gone := b.follow(b.post("/dashboard/providers/acme/delete", nil))
	if gone.StatusCode != http.StatusOK || !strings.Contains(gone.body, "No provider is configured") {
		t.Fatalf("after delete (%d):\n%s", gone.StatusCode, gone.body)
	}
	// Developers do not see the page.
	h.user("dev", auth.RoleDeveloper, "team")
	if r := h.signIn("dev").get("/dashboard/providers"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("developer got %d", r.StatusCode)
	}
}
