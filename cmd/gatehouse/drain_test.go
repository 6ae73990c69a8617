package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// A draining node tells balancers to go (/readyz 503) while it goes on
// serving both listeners, closing each connection after its response, until
// its delay ends or a second signal cuts it short.
func TestDrainFailsReadinessWhileServing(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir(), "")
	if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cfg, testenv.NewClock(time.Now().UTC()), &testenv.SyncBuffer{})
	get := func(url string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get(n.main.URL() + "/readyz"); resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("/readyz before draining: %d (close: %v)", resp.StatusCode, resp.Close)
	}

	skip := make(chan os.Signal, 1)
	drained := make(chan struct{})
	go func() { n.main.Drain(time.Hour, skip); close(drained) }()
	waitFor(t, "/readyz to fail once draining", func() bool {
		resp, body := get(n.main.URL() + "/readyz")
		return resp.StatusCode == http.StatusServiceUnavailable && body == "draining\n"
	})
	if resp, _ := get(n.main.URL() + "/healthz"); resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("a draining node's API: %d (connection closed after it: %v), want 200 and Connection: close", resp.StatusCode, resp.Close)
	}
	if resp, _ := get(n.main.GatewayURL() + "/no-such-route"); resp.StatusCode != http.StatusNotFound || !resp.Close {
		t.Errorf("a draining node's gateway: %d (connection closed after it: %v), want 404 and Connection: close", resp.StatusCode, resp.Close)
	}
	select {
	case <-drained:
		t.Fatal("Drain returned before its delay or a second signal")
	default:
	}
	skip <- os.Interrupt // the operator insists
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal did not cut the drain short")
	}
}
