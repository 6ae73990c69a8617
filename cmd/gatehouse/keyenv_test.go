package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// createdKey is what keys create --json prints, as far as these tests read it.
type createdKey struct {
	ID          string `json:"id"`
	Key         string `json:"key"`
	Prefix      string `json:"prefix"`
	Environment string `json:"environment"`
}

// envVerifyOut is keys verify --json with the key's environment.
type envVerifyOut struct {
	Valid       bool   `json:"valid"`
	Code        string `json:"code"`
	Environment string `json:"environment"`
}

func (n *node) verifyEnv(key string) envVerifyOut {
	n.t.Helper()
	var v envVerifyOut
	out, _ := n.tryCLI("keys", "verify", key, "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		n.t.Fatalf("keys verify --json: %v\n%s", err, out)
	}
	return v
}

func newClock() *testenv.Clock {
	return testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
}

// devConfig is testConfig as serve --dev builds it: test keys by default.
func devConfig(t *testing.T, dataDir string) config.Config {
	cfg := config.Default(true)
	base := testConfig(t, dataDir, "")
	cfg.DataDir, cfg.Addr, cfg.Gateway.Addr = base.DataDir, base.Addr, base.Gateway.Addr
	cfg.LogLevel, cfg.FlushInterval = base.LogLevel, base.FlushInterval
	return cfg
}

// The test: gatehouse init prints a live admin key; serve --dev on
// the same data folder issues test keys and accepts that admin key, and a
// live and a test key verify on one server.
func TestInitThenServeDevAcceptsKeysOfBothEnvironments(t *testing.T) {
	dir := t.TempDir()
	var initOut struct {
		AdminKey string `json:"admin_key"`
	}
	(&node{t: t, env: map[string]string{}}).cliJSON(&initOut, "init", "--data", dir)
	if !strings.HasPrefix(initOut.AdminKey, "sk_live_") {
		t.Fatalf("init printed an admin key with prefix %.8q", initOut.AdminKey)
	}
	cfg := devConfig(t, dir)
	if cfg.KeyPrefix != "sk_test_" {
		t.Fatalf("--dev key prefix %q", cfg.KeyPrefix)
	}
	n := startNode(t, cfg, newClock(), &testenv.SyncBuffer{})
	n.env["GATEHOUSE_ADMIN_KEY"] = initOut.AdminKey

	var test, live createdKey
	n.cliJSON(&test, "keys", "create", "--owner", "svc")
	n.cliJSON(&live, "keys", "create", "--owner", "svc", "--env", "live")
	if test.Environment != "test" || !strings.HasPrefix(test.Key, "sk_test_") {
		t.Errorf("default key on a --dev node: environment %q, prefix %q", test.Environment, test.Prefix)
	}
	if live.Environment != "live" || !strings.HasPrefix(live.Key, "sk_live_") {
		t.Errorf("--env live: environment %q, prefix %q", live.Environment, live.Prefix)
	}
	for _, k := range []createdKey{test, live} {
		if v := n.verifyEnv(k.Key); !v.Valid || v.Environment != k.Environment {
			t.Errorf("verify %s key: %+v", k.Environment, v)
		}
	}
	if v := n.verifyEnv(initOut.AdminKey); !v.Valid || v.Environment != "live" {
		t.Errorf("verify the init admin key: %+v", v)
	}
	if out, err := n.tryCLI("keys", "create", "--owner", "svc", "--env", "staging"); err == nil {
		t.Errorf("--env staging was accepted: %s", out)
	}
}

