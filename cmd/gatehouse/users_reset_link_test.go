package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// The reset-link command prints the link (the URL alone on the first
// line) or, with --json, {url, expires_at, emailed}; reset-password
// --password-stdin keeps working and applies the password policy.
func TestUsersResetLinkAndPolicy(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Identity.ResetLinkTTL = 2 * time.Hour
	clk := testenv.NewClock(time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC))
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})
	var u struct {
		ID string `json:"id"`
	}
	n.cliStdin("a long and unguessable passphrase\n", &u, "users", "create", "--username", "ann", "--password-stdin")

	out := n.cli("users", "reset-link", u.ID)
	first, rest, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(first, n.main.URL()+"/account/reset?token=gate_pr_") || !strings.Contains(rest, "2026-12-07T10:00:00Z") {
		t.Fatalf("users reset-link:\n%s", out)
	}
	var link struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
		Emailed   *bool     `json:"emailed"`
	}
	n.cliJSON(&link, "users", "reset-link", u.ID)
	if !strings.Contains(link.URL, "/account/reset?token=gate_pr_") || link.URL == first ||
		!link.ExpiresAt.Equal(clk.Now().Add(2*time.Hour)) || link.Emailed == nil || *link.Emailed {
		t.Fatalf("users reset-link --json = %+v", link)
	}
	if code, out := n.exitOf("", "users", "reset-link", u.ID, "--email"); code == 0 || !strings.Contains(out, "identity.smtp") {
		t.Fatalf("--email without SMTP: exit %d:\n%s", code, out)
	}

	if code, out := n.exitOf("password123\n", "users", "reset-password", u.ID, "--password-stdin"); code == 0 ||
		!strings.Contains(out, "exposed in data breaches") {
		t.Fatalf("reset-password with a breached password: exit %d:\n%s", code, out)
	}
	if code, out := n.exitOf("ann\n", "users", "create", "--username", "bob", "--password-stdin"); code == 0 || !strings.Contains(out, "at least 8") {
		t.Fatalf("create with a short password: exit %d:\n%s", code, out)
	}
	var reset map[string]any
	n.cliStdin("another long passphrase\n", &reset, "users", "reset-password", u.ID, "--password-stdin")
	if reset["password_reset"] != true {
		t.Fatalf("reset-password = %v", reset)
	}
	if events := n.cli("audit", "--type", "user.password_reset_link_created", "--json"); strings.Count(events, `"user.password_reset_link_created"`) != 2 {
		t.Fatalf("audit:\n%s", events)
	}
}
