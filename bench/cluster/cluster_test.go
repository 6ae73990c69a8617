package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestScrapeSumsTheSamplesOfAMetric(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `# HELP gatehouse_http_requests_total HTTP requests served.
# TYPE gatehouse_http_requests_total counter
gatehouse_http_requests_total{code="200",group="verify"} 120
gatehouse_http_requests_total{code="503",group="verify"} 2
gatehouse_http_requests_total{code="200",group="health"} 40
go_goroutines 57
process_open_fds 1.2e+01
`)
	}))
	defer srv.Close()
	s, err := scrape(t.Context(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	served := func(x sample) bool { return x.label("group") != "health" }
	if got := sum(s, "gatehouse_http_requests_total", served); got != 122 {
		t.Errorf("requests without health checks = %v, want 122", got)
	}
	if got := sum(s, "gatehouse_http_requests_total", func(x sample) bool { return x.label("code") == "503" }); got != 2 {
		t.Errorf("503 answers = %v, want 2", got)
	}
	if got := sum(s, "go_goroutines", nil); got != 57 {
		t.Errorf("goroutines = %v, want 57", got)
	}
	if got := sum(s, "process_open_fds", nil); got != 12 {
		t.Errorf("a value in exponent form = %v, want 12", got)
	}
}

func TestProcReadsThisProcess(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system")
	}
	rss, err := procStatusKB(os.Getpid(), "VmRSS")
	if err != nil || rss <= 0 {
		t.Fatalf("VmRSS = %d, %v", rss, err)
	}
	fds, sockets, err := openFiles(os.Getpid())
	if err != nil || fds < 3 || sockets > fds {
		t.Fatalf("open files = %d (%d sockets), %v; want at least stdin, stdout and stderr", fds, sockets, err)
	}
	if _, err := procStatusKB(os.Getpid(), "NoSuchField"); err == nil {
		t.Error("a field /proc does not have was read")
	}
}

func TestGrowthComparesFloorsSoConnectionsSwingingIsFlat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		xs   []float64
		want float64
	}{
		{"steady", []float64{50, 50, 50, 50, 50, 50}, 0},
		{"swinging by a fifth around the same floor", []float64{52, 62, 51, 60, 66, 52}, 0},
		{"a leak raises the floor", []float64{50, 55, 52, 60, 60, 62}, 0.2},
		{"falling", []float64{60, 61, 62, 50, 52, 51}, 51.0/60 - 1},
		{"two readings", []float64{40, 44}, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := growth(tc.xs); got < tc.want-1e-9 || got > tc.want+1e-9 {
				t.Errorf("growth(%v) = %v, want %v", tc.xs, got, tc.want)
			}
		})
	}
}

func TestQuantilesOfTheDelays(t *testing.T) {
	t.Parallel()
	p := propagation{}
	for i := 200; i >= 1; i-- { // unsorted on purpose
		p.delays = append(p.delays, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 100 * time.Millisecond, 0.99: 198 * time.Millisecond, 1: 200 * time.Millisecond} {
		if got := p.quantile(q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := (propagation{}).quantile(0.5); got != 0 {
		t.Errorf("quantile of no trials = %v, want 0", got)
	}
}

func TestKIDReadsTheJWTHeader(t *testing.T) {
	t.Parallel()
	// {"alg":"ES256","kid":"sk_1"} . {} . signature
	if got := kid("eyJhbGciOiJFUzI1NiIsImtpZCI6InNrXzEifQ.e30.c2ln"); got != "sk_1" {
		t.Errorf("kid = %q, want sk_1", got)
	}
	for _, bad := range []string{"", "not a jwt", "!!!.e30.x"} {
		if got := kid(bad); got != "" {
			t.Errorf("kid(%q) = %q, want none", bad, got)
		}
	}
}
