package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestMain lets a test run this binary as the gatehouse program, so a real
// server process can be killed mid-write.
func TestMain(m *testing.M) {
	if os.Getenv("GATEHOUSE_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestKillDuringWritesLeavesNothingHalfWritten kills the server with SIGKILL
// while clients create and rotate keys, then checks the database: every key
// has its creation event, every rotation has both halves and its event.
func TestKillDuringWritesLeavesNothingHalfWritten(t *testing.T) {
	p := startProcess(t, "GATEHOUSE_LOG_LEVEL=warn")
	cmd, url, adminKey, cfg := p.cmd, p.url, p.adminKey, p.cfg

	// Writers create keys and rotate each one at once, until the kill.
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; ; i++ {
				id, err := post(client, url+"/admin/v1/keys", adminKey, fmt.Sprintf(`{"owner":"crash-%d","name":"n%d","scopes":["a","b"]}`, w, i))
				if err != nil {
					return
				}
				if _, err := post(client, url+"/admin/v1/keys/"+id+"/rotate", adminKey, `{"grace":"1h"}`); err != nil {
					return
				}
				mu.Lock()
				done++
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		n := done
		mu.Unlock()
		if n >= 40 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill() // SIGKILL: no shutdown, no flush
	cmd.Wait()
	wg.Wait()

	ctx := context.Background()
	db, err := sqlite.Open(ctx, cfg.SQLitePath())
	if err != nil {
		t.Fatalf("reopen after the kill: %v", err)
	}
	defer db.Close()

	keys := map[string]*auth.APIKey{}
	for after := ""; ; {
		page, next, err := db.ListAPIKeys(ctx, auth.APIKeyFilter{After: after, Limit: auth.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page {
			keys[k.ID] = k
		}
		if next == "" {
			break
		}
		after = next
	}
	events := map[string][]string{}
	for after := int64(0); ; {
		page, next, err := db.ListAuditEvents(ctx, auth.AuditFilter{After: after, Limit: auth.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			events[e.KeyID] = append(events[e.KeyID], e.Type)
		}
		if next == 0 {
			break
		}
		after = next
	}
	if len(keys) < 80 {
		t.Fatalf("only %d keys survived; the writers did not get far", len(keys))
	}
	for id, k := range keys {
		evs := strings.Join(events[id], ",")
		if !strings.Contains(evs, auth.EventKeyCreated) {
			t.Errorf("key %s has no %s event (events: %s)", id, auth.EventKeyCreated, evs)
		}
		if k.RotatedTo != "" {
			if _, ok := keys[k.RotatedTo]; !ok {
				t.Errorf("key %s was rotated to %s, which does not exist", id, k.RotatedTo)
			}
			if !strings.Contains(evs, auth.EventKeyRotated) {
				t.Errorf("key %s was rotated without a %s event (events: %s)", id, auth.EventKeyRotated, evs)
			}
		}
		if k.RotatedFrom != "" {
			if old, ok := keys[k.RotatedFrom]; !ok || old.RotatedTo != id {
				t.Errorf("key %s replaced %s, which does not point back to it", id, k.RotatedFrom)
			}
		}
	}
	for id := range events {
		// Client events name the client (the dashboard's, registered at
		// every start), which is no key.
		if _, ok := keys[id]; id != "" && !ok && !strings.HasPrefix(id, client.IDPrefix) {
			t.Errorf("an event names key %s, which does not exist", id)
		}
	}
}

// process is a gatehouse server running as a separate process: this test
// binary, re-executed as the program (see TestMain).
type process struct {
	cmd      *exec.Cmd
	url      string
	gwURL    string
	adminKey string
	cfg      config.Config
	stderr   *testenv.SyncBuffer
}

// startProcess initialises a data folder and serves it from a new process
// with the given extra environment, returning once it listens.
func startProcess(t *testing.T, env ...string) *process {
	t.Helper()
	dir := t.TempDir()
	p := &process{cfg: testConfig(t, dir, ""), stderr: &testenv.SyncBuffer{}}
	var err error
	if _, p.adminKey, err = initialize(context.Background(), p.cfg, NewLogger(p.cfg, io.Discard)); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(os.Args[0], "serve", "--data", dir, "--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0")
	// No balancer to wait for: the shutdown delay would only slow the test.
	p.cmd.Env = append(append(os.Environ(), "GATEHOUSE_TEST_RUN_MAIN=1", "GATEHOUSE_SHUTDOWN_DELAY=0"), env...)
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "Gatehouse is running at "); ok {
			p.url = u
		}
		if u, ok := strings.CutPrefix(sc.Text(), "Gateway is running at "); ok {
			p.gwURL = u
			break
		}
	}
	if p.url == "" {
		t.Fatalf("the server did not start:\n%s", p.stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	return p
}

// post sends an admin request and returns the id of the key in the answer.
func post(c *http.Client, url, adminKey, body string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", adminKey)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		ID     string `json:"id"`
		NewKey struct {
			ID string `json:"id"`
		} `json:"new_key"`
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if out.ID == "" {
		out.ID = out.NewKey.ID
	}
	return out.ID, nil
}

// TestSIGTERMShutsDownGracefully stops a real server process with SIGTERM:
// it exits 0 and writes the batched last-used time before it goes.
func TestSIGTERMShutsDownGracefully(t *testing.T) {
	p := startProcess(t, "GATEHOUSE_FLUSH_INTERVAL=1h")
	cmd, url, adminKey, cfg, stderr := p.cmd, p.url, p.adminKey, p.cfg, p.stderr

	// One admin request marks the admin key as used, in memory only.
	req, _ := http.NewRequest(http.MethodGet, url+"/admin/v1/keys", nil)
	req.Header.Set("X-API-Key", adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", stderr.String())
	}
	db, err := sqlite.Open(context.Background(), cfg.SQLitePath())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, _, err := db.ListAPIKeys(context.Background(), auth.APIKeyFilter{Owner: AdminOwner})
	if err != nil || len(keys) != 1 {
		t.Fatalf("admin keys: %v, %v", keys, err)
	}
	if keys[0].LastUsedAt.IsZero() {
		t.Error("the last-used time was lost at shutdown")
	}
}
