// Command verifyload is the load test of POST /v1/keys/verify on loopback.
//
// It builds the gatehouse binary, starts it as a separate process on a
// fresh SQLite data folder, creates an API key, and then drives the verify
// endpoint with concurrent keep-alive connections. In the same run it drives
// a baseline — a minimal Go net/http server (another process) that decodes
// the same JSON body and answers a fixed JSON document — so the figures can
// be read as a ratio that survives a noisy, shared machine.
//
// The load comes from wrk when it is installed (apt-get install wrk): a C
// client that leaves most of the two cores to the servers. Without it, or
// with -driver go, a Go client does the same job at a higher cost of its own.
//
//	go run ./bench/verifyload -duration 10s -concurrency 16
package main

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

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "verifyload:", err)
		os.Exit(1)
	}
}

func run() error {
	baselineAddr := flag.String("serve-baseline", "", "internal: serve the baseline on this address")
	duration := flag.Duration("duration", 10*time.Second, "how long to drive each target")
	concurrency := flag.Int("concurrency", 16, "concurrent connections")
	driver := flag.String("driver", "", "load generator: wrk or go (default: wrk if installed)")
	flag.Parse()
	if *driver == "" {
		*driver = "go"
		if _, err := exec.LookPath("wrk"); err == nil {
			*driver = "wrk"
		}
	}
	if *driver != "wrk" && *driver != "go" {
		return fmt.Errorf("-driver %q: want wrk or go", *driver)
	}
	if *baselineAddr != "" {
		return serveBaseline(*baselineAddr)
	}

	dir, err := os.MkdirTemp("", "verifyload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build gatehouse (run from the repository root): %w", err)
	}

	// The baseline: this program again, serving a minimal JSON endpoint.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	baseAddr, err := freeAddr()
	if err != nil {
		return err
	}
	base := exec.Command(self, "-serve-baseline", baseAddr)
	base.Stderr = os.Stderr
	if err := base.Start(); err != nil {
		return err
	}
	defer stop(base)

	// Gatehouse itself.
	data := filepath.Join(dir, "data")
	initOut, err := exec.Command(bin, "init", "--data", data, "--json").Output()
	if err != nil {
		return fmt.Errorf("gatehouse init: %w", err)
	}
	var initResp struct {
		AdminKey string `json:"admin_key"`
	}
	if err := json.Unmarshal(initOut, &initResp); err != nil {
		return fmt.Errorf("gatehouse init output: %w", err)
	}
	ghAddr, err := freeAddr()
	if err != nil {
		return err
	}
	gh := exec.Command(bin, "serve", "--data", data, "--addr", ghAddr)
	gh.Env = append(os.Environ(), "GATEHOUSE_LOG_LEVEL=warn")
	gh.Stderr = os.Stderr
	if err := gh.Start(); err != nil {
		return err
	}
	defer stop(gh)

	baseURL, ghURL := "http://"+baseAddr, "http://"+ghAddr
	for _, u := range []string{baseURL + "/healthz", ghURL + "/healthz"} {
		if err := waitUp(u); err != nil {
			return err
		}
	}
	key, err := createKey(ghURL, initResp.AdminKey)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"key": key, "scopes": []string{"read"}})

	fmt.Printf("verify endpoint load test: %s driver, %d connections, %s per target, %d CPUs\n",
		*driver, *concurrency, *duration, runtime.NumCPU())
	drive := driveGo
	if *driver == "wrk" {
		drive = func(url string, body []byte, c int, d time.Duration) (result, error) {
			return driveWrk(dir, url, body, c, d)
		}
	}
	baseRes, err := drive(baseURL+"/v1/keys/verify", body, *concurrency, *duration)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	ghRes, err := drive(ghURL+"/v1/keys/verify", body, *concurrency, *duration)
	if err != nil {
		return fmt.Errorf("gatehouse: %w", err)
	}
	fmt.Printf("%-34s %10s %9s %9s %12s\n", "target", "req/s", "p50", "p99", "ratio (rps)")
	for _, r := range []struct {
		name string
		res  result
	}{{"baseline (minimal net/http JSON)", baseRes}, {"gatehouse /v1/keys/verify", ghRes}} {
		fmt.Printf("%-34s %10.0f %9s %9s %12.2f\n", r.name, r.res.rps, r.res.p50.Round(time.Microsecond),
			r.res.p99.Round(time.Microsecond), r.res.rps/baseRes.rps)
	}
	return nil
}

