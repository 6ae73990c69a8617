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
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/gatehouse-dev/gatehouse/bench/internal/loadtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "verifyload:", err)
		os.Exit(1)
	}
}

func run() error {
	f := loadtest.RegisterFlags(16)
	flag.Parse()
	if f.ServeBaseline != "" {
		return serveBaseline(f.ServeBaseline)
	}
	b, err := loadtest.Start("verifyload", f)
	if err != nil {
		return err
	}
	defer b.Close()
	var created struct {
		Key string `json:"key"`
	}
	if err := b.Gatehouse.Admin(http.MethodPost, "/admin/v1/keys",
		map[string]any{"owner": "loadtest", "name": "verifyload", "scopes": []string{"read"}}, http.StatusCreated, &created); err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"key": created.Key, "scopes": []string{"read"}})
	request := func(base string) loadtest.Request {
		return loadtest.Request{Method: http.MethodPost, URL: base + "/v1/keys/verify", Body: body,
			Header: http.Header{"Content-Type": {"application/json"}}}
	}
	return b.Compare("verify endpoint load test", [2]string{"baseline (minimal net/http JSON)", "gatehouse /v1/keys/verify"},
		request(b.BaseURL), request(b.Gatehouse.URL))
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
