package testcluster_test

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testcluster"
)

// TestRollingRestartFailsNoRequest restarts each of three nodes in turn
// (SIGTERM, wait for it to exit, start it again) under a continuous mixed
// load through HAProxy: key verification, both gateway routes, token
// issuance and admin writes. Not one request may fail: each stopping node
// fails /readyz at once, goes on serving until the balancer has taken it
// out (shutdown_delay), finishes what it has in flight and exits 0 within
// shutdown_timeout.
func TestRollingRestartFailsNoRequest(t *testing.T) {
	// Not in parallel: one cluster at a time, so that a loaded CI machine
	// does not starve the others of CPU (they measure time) and ports.
	const shutdownTimeout = 5 * time.Second
	c := startCluster(t, testcluster.Options{
		Nodes: 3,
		Env:   []string{"GATEHOUSE_SHUTDOWN_TIMEOUT=" + shutdownTimeout.String()},
	})
	f := newFixture(t, c, false)
	tok := f.token(t)
	admin := apiKey(c.AdminKey)

	l := startLoad(
		func() error {
			valid, r := verify(c.APIURL, f.key)
			if !valid {
				return fmt.Errorf("verify: %s", r)
			}
			return nil
		},
		func() error {
			return expect("gateway key route", call("GET", c.GatewayURL+"/k", apiKey(f.key), nil), http.StatusOK)
		},
		func() error {
			return expect("gateway JWT route", call("GET", c.GatewayURL+"/j", bearer(tok), nil), http.StatusOK)
		},
		func() error {
			if tok, r := f.tryToken(); tok == "" {
				return fmt.Errorf("token: %s", r)
			}
			return nil
		},
		func() error {
			return expect("admin write", call("POST", c.APIURL+"/admin/v1/keys", admin,
				map[string]any{"owner": "rolling", "scopes": []string{"a"}}), http.StatusCreated)
		},
	)
	defer l.Stop()
	l.waitProgress(t, 50)

	ctx := context.Background()
	for i, n := range c.Nodes {
		// A request in flight at the first node when it is told to stop,
		// slower than its shutdown delay: it must still be answered.
		inflight := make(chan reply, 1)
		if i == 0 {
			go func() { inflight <- call("GET", n.GatewayURL+"/k/slow", apiKey(f.key), nil) }()
			select {
			case <-f.slowStarted:
			case <-time.After(10 * time.Second):
				t.Fatal("the slow request did not reach the upstream")
			}
		}
		stopped := time.Now()
		if err := n.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// "At once": the first look after the signal sees it.
		waitUntil(t, time.Second, n.Name+"'s /readyz to fail after SIGTERM", func() bool {
			return n.Ready(ctx) == http.StatusServiceUnavailable
		})
		waitCtx, cancel := context.WithTimeout(ctx, c.ShutdownDelay()+shutdownTimeout+2*time.Second)
		err := n.Wait(waitCtx)
		cancel()
		if err != nil {
			t.Fatalf("%s after SIGTERM: %v", n.Name, err)
		}
		t.Logf("%s exited %s after SIGTERM", n.Name, time.Since(stopped).Round(time.Millisecond))
		if i == 0 {
			if r := <-inflight; r.err != nil || r.status != http.StatusOK {
				t.Errorf("the request in flight at %s when it was stopped: %s", n.Name, r)
			}
		}
		l.waitProgress(t, 30) // served by the others meanwhile
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := n.WaitBalanced(ctx, true); err != nil {
			t.Fatal(err)
		}
		l.waitProgress(t, 30)
	}
	l.Stop()
	if l.fail.Load() != 0 || l.ok.Load() == 0 {
		t.Fatalf("a rolling restart under load: %s", l.report())
	}
	t.Logf("rolling restart of %d nodes: %s", len(c.Nodes), l.report())
}
