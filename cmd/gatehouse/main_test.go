package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
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

// node is one Gatehouse server under test, and what it logged.
type node struct {
	t     *testing.T
	main  *Main
	logs  *testenv.SyncBuffer
	clock *testenv.Clock
	env   map[string]string
}

func testConfig(t *testing.T, dataDir, db string) config.Config {
	cfg := config.Default(false)
	cfg.DataDir = dataDir
	cfg.DB = db
	cfg.Addr = "127.0.0.1:0"
	cfg.Gateway.Addr = "127.0.0.1:0"
	cfg.LogLevel = "debug" // the test greps every log line for secrets
	cfg.FlushInterval = time.Hour
	return cfg
}

func startNode(t *testing.T, cfg config.Config, clk *testenv.Clock, logs *testenv.SyncBuffer) *node {
	t.Helper()
	m := &Main{Config: cfg, Logger: NewLogger(cfg, logs), Now: clk.Now}
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return &node{t: t, main: m, logs: logs, clock: clk, env: map[string]string{"GATEHOUSE_SERVER": m.URL()}}
}

// startInitialised runs gatehouse init on cfg's data folder (and
// database), starts a node on it and gives its CLI the admin key that init
// printed.
func startInitialised(t *testing.T, cfg config.Config, clk *testenv.Clock, logs *testenv.SyncBuffer) *node {
	t.Helper()
	var initOut struct {
		AdminKey string `json:"admin_key"`
	}
	args := []string{"init", "--data", cfg.DataDir}
	if cfg.DB != "" {
		args = append(args, "--db", cfg.DB)
	}
	(&node{t: t, env: map[string]string{}}).cliJSON(&initOut, args...)
	n := startNode(t, cfg, clk, logs)
	n.env["GATEHOUSE_ADMIN_KEY"] = initOut.AdminKey
	return n
}

