package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// hookRequest is what the test receiver got.
type hookRequest struct {
	header http.Header
	body   []byte
}

// TestWebhookEndToEnd runs a real node, registers a receiver with the CLI,
// revokes a key with the CLI, and checks that the receiver gets a
// key.revoked event signed as the Standard Webhooks specification says,
// checked with code of its own.
func TestWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []hookRequest
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, hookRequest{header: r.Header.Clone(), body: b})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)

	cfg := testConfig(t, filepath.Join(t.TempDir(), "data"), "")
	cfg.Webhooks.AllowPrivate = true // the receiver is on 127.0.0.1
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})

	var hook struct {
		ID     string   `json:"id"`
		Secret string   `json:"secret"`
		Events []string `json:"events"`
	}
	n.cliJSON(&hook, "webhooks", "create", "--url", rcv.URL+"/hooks", "--events", "key.revoked,key.leaked", "--description", "e2e")
	if !strings.HasPrefix(hook.Secret, "whsec_") || strings.Join(hook.Events, ",") != "key.leaked,key.revoked" {
		t.Fatalf("created webhook = %+v", hook)
	}
	if out := n.cli("webhooks", "get", hook.ID); strings.Contains(out, hook.Secret) || !strings.Contains(out, "enabled") {
		t.Fatalf("webhooks get shows the secret or no status:\n%s", out)
	}

	var key struct {
		ID string `json:"id"`
	}
	n.cliJSON(&key, "keys", "create", "--owner", "billing")
	n.cli("keys", "revoke", key.ID)

	deadline := time.Now().Add(15 * time.Second)
	var req hookRequest
	for {
		mu.Lock()
		if len(got) > 0 {
			req = got[0]
		}
		mu.Unlock()
		if req.body != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if req.body == nil {
		t.Fatal("the receiver got nothing within 15s")
	}
	var body struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil || body.Type != "key.revoked" || body.Data["key_id"] != key.ID {
		t.Fatalf("body %s (%v); want key.revoked of %s", req.body, err, key.ID)
	}
	// The receiver's check, from the specification: HMAC-SHA256 with the
	// base64-decoded secret over "id.timestamp.body", base64, after "v1,".
	id, ts := req.header.Get("webhook-id"), req.header.Get("webhook-timestamp")
	secret, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hook.Secret, "whsec_"))
	if err != nil || id == "" || ts == "" {
		t.Fatalf("id %q, timestamp %q, secret error %v", id, ts, err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id + "." + ts + "." + string(req.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !strings.Contains(" "+req.header.Get("webhook-signature")+" ", " "+want+" ") {
		t.Fatalf("webhook-signature %q does not hold %q", req.header.Get("webhook-signature"), want)
	}

	// The delivery is listed with its outcome.
	var deliveries struct {
		Items []struct {
			EventType  string `json:"event_type"`
			State      string `json:"state"`
			StatusCode int    `json:"status_code"`
			Attempts   int    `json:"attempts"`
		} `json:"items"`
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		n.cliJSON(&deliveries, "webhooks", "deliveries", hook.ID)
		if (len(deliveries.Items) == 1 && deliveries.Items[0].State == "succeeded") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(deliveries.Items) != 1 || deliveries.Items[0].State != "succeeded" || deliveries.Items[0].StatusCode != 204 ||
		deliveries.Items[0].Attempts != 1 || deliveries.Items[0].EventType != "key.revoked" {
		t.Fatalf("deliveries = %+v", deliveries.Items)
	}
}

func TestWebhooksCLIRefusesBadInput(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, filepath.Join(t.TempDir(), "data"), "")
	n := startInitialised(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	for _, args := range [][]string{
		{"webhooks", "create", "--url", "ftp://example.com/", "--events", "key.revoked"},
		{"webhooks", "create", "--url", "https://example.com/", "--events", "key.nope"},
		{"webhooks", "create", "--url", "https://u:p@example.com/", "--events", "key.revoked"},
		{"webhooks", "create", "--url", "http://169.254.169.254/", "--events", "key.revoked"},
	} {
		if code, out, errOut := runCLI(t, n.env, args...); code != 6 {
			t.Errorf("%v: exit %d, want 6\n%s%s", args, code, out, errOut)
		}
	}
	if code, _, _ := runCLI(t, n.env, "webhooks", "create", "--url", "https://example.com/"); code != 64 {
		t.Errorf("create without --events: exit %d, want 64", code)
	}
	if code, _, _ := runCLI(t, n.env, "webhooks", "get", "wh_nope"); code != 4 {
		t.Errorf("get of an unknown webhook: exit %d, want 4", code)
	}
	var list struct {
		Items []any `json:"items"`
	}
	n.cliJSON(&list, "webhooks", "list")
	if len(list.Items) != 0 {
		t.Fatalf("bad input stored %d webhooks", len(list.Items))
	}
}

// TestWebhooksCLICommands walks every webhooks command against a real node.
func TestWebhooksCLICommands(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, filepath.Join(t.TempDir(), "data"), "")
	n := startInitialised(t, cfg, testenv.NewClock(time.Now().UTC().Truncate(time.Second)), &testenv.SyncBuffer{})
	var hook struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	n.cliJSON(&hook, "webhooks", "create", "--url", "https://hooks.example.com/x", "--events", "key.created", "--events", "route.changed")
	if out := n.cli("webhooks", "list"); !strings.Contains(out, hook.ID) || !strings.Contains(out, "key.created,route.changed") {
		t.Fatalf("webhooks list:\n%s", out)
	}
	var got struct {
		Status         string   `json:"status"`
		DisabledReason string   `json:"disabled_reason"`
		Events         []string `json:"events"`
		Description    string   `json:"description"`
	}
	n.cliJSON(&got, "webhooks", "update", hook.ID, "--disable", "--description", "paused")
	if got.Status != "disabled" || got.DisabledReason == "" || got.Description != "paused" {
		t.Fatalf("after --disable: %+v", got)
	}
	n.cliJSON(&got, "webhooks", "update", hook.ID, "--enable", "--events", "key.revoked")
	if got.Status != "enabled" || strings.Join(got.Events, ",") != "key.revoked" {
		t.Fatalf("after --enable: %+v", got)
	}
	if code, _, _ := runCLI(t, n.env, "webhooks", "update", hook.ID); code != 64 {
		t.Errorf("update with nothing to change: exit %d, want 64", code)
	}
	if code, _, _ := runCLI(t, n.env, "webhooks", "update", hook.ID, "--enable", "--disable"); code != 64 {
		t.Errorf("--enable --disable: exit %d, want 64", code)
	}
	var rotated struct {
		Secret string `json:"secret"`
	}
	n.cliJSON(&rotated, "webhooks", "rotate-secret", hook.ID)
	if !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == hook.Secret {
		t.Fatalf("rotate-secret gave %q", rotated.Secret)
	}
	if out := n.cli("webhooks", "deliveries", hook.ID); !strings.Contains(out, "EVENT") {
		t.Fatalf("webhooks deliveries:\n%s", out)
	}
	if code, _, _ := runCLI(t, n.env, "webhooks", "retry", hook.ID, "dlv_nope"); code != 4 {
		t.Errorf("retry of an unknown delivery: exit %d, want 4", code)
	}
	n.cli("webhooks", "delete", hook.ID)
	if code, _, _ := runCLI(t, n.env, "webhooks", "get", hook.ID); code != 4 {
		t.Errorf("get after delete: exit %d, want 4", code)
	}
}
