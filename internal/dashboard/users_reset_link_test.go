package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The user page's reset-link button shows a one-time link once; it is
// not in any URL the browser is sent to, and a link for a disabled user
// is refused next to the form.
func TestUserResetLinkButton(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	dev := h.user("dev", auth.RoleDeveloper)
	b := h.signIn("alice")

	page := b.get("/dashboard/users/" + dev.ID)
	if !strings.Contains(page.body, `action="/dashboard/users/`+dev.ID+`/reset-link"`) {
		t.Fatalf("no reset-link form on the user page:\n%s", page.body)
	}
	p := b.post("/dashboard/users/"+dev.ID+"/reset-link", url.Values{})
	if p.StatusCode != http.StatusOK {
		t.Fatalf("reset link: %d\n%s", p.StatusCode, p.body)
	}
	link := secretOf(t, p)
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, "https://id.example.test/account/reset?token=gate_pr_") {
		t.Fatalf("link %q", link)
	}
	if _, err := h.Users.CheckResetLink(context.Background(), u.Query().Get("token")); err != nil {
		t.Fatalf("the shown link does not work: %v", err)
	}
	if p := b.get("/dashboard/users/" + dev.ID); strings.Contains(p.body, u.Query().Get("token")) {
		t.Fatal("the link is shown again on the user page")
	}

	// E-mail without SMTP is refused next to the form.
	p = b.post("/dashboard/users/"+dev.ID+"/reset-link", url.Values{"email": {"yes"}})
	if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "identity.smtp") {
		t.Fatalf("e-mail without SMTP: %d\n%s", p.StatusCode, p.body)
	}
	// A developer cannot make one.
	db := h.signIn("dev")
	if p := db.post("/dashboard/users/"+dev.ID+"/reset-link", url.Values{}); p.StatusCode == http.StatusOK {
		t.Fatal("a developer made a reset link")
	}
}
