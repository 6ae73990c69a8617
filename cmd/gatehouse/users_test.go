package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func TestUsersRoleAndOwnersSQLite(t *testing.T) {
	usersRoleAndOwners(t, testConfig(t, t.TempDir(), ""))
}

func TestUsersRoleAndOwnersPostgres(t *testing.T) {
	usersRoleAndOwners(t, testConfig(t, t.TempDir(), pgDSN(t)))
}

// exitOf runs a command as main does and returns its exit status and
// output.
func (n *node) exitOf(stdin string, args ...string) (int, string) {
	var stdout, stderr bytes.Buffer
	root := newRootCommand(&stdout, &stderr, func(k string) string { return n.env[k] })
	root.SetIn(strings.NewReader(stdin))
	root.SetContext(context.Background())
	code := execute(root, args, &stderr)
	return code, stdout.String() + stderr.String()
}

func usersRoleAndOwners(t *testing.T, cfg config.Config) {
	clk := testenv.NewClock(time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC))
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})
	const pw = "a long and unguessable passphrase\n"
	type user struct {
		ID     string   `json:"id"`
		Role   string   `json:"role"`
		Owners []string `json:"owners"`
	}

	var dev user
	n.cliStdin(pw, &dev, "users", "create", "--username", "dev", "--password-stdin")
	if dev.Role != "developer" || dev.Owners == nil || len(dev.Owners) != 0 {
		t.Fatalf("default = %+v", dev)
	}
	var boss user
	n.cliStdin(pw, &boss, "users", "create", "--username", "boss", "--role", "admin",
		"--owners", "shipping, billing team", "--owners", "api", "--password-stdin")
	if boss.Role != "admin" || !slices.Equal(boss.Owners, []string{"api", "billing team", "shipping"}) {
		t.Fatalf("users create --role admin = %+v", boss)
	}
	if out := n.cli("users", "get", boss.ID); !strings.Contains(out, "admin") || !strings.Contains(out, "api, billing team, shipping") {
		t.Fatalf("users get:\n%s", out)
	}

	var up user
	n.cliJSON(&up, "users", "update", dev.ID, "--role", "admin", "--owners", "billing,shipping")
	if up.Role != "admin" || !slices.Equal(up.Owners, []string{"billing", "shipping"}) {
		t.Fatalf("users update = %+v", up)
	}
	n.cliJSON(&up, "users", "update", dev.ID, "--owners", "")
	if up.Role != "admin" || len(up.Owners) != 0 {
		t.Fatalf("users update --owners \"\" = %+v", up)
	}
	n.cliJSON(&up, "users", "update", dev.ID, "--role", "developer")
	if up.Role != "developer" {
		t.Fatalf("users update --role developer = %+v", up)
	}
	events := n.cli("audit", "--type", "user.updated", "--json")
	if strings.Count(events, `"user.updated"`) != 3 {
		t.Fatalf("audit of user updates:\n%s", events)
	}
	// The user's events, by target, between two times around the test's clock.
	since, until := n.clock.Now().Add(-time.Hour).Format(time.RFC3339), n.clock.Now().Add(time.Hour).Format(time.RFC3339)
	events = n.cli("audit", "--target", dev.ID, "--since", since, "--until", until, "--json")
	if strings.Count(events, `"user.updated"`) != 3 || strings.Count(events, `"user.created"`) != 1 {
		t.Fatalf("audit --target %s:\n%s", dev.ID, events)
	}
	if events := n.cli("audit", "--target", dev.ID, "--until", since, "--json"); strings.Contains(events, "user.") {
		t.Fatalf("audit --until before the events showed them:\n%s", events)
	}
	if code, _ := n.exitOf("", "audit", "--since", "yesterday"); code != exitUsage {
		t.Fatalf("audit --since yesterday: exit %d, want %d", code, exitUsage)
	}

	// Bad input: the server's 400 is the exit status for rejected input,
	// and nothing is stored.
	many := make([]string, 51)
	for i := range many {
		many[i] = "o" + strings.Repeat("x", i+1)
	}
	for name, args := range map[string][]string{
		"create unknown role": {"users", "create", "--username", "x1", "--role", "root", "--password-stdin"},
		"create bad owner":    {"users", "create", "--username", "x2", "--owners", "a\tb", "--password-stdin"},
		"create too many":     {"users", "create", "--username", "x3", "--owners", strings.Join(many, ","), "--password-stdin"},
		"update unknown role": {"users", "update", dev.ID, "--role", "Admin"},
		"update too long":     {"users", "update", dev.ID, "--owners", strings.Repeat("o", 129)},
	} {
		if code, out := n.exitOf(pw, append(args, "--json")...); code != exitRejected || !strings.Contains(out, `"status":400`) {
			t.Errorf("%s: exit %d, want %d\n%s", name, code, exitRejected, out)
		}
	}
	list := n.cli("users", "list")
	for _, name := range []string{"x1", "x2", "x3"} {
		if strings.Contains(list, name) {
			t.Errorf("refused user %s was stored:\n%s", name, list)
		}
	}
	var got user
	n.cliJSON(&got, "users", "get", dev.ID)
	if got.Role != "developer" || len(got.Owners) != 0 {
		t.Fatalf("after refused updates = %+v", got)
	}
	if code, out := n.exitOf("", "users", "update", dev.ID); code != exitUsage {
		t.Fatalf("update without a change: exit %d\n%s", code, out)
	}
	if code, out := n.exitOf("", "users", "update", dev.ID, "--role", "admin", "--role", "developer"); code != exitUsage {
		t.Fatalf("--role twice: exit %d\n%s", code, out)
	}
}