// cli runs a gatehouse command in-process against the node and returns its
// standard output; it fails the test if the command fails.
func (n *node) cli(args ...string) string {
	n.t.Helper()
	out, err := n.tryCLI(args...)
	if err != nil {
		n.t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (n *node) tryCLI(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := newRootCommand(&stdout, &stderr, func(k string) string { return n.env[k] })
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return stdout.String() + stderr.String(), err
}

func (n *node) cliJSON(v any, args ...string) {
	n.t.Helper()
	out := n.cli(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		n.t.Fatalf("gatehouse %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

type verifyOut struct {
	Valid bool   `json:"valid"`
	Code  string `json:"code"`
	KeyID string `json:"key_id"`
	Owner string `json:"owner"`
}

func (n *node) verify(key string, scopes ...string) verifyOut {
	n.t.Helper()
	args := []string{"keys", "verify", key}
	if len(scopes) > 0 {
		args = append(args, "--scopes", strings.Join(scopes, ","))
	}
	out, err := n.tryCLI(append(args, "--json")...)
	var exit exitError
	if err != nil && !(errors.As(err, &exit) && exit.code == 2) {
		n.t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var v verifyOut
	if jerr := json.Unmarshal([]byte(out), &v); jerr != nil {
		n.t.Fatalf("gatehouse %s --json: %v\n%s", strings.Join(args, " "), jerr, out)
	}
	if (err == nil) != v.Valid {
		n.t.Fatalf("gatehouse %s: exit error %v for valid=%v", strings.Join(args, " "), err, v.Valid)
	}
	return v
}

func (n *node) get(path string) (int, string) {
	n.t.Helper()
	resp, err := http.Get(n.main.URL() + path)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// keyLifecycle is the "done when", run against one backend: init,
// create, verify, rotate with a grace period, revoke, restart — and no
// plaintext key anywhere in the database or the logs.
func keyLifecycle(t *testing.T, cfg config.Config, dbFiles func() []string) {
	clk := testenv.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	logs := &testenv.SyncBuffer{}

	var initOut struct {
		AdminKey string `json:"admin_key"`
	}
	initArgs := []string{"init", "--data", cfg.DataDir}
	if cfg.DB != "" {
		initArgs = append(initArgs, "--db", cfg.DB)
	}
	pre := &node{t: t, env: map[string]string{}}
	pre.cliJSON(&initOut, initArgs...)
	if !strings.HasPrefix(initOut.AdminKey, "sk_live_") {
		t.Fatalf("init printed admin key %q, want an sk_live_ key", initOut.AdminKey)
	}
	if out, err := pre.tryCLI(initArgs...); err == nil || !strings.Contains(out+err.Error(), "already initialised") {
		t.Fatalf("a second init: err = %v, out = %q; want it refused", err, out)
	}

	n := startNode(t, cfg, clk, logs)
	n.env["GATEHOUSE_ADMIN_KEY"] = initOut.AdminKey
	secrets := []string{initOut.AdminKey}

	if code, _ := n.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := n.get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d", code)
	}

	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	n.cliJSON(&created, "keys", "create", "--owner", "billing", "--name", "prod", "--scopes", "invoices:read,invoices:write", "--rate", "100/s")
	secrets = append(secrets, created.Key)
	if v := n.verify(created.Key, "invoices:read"); !v.Valid || v.Code != "VALID" || v.KeyID != created.ID || v.Owner != "billing" {
		t.Fatalf("verify new key = %+v", v)
	}
	if v := n.verify(created.Key, "admin"); v.Valid || v.Code != "INSUFFICIENT_SCOPE" {
		t.Fatalf("verify with a scope the key lacks = %+v", v)
	}
	mistyped := created.Key[:len(created.Key)-1] + "x"
	if strings.HasSuffix(created.Key, "x") { // one key in 62 ends in "x" already
		mistyped = created.Key[:len(created.Key)-1] + "y"
	}
	if v := n.verify(mistyped); v.Code != "INVALID" {
		t.Fatalf("verify a mistyped key = %+v", v)
	}

	var rotated struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	n.cliJSON(&rotated, "keys", "rotate", created.ID, "--grace", "1h")
	secrets = append(secrets, rotated.Key)
	if v := n.verify(created.Key, "invoices:read"); v.Code != "VALID" {
		t.Fatalf("old key during the grace period = %+v", v)
	}
	if v := n.verify(rotated.Key, "invoices:write"); v.Code != "VALID" {
		t.Fatalf("new key = %+v", v)
	}
	clk.Add(time.Hour + time.Second)
	if v := n.verify(created.Key); v.Valid {
		t.Fatalf("old key after the grace period = %+v, want it refused", v)
	}
	if v := n.verify(rotated.Key); v.Code != "VALID" {
		t.Fatalf("new key after the grace period = %+v", v)
	}

	n.cli("keys", "revoke", rotated.ID)
	if v := n.verify(rotated.Key); v.Code != "REVOKED" {
		t.Fatalf("revoked key on the next request = %+v", v)
	}

	list := n.cli("keys", "list", "--owner", "billing")
	for _, id := range []string{created.ID, rotated.ID} {
		if !strings.Contains(list, id) {
			t.Errorf("keys list does not show %s:\n%s", id, list)
		}
	}
	audit := n.cli("audit")
	for _, ev := range []string{"key.created", "key.rotated", "key.revoked"} {
		if !strings.Contains(audit, ev) {
			t.Errorf("audit does not show %s:\n%s", ev, audit)
		}
	}

	// Nor do the metrics hold one.
	if _, metrics := n.get("/metrics"); strings.Contains(metrics, "gatehouse_apikey_verifications_total") {
		for _, s := range secrets {
			if strings.Contains(metrics, s[8:]) {
				t.Error("/metrics holds a plaintext key")
			}
		}
	} else {
		t.Error("/metrics has no key verification counts")
	}

	// Restart: everything is still there.
	if err := n.main.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	n2 := startNode(t, cfg, clk, logs)
	n2.env["GATEHOUSE_ADMIN_KEY"] = initOut.AdminKey
	if v := n2.verify(rotated.Key); v.Code != "REVOKED" {
		t.Fatalf("revoked key after a restart = %+v", v)
	}
	var got struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		LastUsedAt string `json:"last_used_at"`
	}
	n2.cliJSON(&got, "keys", "get", created.ID)
	if got.ID != created.ID || got.Status != "expired" {
		t.Fatalf("keys get after restart = %+v", got)
	}
	if got.LastUsedAt == "" {
		t.Errorf("last_used_at was not written before shutdown: %+v", got)
	}
	n2.main.Close()

	// The plaintext keys are nowhere: not in the database, not in the logs.
	for _, f := range dbFiles() {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // -wal and -shm files are gone after a clean close
		}
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) || bytes.Contains(data, []byte(s[8:])) {
				t.Errorf("%s holds a plaintext key", filepath.Base(f))
			}
		}
	}
	logText := logs.String()
	if !strings.Contains(logText, created.ID) {
		t.Errorf("the logs never name key %s; are requests logged?", created.ID)
	}
	for _, s := range secrets {
		if strings.Contains(logText, s[8:]) {
			t.Errorf("the logs hold a plaintext key")
		}
	}
}

func TestKeyLifecycleSQLite(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	keyLifecycle(t, cfg, func() []string {
		p := cfg.SQLitePath()
		return []string{p, p + "-wal", p + "-shm"}
	})
}

func TestKeyLifecyclePostgres(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), pgDSN(t))
	keyLifecycle(t, cfg, func() []string { return nil })
}

