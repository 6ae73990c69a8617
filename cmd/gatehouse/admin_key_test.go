package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
	// secret would match nothing. The advice is where the secret comes
	// from, not init (which would make a new one).
	if cfg.DB == "" {
		code, _, errOut := runCLI(t, nil, "admin-key", "create", "--data", t.TempDir())
		if code == 0 || !strings.Contains(errOut, "no server secret") || !strings.Contains(errOut, "GATEHOUSE_SECRET") ||
			strings.Contains(errOut, "gatehouse init` first") {
			t.Errorf("admin-key create without a secret: exit %d, %s", code, errOut)
		}
	}
}

// withSecret is an environment holding a well-formed server secret.
var withSecret = map[string]string{"GATEHOUSE_SECRET": strings.Repeat("ab", 32)}

// A mistyped --data with the secret in the environment must not make a new
// database and print a key no server will ever accept.
func TestAdminKeyCreateRefusesAMissingSQLiteDatabase(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "typo")
	code, out, errOut := runCLI(t, withSecret, "admin-key", "create", "--data", data)
	if code == 0 || out != "" || !strings.Contains(errOut, "no database at") {
		t.Errorf("admin-key create on a missing database: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin-key create left %s behind: %v", data, err)
	}
}

// The same on an empty PostgreSQL schema, which openStore migrates: it holds
// no key, so init never ran there.
func TestAdminKeyCreateRefusesAnUninitialisedPostgresDatabase(t *testing.T) {
	env := map[string]string{"GATEHOUSE_SECRET": withSecret["GATEHOUSE_SECRET"]}
	code, out, errOut := runCLI(t, env, "admin-key", "create", "--data", t.TempDir(), "--db", pgDSN(t))
	if code == 0 || out != "" || !strings.Contains(errOut, "gatehouse init` never ran") {
		t.Errorf("admin-key create on an empty database: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestAdminKeyCreateSQLite(t *testing.T) {
	breakGlass(t, testConfig(t, t.TempDir(), ""))
}

func TestAdminKeyCreatePostgres(t *testing.T) {
	breakGlass(t, testConfig(t, t.TempDir(), pgDSN(t)))
}
