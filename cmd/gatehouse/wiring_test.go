package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// /readyz does not depend on the store: every node shares the database,
// and a balancer that took them all out when it failed (or slowed down)
// would stop the requests that need no store (see Main.readyz).
func TestReadyzDoesNotDependOnTheStore(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cfg, testenv.NewClock(time.Now().UTC()), &testenv.SyncBuffer{})
	if code, _ := n.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d with the store up", code)
	}
	n.main.Store.Close() // the database goes away under the running server
	if code, _ := n.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d with the store closed, want 200", code)
	}
	if code, _ := n.get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d: liveness must not depend on the store", code)
	}
}

func TestLogsAreJSONOutsideDevMode(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(config.Default(false), &buf).Info("hello", "key_id", "key_x")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["msg"] != "hello" || line["key_id"] != "key_x" {
		t.Fatalf("log line %q is not the JSON record wanted (%v)", buf.String(), err)
	}
	buf.Reset()
	NewLogger(config.Default(true), &buf).Info("hello")
	if json.Valid(buf.Bytes()) || !strings.Contains(buf.String(), "msg=hello") {
		t.Fatalf("dev log line %q is not text", buf.String())
	}
}

// Flags win over the environment, which wins over the file.
func TestConfigurationPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	fileData, envData, flagData := filepath.Join(dir, "from-file"), filepath.Join(dir, "from-env"), filepath.Join(dir, "from-flag")
	if err := os.WriteFile(file, []byte("data_dir: "+fileData+"\nkey_prefix: acme_\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(env map[string]string, args ...string) string {
		var out bytes.Buffer
		cmd := newRootCommand(&out, io.Discard, func(k string) string { return env[k] })
		cmd.SetArgs(append([]string{"init", "--json", "--config", file}, args...))
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("init %v: %v", args, err)
		}
		var got struct {
			AdminKey string `json:"admin_key"`
		}
		json.Unmarshal(out.Bytes(), &got)
		return got.AdminKey
	}
	key := run(nil)
	if _, err := os.Stat(filepath.Join(fileData, "gatehouse.db")); err != nil || !strings.HasPrefix(key, "acme_") {
		t.Fatalf("the file's data_dir and key_prefix were not used: %v, key %.8s", err, key)
	}
	run(map[string]string{"GATEHOUSE_DATA": envData})
	if _, err := os.Stat(filepath.Join(envData, "gatehouse.db")); err != nil {
		t.Fatalf("GATEHOUSE_DATA did not win over the file: %v", err)
	}
	run(map[string]string{"GATEHOUSE_DATA": envData}, "--data", flagData)
	if _, err := os.Stat(filepath.Join(flagData, "gatehouse.db")); err != nil {
		t.Fatalf("--data did not win over GATEHOUSE_DATA: %v", err)
	}
}

// The rotate answer may lack the old key; the new key must still be printed.
func TestRotatePrintsTheNewKeyWithoutTheOldRecord(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"new_key":{"id":"key_new","prefix":"sk_test_","hint":"abcd","owner":"o","name":"","scopes":[],"metadata":{},"status":"active","created_at":"2026-11-27T12:00:00Z","rotation_due":false,"key":"sk_test_NEWKEY"}}`)
	}))
	defer srv.Close()
	var out bytes.Buffer
	cmd := newRootCommand(&out, io.Discard, func(k string) string {
		return map[string]string{"GATEHOUSE_SERVER": srv.URL, "GATEHOUSE_ADMIN_KEY": "x"}[k]
	})
	cmd.SetArgs([]string{"keys", "rotate", "key_old"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sk_test_NEWKEY") {
		t.Fatalf("the new key was not printed:\n%s", out.String())
	}
}

// A lost secret file must not be replaced while the database holds keys
// hashed with it: that would lock everyone out, admins included.
func TestInitRefusesANewSecretForAnExistingDatabase(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cfg.SecretPath()); err != nil {
		t.Fatal(err)
	}
	_, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard))
	if err == nil || !strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err = %v, want a refusal naming the missing secret", err)
	}
	if _, err := os.Stat(cfg.SecretPath()); err == nil {
		t.Fatal("a new secret file was written")
	}
}

// serve --dev prints the first admin key even when the server then cannot
// start, so the only copy is not lost.
func TestServeDevPrintsTheKeyEvenIfThePortIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out bytes.Buffer
	cmd := newRootCommand(&out, io.Discard, func(string) string { return "" })
	cmd.SetArgs([]string{"serve", "--dev", "--data", t.TempDir(), "--addr", ln.Addr().String(), "--gateway-addr", "127.0.0.1:0"})
	if err := cmd.ExecuteContext(context.Background()); err == nil {
		t.Fatal("serve started on a port in use")
	}
	if !strings.Contains(out.String(), "sk_test_") {
		t.Fatalf("the first admin key was not printed:\n%s", out.String())
	}
}

func TestKeysVerifyReadsTheKeyFromStdin(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Key string `json:"key"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		got = req.Key
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"valid":true,"code":"VALID"}`)
	}))
	defer srv.Close()
	cmd := newRootCommand(io.Discard, io.Discard, func(k string) string {
		return map[string]string{"GATEHOUSE_SERVER": srv.URL}[k]
	})
	cmd.SetIn(strings.NewReader("sk_test_fromstdin\n"))
	cmd.SetArgs([]string{"keys", "verify", "-"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got != "sk_test_fromstdin" {
		t.Fatalf("the server got key %q", got)
	}
}