// TestServeDev runs the README's first command: serve --dev initialises the
// data folder on first start and prints the URL and the admin key once.
func TestServeDev(t *testing.T) {
	dir := t.TempDir()
	start := func() (url, key string, stop func()) {
		fresh := firstStart(dir)
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		cmd := newRootCommand(pw, io.Discard, func(string) string { return "" })
		cmd.SetArgs([]string{"serve", "--dev", "--data", dir, "--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"})
		done := make(chan error, 1)
		go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if u, ok := strings.CutPrefix(line, "Gatehouse is running at "); ok {
				url = u
				if !fresh {
					break // no key on a later start
				}
			}
			if strings.HasPrefix(line, "sk_test_") {
				key = line
			}
			if strings.HasPrefix(line, "Try:") {
				break
			}
		}
		go io.Copy(io.Discard, pr)
		return url, key, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve returned %v after SIGINT", err)
			}
		}
	}
	url, key, stop := start()
	if url == "" || key == "" {
		t.Fatalf("first start printed url %q and key %q; want both", url, key)
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	stop()
	if _, err := os.Stat(filepath.Join(dir, "gatehouse.db")); err != nil {
		t.Fatalf("no database in the data folder: %v", err)
	}
	info, err := os.Stat(filepath.Join(dir, "secret"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}

	url2, key2, stop2 := start()
	defer stop2()
	if url2 == "" || key2 != "" {
		t.Fatalf("second start printed url %q and key %q; want the URL and no key", url2, key2)
	}
}

// firstStart reports whether the data folder holds no database yet.
func firstStart(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "gatehouse.db"))
	return err != nil
}

func TestServeRefusesPlainHTTPOnPublicAddress(t *testing.T) {
	cmd := newRootCommand(io.Discard, io.Discard, func(string) string { return "" })
	cmd.SetArgs([]string{"serve", "--data", t.TempDir(), "--addr", "0.0.0.0:0"})
	err := cmd.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refusing to serve plain HTTP") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}

func TestServeWithoutInitSaysWhatToDo(t *testing.T) {
	cmd := newRootCommand(io.Discard, io.Discard, func(string) string { return "" })
	cmd.SetArgs([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"})
	err := cmd.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gatehouse init") {
		t.Fatalf("err = %v, want it to point at gatehouse init", err)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cfg, testenv.NewClock(time.Now().UTC()), &testenv.SyncBuffer{})
	n.get("/healthz")
	code, body := n.get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, `gatehouse_http_requests_total{code="200",group="health"}`) {
		t.Fatalf("/metrics = %d:\n%s", code, firstLines(body, 20))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n") + fmt.Sprintf("\n(%d bytes)", len(s))
}

// TestRevocationReachesEveryNode runs two nodes on one PostgreSQL database:
// a key cached by node B is refused by B right after node A revokes it.
func TestRevocationReachesEveryNode(t *testing.T) {
	dsn := pgDSN(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	cfgA := testConfig(t, t.TempDir(), dsn)
	cfgA.Secret = secret
	cfgB := cfgA
	cfgB.DataDir = t.TempDir()
	cfgB.CacheTTL = time.Hour // only the notification can make B forget the key

	_, adminKey, err := initialize(context.Background(), cfgA, NewLogger(cfgA, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	a := startNode(t, cfgA, clk, &testenv.SyncBuffer{})
	b := startNode(t, cfgB, clk, &testenv.SyncBuffer{})
	a.env["GATEHOUSE_ADMIN_KEY"], b.env["GATEHOUSE_ADMIN_KEY"] = adminKey, adminKey

	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	a.cliJSON(&created, "keys", "create", "--owner", "orders")
	if v := b.verify(created.Key); v.Code != "VALID" {
		t.Fatalf("node B before revocation = %+v", v)
	}
	a.cli("keys", "revoke", created.ID)
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := b.verify(created.Key)
		if v.Code == "REVOKED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B still answers %+v five seconds after node A revoked the key", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pgDSN(t *testing.T) string {
	dsn, _ := testenv.PostgresSchema(t)
	return dsn
}