// The same through the real commands: init, then serve --dev.
func TestServeDevAfterInitTakesTheInitAdminKey(t *testing.T) {
	dir := t.TempDir()
	var initOut struct {
		AdminKey string `json:"admin_key"`
	}
	(&node{t: t, env: map[string]string{}}).cliJSON(&initOut, "init", "--data", dir)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	cmd := newRootCommand(pw, io.Discard, func(string) string { return "" })
	cmd.SetArgs([]string{"serve", "--dev", "--data", dir, "--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var url string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Gatehouse is running at "); ok {
			url = u
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		t.Fatal("serve --dev printed no URL")
	}
	n := &node{t: t, env: map[string]string{"GATEHOUSE_SERVER": url, "GATEHOUSE_ADMIN_KEY": initOut.AdminKey}}
	var k createdKey
	n.cliJSON(&k, "keys", "create", "--owner", "svc")
	if k.Environment != "test" || !strings.HasPrefix(k.Key, "sk_test_") {
		t.Fatalf("serve --dev created a key of environment %q, prefix %q", k.Environment, k.Prefix)
	}
}

func TestChangingTheKeyPrefixKeepsOldKeysValid(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	n := startInitialised(t, cfg, newClock(), &testenv.SyncBuffer{})
	var old createdKey
	n.cliJSON(&old, "keys", "create", "--owner", "svc")
	if !strings.HasPrefix(old.Key, "sk_live_") {
		t.Fatalf("old key prefix %q", old.Prefix)
	}

	// Another node on the same data, with another prefix.
	cfg.KeyPrefix = "acme_live_"
	m := startNode(t, cfg, newClock(), &testenv.SyncBuffer{})
	m.env["GATEHOUSE_ADMIN_KEY"] = n.env["GATEHOUSE_ADMIN_KEY"]
	if v := m.verifyEnv(old.Key); !v.Valid || v.Environment != "live" {
		t.Fatalf("an old key after the prefix changed: %+v", v)
	}
	var next createdKey
	m.cliJSON(&next, "keys", "create", "--owner", "svc")
	if !strings.HasPrefix(next.Key, "acme_live_") || next.Environment != "live" {
		t.Fatalf("new key: prefix %q, environment %q", next.Prefix, next.Environment)
	}
	var test createdKey
	m.cliJSON(&test, "keys", "create", "--owner", "svc", "--env", "test")
	if !strings.HasPrefix(test.Key, "acme_test_") {
		t.Fatalf("new test key: prefix %q", test.Prefix)
	}
	if v := n.verifyEnv(next.Key); !v.Valid {
		t.Fatalf("the first node refuses the second's key: %+v", v)
	}
}

func TestAcceptKeyEnvironmentsRefusesTheOthers(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	cfg.AcceptKeyEnvironments = []string{"live"}
	n := startInitialised(t, cfg, newClock(), &testenv.SyncBuffer{})
	var live, test createdKey
	n.cliJSON(&live, "keys", "create", "--owner", "svc")
	n.cliJSON(&test, "keys", "create", "--owner", "svc", "--env", "test")
	if v := n.verifyEnv(live.Key); !v.Valid {
		t.Errorf("live key on a live-only node: %+v", v)
	}
	if v := n.verifyEnv(test.Key); v.Valid || v.Code != "INVALID" || v.Environment != "" {
		t.Errorf("test key on a live-only node: %+v", v)
	}
}

func TestRouteKeyEnvironmentEnforced(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	n := startInitialised(t, cfg, newClock(), &testenv.SyncBuffer{})
	svc := newUpstream(t, "svc")
	out := n.cli("routes", "create", "--name", "prod", "--path", "/prod", "--upstream", svc.URL, "--policy", "api_key", "--key-environment", "live")
	if !strings.Contains(out, "key environment") || !strings.Contains(out, "live") {
		t.Errorf("routes create does not show the key environment:\n%s", out)
	}
	var live, test createdKey
	n.cliJSON(&live, "keys", "create", "--owner", "svc")
	n.cliJSON(&test, "keys", "create", "--owner", "svc", "--env", "test")
	gw := n.main.GatewayURL()

	h := apiKey(live.Key)
	h.Set("X-Gatehouse-Key-Environment", "test")
	if r := gwGet(t, gw+"/prod/x", h); r.status != http.StatusOK {
		t.Fatalf("live key on a live route: %d %s", r.status, r.body)
	}
	if got := svc.last(t).Header.Values("X-Gatehouse-Key-Environment"); len(got) != 1 || got[0] != "live" {
		t.Errorf("upstream got X-Gatehouse-Key-Environment %q, want exactly live", got)
	}
	r := gwGet(t, gw+"/prod/x", apiKey(test.Key))
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "only live API keys") {
		t.Fatalf("test key on a live route: %d %s", r.status, r.body)
	}

	// update can lift the requirement, and refuses a bad one.
	n.cli("routes", "update", "prod", "--key-environment", "")
	if r := gwGet(t, gw+"/prod/x", apiKey(test.Key)); r.status != http.StatusOK {
		t.Fatalf("test key after the requirement was lifted: %d %s", r.status, r.body)
	}
	if out, err := n.tryCLI("routes", "update", "prod", "--key-environment", "prod"); err == nil || !strings.Contains(err.Error()+out, "key_environment") {
		t.Errorf("--key-environment prod: %v\n%s", err, out)
	}
}
