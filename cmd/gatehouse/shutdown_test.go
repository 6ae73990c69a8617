package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// A node with a slow request in flight on both listeners still exits
// within shutdown_timeout (plus the short final flush): the two servers
// share one deadline rather than each waiting the full timeout in turn.
func TestCloseWithSlowRequestsOnBothPortsExitsWithinShutdownTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(upstream.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handlers return, then the upstream closes

	cfg := testConfig(t, t.TempDir(), "")
	cfg.ShutdownTimeout = 3 * time.Second
	n := startInitialised(t, cfg, testenv.NewClock(time.Now().UTC()), &testenv.SyncBuffer{})
	n.cli("routes", "create", "--name", "slow", "--path", "/slow", "--upstream", upstream.URL, "--policy", "public")

	// The gateway: a request the upstream holds.
	go func() {
		resp, err := http.Get(n.main.GatewayURL() + "/slow")
		if err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-arrived:
	case <-time.After(15 * time.Second):
		t.Fatal("the gateway did not pass the slow request on")
	}
	// The API: a request whose body is still on its way (ReadTimeout is
	// 30 s, far beyond the shutdown timeout).
	conn, err := net.Dial("tcp", n.main.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /oauth2/token HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=")
	// The server reads the headers and runs the handler, which waits for
	// the rest of the body; give it a moment to get there.
	time.Sleep(200 * time.Millisecond)

	start := time.Now()
	n.main.Close()
	took := time.Since(start)
	if bound := cfg.ShutdownTimeout + shutdownFlushTimeout; took > bound {
		t.Errorf("Close took %v with slow requests on both ports, want within shutdown_timeout + the final flush (%v)", took, bound)
	}
	if took < cfg.ShutdownTimeout-500*time.Millisecond {
		t.Errorf("Close took %v: the slow requests did not hold it (the test proves nothing)", took)
	}
}
