// Package loadtest holds what the loopback load commands share: building
// and starting the real gatehouse binary, and driving an endpoint with
// concurrent keep-alive connections (wrk when installed, else a Go client)
// while measuring throughput and latency percentiles.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Request is the request a load test repeats.
type Request struct {
	Method     string
	URL        string
	Header     http.Header
	Body       []byte
	WantStatus int // default 200
	// Proofs, when set, gives each request a DPoP header of its own (a
	// ProofPool's); a worker stops when it runs out. Only the Go driver
	// supports it.
	Proofs func() (string, bool)
}

// Result is what one target achieved.
type Result struct {
	RPS      float64
	P50, P99 time.Duration
}

// Driver drives req from concurrency connections for d.
type Driver func(req Request, concurrency int, d time.Duration) (Result, error)

// PickDriver returns the named driver ("wrk" or "go"; "" picks wrk when it
// is installed). dir holds wrk's scripts.
func PickDriver(name, dir string) (Driver, string, error) {
	if name == "" {
		name = "go"
		if _, err := exec.LookPath("wrk"); err == nil {
			name = "wrk"
		}
	}
	switch name {
	case "go":
		return DriveGo, name, nil
	case "wrk":
		return func(req Request, c int, d time.Duration) (Result, error) { return DriveWrk(dir, req, c, d) }, name, nil
	}
	return nil, "", fmt.Errorf("driver %q: want wrk or go", name)
}

// DriveGo sends req from concurrency keep-alive clients for d, after a
// one-second warm-up, and measures every request's latency.
func DriveGo(req Request, concurrency int, d time.Duration) (Result, error) {
	tr := &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()

	warm, cancelWarm := context.WithTimeout(context.Background(), time.Second)
	_, _ = load(warm, client, req, concurrency)
	cancelWarm()

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	lat, err := load(ctx, client, req, concurrency)
	elapsed := time.Since(start)
	if err != nil {
		return Result{}, err
	}
	if len(lat) == 0 {
		return Result{}, errors.New("no request completed")
	}
	slices.Sort(lat)
	return Result{
		RPS: float64(len(lat)) / elapsed.Seconds(),
		P50: lat[len(lat)*50/100],
		P99: lat[len(lat)*99/100],
	}, nil
}

// DriveWrk runs wrk with one thread (the other core is the server's) after
// a one-second warm-up, and reads its summary. A non-2xx answer fails it.
func DriveWrk(dir string, req Request, concurrency int, d time.Duration) (Result, error) {
	if req.Proofs != nil {
		return Result{}, errors.New("wrk cannot send a fresh DPoP proof per request: use -driver go")
	}
	script := filepath.Join(dir, "request.lua")
	var lua strings.Builder
	fmt.Fprintf(&lua, "wrk.method = %q\nwrk.body = %q\n", req.Method, req.Body)
	for name, vs := range req.Header {
		fmt.Fprintf(&lua, "wrk.headers[%q] = %q\n", name, strings.Join(vs, ", "))
	}
	if err := os.WriteFile(script, []byte(lua.String()), 0o600); err != nil {
		return Result{}, err
	}
	run := func(d time.Duration) (string, error) {
		out, err := exec.Command("wrk", "-t1", fmt.Sprintf("-c%d", concurrency), fmt.Sprintf("-d%ds", int(d.Seconds())),
			"--latency", "-s", script, req.URL).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("wrk: %w: %s", err, out)
		}
		return string(out), nil
	}
	if _, err := run(time.Second); err != nil {
		return Result{}, err
	}
	out, err := run(d)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			fmt.Sscanf(f[1], "%g", &res.RPS)
		case len(f) == 2 && f[0] == "50%":
			res.P50, _ = time.ParseDuration(f[1])
		case len(f) == 2 && f[0] == "99%":
			res.P99, _ = time.ParseDuration(f[1])
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx"):
			return Result{}, fmt.Errorf("wrk saw failed requests: %s", strings.TrimSpace(line))
		}
	}
	if res.RPS == 0 || res.P99 == 0 {
		return Result{}, fmt.Errorf("could not read wrk's output:\n%s", out)
	}
	return res, nil
}

func load(ctx context.Context, client *http.Client, req Request, concurrency int) ([]time.Duration, error) {
	want := req.WantStatus
	if want == 0 {
		want = http.StatusOK
	}
	var (
		mu       sync.Mutex
		all      []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for range concurrency {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1<<16)
			for ctx.Err() == nil {
				r, err := http.NewRequestWithContext(context.Background(), req.Method, req.URL, bytes.NewReader(req.Body))
				if err != nil {
					fail(err)
					break
				}
				r.Header = req.Header.Clone()
				if req.Proofs != nil {
					p, ok := req.Proofs()
					if !ok {
						break
					}
					r.Header.Set("DPoP", p)
				}
				t0 := time.Now()
				resp, err := client.Do(r)
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					break
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					fail(fmt.Errorf("status %d", resp.StatusCode))
					break
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all, firstErr
}

// StartBaseline runs this program again as the baseline server, with
// -flag ADDR telling it to serve on a free loopback address, and waits
// until its /healthz answers. It returns the baseline's URL and a stop.
func StartBaseline(flag string) (url string, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, flag, addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { Stop(cmd) }
	url = "http://" + addr
	if err := WaitUp(url + "/healthz"); err != nil {
		stop()
		return "", nil, err
	}
	return url, stop, nil
}

// Gatehouse is a gatehouse process started on a fresh data folder.
type Gatehouse struct {
	URL        string
	GatewayURL string
	AdminKey   string
	cmd        *exec.Cmd
}

// Build builds the gatehouse binary into dir (run from the repository root).
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build gatehouse (run from the repository root): %w", err)
	}
	return bin, nil
}