// serveBaseline answers like the verify endpoint would, without any work:
// what net/http and JSON cost on this machine.
func serveBaseline(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST /v1/keys/verify", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Key    string   `json:"key"`
			Scopes []string `json:"scopes"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"valid": true, "code": "VALID", "key_id": "key_baseline",
			"owner": "baseline", "scopes": req.Scopes})
	})
	return http.ListenAndServe(addr, mux)
}

type result struct {
	rps      float64
	p50, p99 time.Duration
}

// driveGo sends POSTs from concurrency keep-alive clients for d and measures
// every request's latency.
func driveGo(url string, body []byte, concurrency int, d time.Duration) (result, error) {
	tr := &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()

	// Warm up connections and caches before measuring.
	warm, cancelWarm := context.WithTimeout(context.Background(), time.Second)
	_, _ = load(warm, client, url, body, concurrency)
	cancelWarm()

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	lat, err := load(ctx, client, url, body, concurrency)
	elapsed := time.Since(start)
	if err != nil {
		return result{}, err
	}
	if len(lat) == 0 {
		return result{}, errors.New("no request completed")
	}
	slices.Sort(lat)
	return result{
		rps: float64(len(lat)) / elapsed.Seconds(),
		p50: lat[len(lat)*50/100],
		p99: lat[len(lat)*99/100],
	}, nil
}

// driveWrk runs wrk with one thread (the other core is the server's) after a
// one-second warm-up, and reads its summary.
func driveWrk(dir, url string, body []byte, concurrency int, d time.Duration) (result, error) {
	script := filepath.Join(dir, "post.lua")
	lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", body)
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		return result{}, err
	}
	run := func(d time.Duration) (string, error) {
		out, err := exec.Command("wrk", "-t1", fmt.Sprintf("-c%d", concurrency), fmt.Sprintf("-d%ds", int(d.Seconds())),
			"--latency", "-s", script, url).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("wrk: %w: %s", err, out)
		}
		return string(out), nil
	}
	if _, err := run(time.Second); err != nil {
		return result{}, err
	}
	out, err := run(d)
	if err != nil {
		return result{}, err
	}
	var res result
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			fmt.Sscanf(f[1], "%g", &res.rps)
		case len(f) == 2 && f[0] == "50%":
			res.p50, _ = time.ParseDuration(f[1])
		case len(f) == 2 && f[0] == "99%":
			res.p99, _ = time.ParseDuration(f[1])
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx"):
			return result{}, fmt.Errorf("wrk saw failed requests: %s", strings.TrimSpace(line))
		}
	}
	if res.rps == 0 || res.p99 == 0 {
		return result{}, fmt.Errorf("could not read wrk's output:\n%s", out)
	}
	return res, nil
}

func load(ctx context.Context, client *http.Client, url string, body []byte, concurrency int) ([]time.Duration, error) {
	var (
		mu       sync.Mutex
		all      []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			for ctx.Err() == nil {
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = cmpErr(firstErr, err)
						mu.Unlock()
					}
					break
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("status %d", resp.StatusCode))
					mu.Unlock()
					break
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, firstErr
}

func cmpErr(old, new error) error {
	if old != nil {
		return old
	}
	return new
}

func createKey(baseURL, adminKey string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, baseURL+"/admin/v1/keys",
		strings.NewReader(`{"owner":"loadtest","name":"verifyload","scopes":["read"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Key string `json:"key"`
	}
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("create key: status %d: %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Key == "" {
		return "", fmt.Errorf("create key: unexpected response")
	}
	return out.Key, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitUp(url string) error {
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

func stop(cmd *exec.Cmd) {
	if cmd.Process != nil {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	}
}
