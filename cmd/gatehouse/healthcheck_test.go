package main

import (
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// healthNode starts a real node on SQLite, with its secret from the
// configuration as GATEHOUSE_SECRET gives it, so no init is needed.
func healthNode(t *testing.T) *node {
	t.Helper()
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Secret = make([]byte, 32)
	rand.Read(cfg.Secret)
	return startNode(t, cfg, testenv.NewClock(time.Now().UTC()), &testenv.SyncBuffer{})
}

func TestHealthcheckPassesAgainstAReadyNode(t *testing.T) {
	t.Parallel()
	n := healthNode(t)
	code, stdout, stderr := runCLI(t, nil, "healthcheck", "--url", n.main.URL()+"/readyz")
	if code != exitOK || strings.TrimSpace(stdout) != "ready" {
		t.Fatalf("healthcheck = %d, %q, %q; want 0 and ready", code, stdout, stderr)
	}
}

func TestHealthcheckFailsWithExitStatusOne(t *testing.T) {
	t.Parallel()
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code == http.StatusFound {
				http.Redirect(w, r, "/elsewhere", code) // /elsewhere would answer 200
				return
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/readyz"
	}
	// A port that was listened on and is closed again refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/readyz"
	ln.Close()

	for _, tc := range []struct {
		name, url, want string
	}{
		{"not ready (503)", status(http.StatusServiceUnavailable), "503"},
		{"a redirect is not followed", status(http.StatusFound), "302"},
		{"nobody listening", closed, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, "healthcheck", "--url", tc.url)
			if code != exitFailure || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Fatalf("healthcheck = %d, %q, %q; want 1 and an error naming %q", code, stdout, stderr, tc.want)
			}
			if strings.Contains(stderr, "GATEHOUSE_SERVER") {
				t.Errorf("the error hints at the admin CLI's server: %q", stderr)
			}
		})
	}
}

func TestHealthcheckGivesUpAfterItsTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a node that accepted the connection and hangs
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	start := time.Now()
	code, _, stderr := runCLI(t, nil, "healthcheck", "--url", srv.URL+"/readyz", "--timeout", "200ms")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("healthcheck took %s with --timeout 200ms", took)
	}
	if code != exitFailure || !strings.Contains(stderr, "did not answer within 200ms") {
		t.Fatalf("healthcheck = %d, %q; want 1 and a timeout", code, stderr)
	}
}

func TestHealthcheckRefusesABadURLAsAUsageError(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--url", "127.0.0.1:8080/readyz"},
		{"--url", "ftp://127.0.0.1/readyz"},
		{"--timeout", "0s"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"healthcheck"}, args...)...)
		if code != exitUsage {
			t.Errorf("healthcheck %v = %d, %q; want %d", args, code, stderr, exitUsage)
		}
	}
}
