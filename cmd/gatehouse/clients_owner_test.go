package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestClientOwnerCommands: clients create --owner sets it, clients update
// --owner changes it and --owner "" clears it, other updates keep it, get
// and list show it, and a bad owner is refused with nothing stored; on
// SQLite and PostgreSQL.
func TestClientOwnerCommands(t *testing.T) {
	for name, db := range map[string]func(t *testing.T) string{
		"sqlite":   func(*testing.T) string { return "" },
		"postgres": pgDSN,
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir(), db(t))
			clk := testenv.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
			n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})

			type client struct {
				ClientID string `json:"client_id"`
				Name     string `json:"name"`
				Owner    string `json:"owner"`
			}
			if out, err := n.tryCLI("clients", "create", "--name", "Bad", "--grant-types", "client_credentials",
				"--owner", strings.Repeat("x", 129)); err == nil || !strings.Contains(err.Error(), "owner must have at most 128 bytes") {
				t.Fatalf("create with a 129-byte owner: %v\n%s", err, out)
			}
			if out := n.cli("clients", "list"); strings.Contains(out, "Bad") {
				t.Fatalf("a refused client was stored:\n%s", out)
			}

			var c client
			n.cliJSON(&c, "clients", "create", "--name", "Billing", "--grant-types", "client_credentials", "--owner", "billing-team")
			if c.Owner != "billing-team" {
				t.Fatalf("clients create = %+v", c)
			}
			if out := n.cli("clients", "get", c.ClientID); !strings.Contains(out, "owner") || !strings.Contains(out, "billing-team") {
				t.Fatalf("clients get:\n%s", out)
			}
			if out := n.cli("clients", "list"); !strings.Contains(out, "OWNER") || !strings.Contains(out, "billing-team") {
				t.Fatalf("clients list:\n%s", out)
			}
			var up client
			n.cliJSON(&up, "clients", "update", c.ClientID, "--name", "Billing 2")
			if up.Owner != "billing-team" || up.Name != "Billing 2" {
				t.Fatalf("an update without --owner changed it: %+v", up)
			}
			n.cliJSON(&up, "clients", "update", c.ClientID, "--owner", "shipping")
			if up.Owner != "shipping" {
				t.Fatalf("clients update --owner = %+v", up)
			}
			if _, err := n.tryCLI("clients", "update", c.ClientID, "--owner", "a\tb"); err == nil {
				t.Fatal("update with a control character in the owner succeeded")
			}
			up = client{}
			n.cliJSON(&up, "clients", "update", c.ClientID, "--owner", "")
			if up.Owner != "" || up.Name != "Billing 2" {
				t.Fatalf(`clients update --owner "" = %+v`, up)
			}
		})
	}
}
