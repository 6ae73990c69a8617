package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestGatewayMemoryLevelsOffWithANewTokenPerRequest: a node that issues a
// new access token for every gateway call (the soak's "new token" run,
// docs/scaling.md) grows its heap while the gateway's verified-token cache
// (10,000 tokens, internal/gateway through verify) fills, and no more once
// it is full: issuing and using as many tokens again leaves the heap where
// it was. Not parallel: it reads the process's heap, which the node shares
// with the test.
func TestGatewayMemoryLevelsOffWithANewTokenPerRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("issues and uses tens of thousands of tokens")
	}
	cfg := testConfig(t, t.TempDir(), "")
	// Nothing written per request: the node's log buffer lives in this
	// process's heap too.
	cfg.LogLevel = "warn"
	cfg.Gateway.AccessLog = false
	cfg.OAuth.Issuer = "http://127.0.0.1:1"
	_, adminKey, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	n := startNode(t, cfg, testenv.NewClock(time.Now().UTC()), logs)
	ctx := t.Context()
	adm := admin.NewClient(n.main.URL(), adminKey, nil)
	cl, err := adm.CreateClient(ctx, admin.ClientRequest{Name: "mem", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read"}, Audiences: []string{"https://orders.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	// An upstream that keeps nothing (newUpstream keeps every request).
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(up.Close)
	if _, err := adm.CreateRoute(ctx, admin.RouteRequest{Name: "mem", Path: "/mem", Upstreams: []string{up.URL},
		Policy: "jwt", Scopes: []string{"orders:read"}, AnyAudience: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the gateway to serve the route", func() bool {
		return gwGet(t, n.main.GatewayURL()+"/mem", nil).status == http.StatusUnauthorized
	})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}.Encode()
	// once issues a token and calls the route with it.
	once := func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.main.URL()+"/oauth2/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(cl.ClientID, cl.ClientSecret)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if err != nil || tok.AccessToken == "" {
			return fmt.Errorf("token: %d %v", resp.StatusCode, err)
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, n.main.GatewayURL()+"/mem", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err = hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("gateway: %d", resp.StatusCode)
		}
		return nil
	}
	run := func(count int) {
		t.Helper()
		const callers = 8
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for c := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; i < count; i += callers {
					if err := once(); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	heap := func() int64 {
		hc.CloseIdleConnections()
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	const full = 11_000 // past the cache's 10,000
	run(500)            // everything but the token cache warmed up
	base := heap()
	run(full)
	atFull := heap()
	run(full)
	atTwice := heap()
	t.Logf("heap in use: %.1f MiB after 500 tokens, %.1f MiB after %d more (the token cache full), %.1f MiB after %d more; the node logged %d B",
		mib(base), mib(atFull), full, mib(atTwice), full, len(logs.String()))
	filling := atFull - base
	if filling <= 0 {
		t.Fatalf("filling the token cache did not grow the heap (%d B): the measure sees nothing", filling)
	}
	// As many tokens again past a full cache: the heap may move by the
	// noise of a GC cycle, not by anything kept per token.
	if growth := atTwice - atFull; growth > filling/4 {
		t.Errorf("the heap grew by %.1f MiB over %d more tokens, against %.1f MiB for filling the cache: something keeps per-token state beyond it",
			mib(growth), full, mib(filling))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
