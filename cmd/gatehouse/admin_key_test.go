package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// breakGlass runs init on cfg's storage, starts a server on it, forgets the
// admin key init printed, and makes a new one with admin-key create: the
// new key works against the running server at once, and the audit log says
// who made it.
func breakGlass(t *testing.T, cfg config.Config) {
	n := startInitialised(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	lost := n.env["GATEHOUSE_ADMIN_KEY"]
	n.env["GATEHOUSE_ADMIN_KEY"] = ""
	if code, _, errOut := runCLI(t, n.env, "keys", "list"); code != exitAuth || !strings.Contains(errOut, "GATEHOUSE_ADMIN_KEY") {
		t.Fatalf("keys list without an admin key: exit %d, %s", code, errOut)
	}

	args := []string{"admin-key", "create", "--data", cfg.DataDir}
	if cfg.DB != "" {
		args = append(args, "--db", cfg.DB)
	}
	var out struct {
		AdminKey   string `json:"admin_key"`
		AdminKeyID string `json:"admin_key_id"`
	}
	(&node{t: t, env: map[string]string{}}).cliJSON(&out, args...)
	if out.AdminKey == "" || out.AdminKey == lost || out.AdminKeyID == "" {
		t.Fatalf("admin-key create printed %+v", out)
	}

	n.env["GATEHOUSE_ADMIN_KEY"] = out.AdminKey
	list := n.cli("keys", "list", "--owner", AdminOwner)
	if !strings.Contains(list, out.AdminKeyID) {
		t.Errorf("the new admin key is not listed:\n%s", list)
	}
	audit := n.cli("audit", "--key", out.AdminKeyID, "--type", "key.created")
	if !strings.Contains(audit, ActorBreakGlass) {
		t.Errorf("the audit log does not name the break-glass actor:\n%s", audit)
	}

	// Without the server secret nothing is made: a key hashed with another
	// secret would match nothing.
	if cfg.DB == "" {
		code, _, errOut := runCLI(t, nil, "admin-key", "create", "--data", t.TempDir())
		if code == 0 || !strings.Contains(errOut, "no server secret") {
			t.Errorf("admin-key create without a secret: exit %d, %s", code, errOut)
		}
	}
}

func TestAdminKeyCreateSQLite(t *testing.T) {
	breakGlass(t, testConfig(t, t.TempDir(), ""))
}

func TestAdminKeyCreatePostgres(t *testing.T) {
	breakGlass(t, testConfig(t, t.TempDir(), pgDSN(t)))
}