// StartGatehouse initialises a data folder in dir and serves it on a free
// loopback port, logging warnings and errors only.
func StartGatehouse(bin, dir string) (*Gatehouse, error) {
	data := filepath.Join(dir, "data")
	initOut, err := exec.Command(bin, "init", "--data", data, "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("gatehouse init: %w", err)
	}
	var initResp struct {
		AdminKey string `json:"admin_key"`
	}
	if err := json.Unmarshal(initOut, &initResp); err != nil {
		return nil, fmt.Errorf("gatehouse init output: %w", err)
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	gwAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", addr, "--gateway-addr", gwAddr)
	// Warnings only, and no access log: a load test would measure the
	// terminal, not the server. All the load comes from one address, so
	// the verify endpoint's per-source limit is raised out of its way, but
	// left on: its cost is part of what is measured.
	cmd.Env = append(os.Environ(), "GATEHOUSE_LOG_LEVEL=warn", "GATEHOUSE_ACCESS_LOG=false", "GATEHOUSE_VERIFY_RATE_LIMIT=10000000")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &Gatehouse{URL: "http://" + addr, GatewayURL: "http://" + gwAddr, AdminKey: initResp.AdminKey, cmd: cmd}
	if err := WaitUp(g.URL + "/healthz"); err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}

// Admin sends an admin API request and decodes the JSON answer into out.
func (g *Gatehouse) Admin(method, path string, body any, wantStatus int, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, _ := http.NewRequest(method, g.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", g.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}

// Stop ends the process.
func (g *Gatehouse) Stop() { Stop(g.cmd) }

// FreeAddr returns a loopback address with a free port.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitUp waits until url answers 200, for 30 seconds at most.
func WaitUp(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up", url)
}

// Stop interrupts a process and kills it if it has not exited in 5 seconds.
func Stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
	}
}

// PrintTable prints each result with its ratio to the first.
func PrintTable(rows []string, results []Result) {
	fmt.Printf("%-40s %10s %9s %9s %12s\n", "target", "req/s", "p50", "p99", "ratio (rps)")
	for i, r := range results {
		fmt.Printf("%-40s %10.0f %9s %9s %12.2f\n", rows[i], r.RPS, r.P50.Round(time.Microsecond),
			r.P99.Round(time.Microsecond), r.RPS/results[0].RPS)
	}
}

// Flags are the command-line settings every load command shares.
type Flags struct {
	ServeBaseline string // internal: serve the baseline on this address
	Duration      time.Duration
	Concurrency   int
	Driver        string
}

// RegisterFlags registers the shared flags on the default flag set.
func RegisterFlags(concurrency int) *Flags {
	f := &Flags{}
	flag.StringVar(&f.ServeBaseline, "serve-baseline", "", "internal: serve the baseline on this address")
	flag.DurationVar(&f.Duration, "duration", 10*time.Second, "how long to drive each target")
	flag.IntVar(&f.Concurrency, "concurrency", concurrency, "concurrent connections")
	flag.StringVar(&f.Driver, "driver", "", "load generator: wrk or go (default: wrk if installed)")
	return f
}

// Bench is one run of a load command: a built and started gatehouse and
// the baseline (this program again, with -serve-baseline), on loopback.
type Bench struct {
	Flags      *Flags
	Drive      Driver
	DriverName string
	BaseURL    string
	Gatehouse  *Gatehouse
	dir        string
	stopBase   func()
}

// Start builds gatehouse and starts it and the baseline.
func Start(name string, f *Flags) (b *Bench, err error) {
	b = &Bench{Flags: f}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.dir, err = os.MkdirTemp("", name+"-"); err != nil {
		return nil, err
	}
	if b.Drive, b.DriverName, err = PickDriver(f.Driver, b.dir); err != nil {
		return nil, err
	}
	bin, err := Build(b.dir)
	if err != nil {
		return nil, err
	}
	if b.BaseURL, b.stopBase, err = StartBaseline("-serve-baseline"); err != nil {
		return nil, err
	}
	if b.Gatehouse, err = StartGatehouse(bin, b.dir); err != nil {
		return nil, err
	}
	return b, nil
}

// Compare drives the baseline's request, then gatehouse's, and prints
// both with their ratio to the baseline.
func (b *Bench) Compare(title string, names [2]string, baseline, gatehouse Request) error {
	fmt.Printf("%s: %s driver, %d connections, %s per target, %d CPUs\n",
		title, b.DriverName, b.Flags.Concurrency, b.Flags.Duration, runtime.NumCPU())
	baseRes, err := b.Drive(baseline, b.Flags.Concurrency, b.Flags.Duration)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	ghRes, err := b.Drive(gatehouse, b.Flags.Concurrency, b.Flags.Duration)
	if err != nil {
		return fmt.Errorf("gatehouse: %w", err)
	}
	PrintTable(names[:], []Result{baseRes, ghRes})
	return nil
}

// Close stops both servers and removes the working folder.
func (b *Bench) Close() {
	if b.Gatehouse != nil {
		b.Gatehouse.Stop()
	}
	if b.stopBase != nil {
		b.stopBase()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// Check sends r once, outside any measurement, and wants its status (200
// unless WantStatus says otherwise): a target that refuses its requests
// answers fast, and would flatter the figures.
func Check(r Request) error {
	req, err := http.NewRequest(r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return err
	}
	req.Header = r.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if r.Proofs != nil {
		p, _ := r.Proofs()
		req.Header.Set("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := r.WantStatus
	if want == 0 {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return nil
}
