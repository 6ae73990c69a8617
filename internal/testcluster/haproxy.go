package testcluster

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"text/template"
	"time"
)

// errBalancerExited says that haproxy is gone: waiting for it is pointless.
var errBalancerExited = errors.New("haproxy has exited (its output is in the log)")

// ErrNoHAProxy says that Debian's haproxy is not installed.
var ErrNoHAProxy = errors.New("haproxy is not installed (apt-get install -y haproxy)")

// HAProxyPath finds the haproxy program, or returns ErrNoHAProxy.
func HAProxyPath() (string, error) {
	for _, p := range []string{"haproxy", "/usr/sbin/haproxy"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", ErrNoHAProxy
}

// balancerConfig is what the HAProxy configuration is written from.
type balancerConfig struct {
	APIPort, GatewayPort, StatsPort int
	Nodes                           []nodePorts
	// The health checks' intervals: while a node is up, while it changes
	// state, and while it is down.
	CheckInterval, FastInterval, DownInterval time.Duration
}

type nodePorts struct {
	Name         string
	API, Gateway int
}

// ms writes a duration as HAProxy reads it.
func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// haproxyConfig is the balancer in front of the nodes: deploy/haproxy.cfg
// (the one an operator starts from; docs/operations.md explains each
// choice) with these deliberate differences, and no others:
//   - addresses: 127.0.0.1 and the ports the harness picked, not Docker's
//     names and DNS resolvers;
//   - intervals: checks every CheckInterval (fastinter, downinter) rather
//     than 1s, and timeout connect/check 1s, so that the tests take a node
//     out and back in fractions of a second;
//   - no logging or forwardfor (the harness reads the processes' output,
//     the nodes see 127.0.0.1), a thread count and maxconn for a test
//     machine, and the stats page at /stats for the harness.
//
// As in deploy/haproxy.cfg:
//   - both the API and the gateway backends check the node's /readyz on
//     its API port, so a draining node leaves both at once;
//   - two failed checks mark a node down, two good ones up again;
//   - a connection refused is retried (3 times), on another node
//     (option redispatch); nothing else is retried, since Gatehouse's
//     writes are not idempotent (HAProxy's own advice for retry-on);
//   - the stats page (CSV) lets the harness see what the balancer sees.
var haproxyConfig = template.Must(template.New("haproxy.cfg").Funcs(template.FuncMap{"ms": ms}).Parse(`# written by internal/testcluster
global
    # Each connection costs two descriptors; this stays within a usual
    # limit of open files.
    maxconn 4000
    nbthread 2

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 10s
    timeout check 1s
    retries 3
    option redispatch 1
    retry-on conn-failure
    default-server inter {{ms .CheckInterval}} fastinter {{ms .FastInterval}} downinter {{ms .DownInterval}} rise 2 fall 2

frontend api
    bind 127.0.0.1:{{.APIPort}}
    default_backend api

backend api
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
{{- range .Nodes}}
    server {{.Name}} 127.0.0.1:{{.API}} check
{{- end}}

frontend gateway
    bind 127.0.0.1:{{.GatewayPort}}
    default_backend gateway

backend gateway
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
{{- range .Nodes}}
    server {{.Name}} 127.0.0.1:{{.Gateway}} check port {{.API}}
{{- end}}

frontend stats
    bind 127.0.0.1:{{.StatsPort}}
    stats enable
    stats uri /stats
    stats refresh 1s
`))

// writeHAProxyConfig renders the configuration into path.
func writeHAProxyConfig(path string, c balancerConfig) error {
	var buf bytes.Buffer
	if err := haproxyConfig.Execute(&buf, c); err != nil {
		return fmt.Errorf("haproxy config: %w", err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

// balancer is a running haproxy.
type balancer struct {
	cmd       *exec.Cmd
	done      chan struct{}
	statsPort int
}

// startBalancer checks the configuration and starts haproxy in the
// foreground (-db), its output going to log.
func startBalancer(ctx context.Context, exe, cfgPath string, statsPort int, log io.Writer) (*balancer, error) {
	check := exec.CommandContext(ctx, exe, "-c", "-q", "-f", cfgPath)
	if out, err := check.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy refuses its configuration: %w\n%s", err, out)
	}
	cmd := exec.Command(exe, "-db", "-f", cfgPath)
	w := prefixWriter(log, "haproxy: ")
	cmd.Stdout, cmd.Stderr = w, w
	ownProcess(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	b := &balancer{cmd: cmd, done: make(chan struct{}), statsPort: statsPort}
	go func() { cmd.Wait(); close(b.done) }()
	return b, nil
}

// stop ends haproxy (its process group: with -db it forks no workers,
// but nothing it started outlives it) and waits for it.
func (b *balancer) stop() {
	killGroup(b.cmd.Process.Pid)
	<-b.done
}

// status returns what HAProxy thinks of each node in a backend ("api" or
// "gateway"): UP, DOWN, "UP 1/2" while it changes its mind, MAINT...
func (b *balancer) status(ctx context.Context, backend string) (map[string]string, error) {
	select {
	case <-b.done:
		return nil, errBalancerExited
	default:
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/stats;csv", b.statsPort), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("haproxy stats: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("haproxy stats: %w", err)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("# "))))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("haproxy stats: unreadable CSV: %v", err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	px, sv, st := col["pxname"], col["svname"], col["status"]
	out := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) <= st || row[px] != backend || row[sv] == "BACKEND" || row[sv] == "FRONTEND" {
			continue
		}
		out[row[sv]] = strings.TrimSpace(row[st])
	}
	return out, nil
}
