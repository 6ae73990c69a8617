package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func TestReadyzReportsAnUnavailableStore(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cfg, testenv.NewClock(time.Now().UTC()), &testenv.SyncBuffer{})
	if code, _ := n.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d with the store up", code)
	}
	n.main.Store.Close() // the database goes away under the running server
	if code, _ := n.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with the store closed, want 503", code)
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
