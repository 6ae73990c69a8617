package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestClientAndUserCommands runs every clients, users and signing-keys
// command against a real node, in table and JSON form.
func TestClientAndUserCommands(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	clk := testenv.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})

	type client struct {
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		SecretHint   string   `json:"client_secret_hint"`
		Name         string   `json:"name"`
		Scopes       []string `json:"scopes"`
		RedirectURIs []string `json:"redirect_uris"`
		GrantTypes   []string `json:"grant_types"`
		Audiences    []string `json:"audiences"`
		AccessTTL    string   `json:"access_token_ttl"`
		Public       bool     `json:"public"`
	}
	var c client
	n.cliJSON(&c, "clients", "create", "--name", "Billing", "--redirect-uri", "https://billing.example.test/cb",
		"--redirect-uri", "https://billing.example.test/cb2", "--grant-types", "authorization_code,refresh_token,client_credentials",
		"--scopes", "openid offline_access api:read", "--audience", "https://api.example.test", "--access-token-ttl", "5m")
	if c.ClientSecret == "" || len(c.RedirectURIs) != 2 || len(c.Scopes) != 3 || c.AccessTTL != "5m0s" || c.Audiences[0] != "https://api.example.test" {
		t.Fatalf("clients create = %+v", c)
	}
	table := n.cli("clients", "get", c.ClientID)
	if !strings.Contains(table, "Billing") || strings.Contains(table, c.ClientSecret) {
		t.Fatalf("clients get:\n%s", table)
	}
	if out := n.cli("clients", "list"); !strings.Contains(out, c.ClientID) {
		t.Fatalf("clients list:\n%s", out)
	}
	var updated client
	n.cliJSON(&updated, "clients", "update", c.ClientID, "--name", "Billing v2", "--scopes", "openid,api:read")
	if updated.Name != "Billing v2" || len(updated.Scopes) != 2 || len(updated.RedirectURIs) != 2 || updated.AccessTTL != "5m0s" {
		t.Fatalf("clients update kept or changed the wrong settings: %+v", updated)
	}
	var rotated client
	n.cliJSON(&rotated, "clients", "rotate-secret", c.ClientID)
	if rotated.ClientSecret == "" || rotated.ClientSecret == c.ClientSecret {
		t.Fatalf("rotate-secret = %+v", rotated)
	}
	var public client
	n.cliJSON(&public, "clients", "create", "--name", "CLI tool", "--public", "--redirect-uri", "http://127.0.0.1/cb",
		"--grant-types", "authorization_code", "--scopes", "openid")
	if !public.Public || public.ClientSecret != "" {
		t.Fatalf("public client = %+v", public)
	}
	n.cli("clients", "delete", c.ClientID)
	if _, err := n.tryCLI("clients", "get", c.ClientID); err == nil {
		t.Fatal("a deleted client is still there")
	}
	if out, err := n.tryCLI("clients", "create", "--name", "bad", "--grant-types", "implicit"); err == nil {
		t.Fatalf("an implicit-grant client was registered:\n%s", out)
	}

	type user struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Disabled bool   `json:"disabled"`
	}
	var u user
	n.cliStdin("a long and unguessable passphrase\n", &u, "users", "create", "--username", "grace", "--email", "grace@example.test", "--password-stdin")
	if u.ID == "" || u.Username != "grace" {
		t.Fatalf("users create = %+v", u)
	}
	if out, err := n.tryCLI("users", "create", "--username", "nopw"); err == nil || !strings.Contains(err.Error(), "password-stdin") {
		t.Fatalf("users create without --password-stdin: %v\n%s", err, out)
	}
	if out := n.cli("users", "list"); !strings.Contains(out, "grace") {
		t.Fatalf("users list:\n%s", out)
	}
	var d user
	n.cliJSON(&d, "users", "disable", u.ID)
	if !d.Disabled {
		t.Fatalf("users disable = %+v", d)
	}
	n.cliJSON(&d, "users", "enable", u.ID)
	if d.Disabled {
		t.Fatalf("users enable = %+v", d)
	}
	var reset map[string]any
	n.cliStdin("another long passphrase\n", &reset, "users", "reset-password", u.ID, "--password-stdin")
	if out := n.cli("users", "consents", u.ID); !strings.Contains(out, "CLIENT_ID") {
		t.Fatalf("users consents:\n%s", out)
	}

	if out := n.cli("signing-keys", "list"); !strings.Contains(out, "current") || !strings.Contains(out, "next") {
		t.Fatalf("signing-keys list:\n%s", out)
	}
	clk.Add(time.Hour)
	if out := n.cli("signing-keys", "rotate"); !strings.Contains(out, "signs from now on") {
		t.Fatalf("signing-keys rotate:\n%s", out)
	}
	if out := n.cli("signing-keys", "list"); !strings.Contains(out, "retired") {
		t.Fatalf("signing-keys list after rotate:\n%s", out)
	}
}
