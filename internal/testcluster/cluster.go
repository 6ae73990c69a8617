// Package testcluster runs a Gatehouse cluster of real processes on one
// machine, as an operator would run it: N nodes of the built gatehouse
// binary on one PostgreSQL schema and one Redis, sharing one server
// secret and one OAuth issuer, behind Debian's HAProxy, with a TCP proxy
// the caller controls between the nodes and each of PostgreSQL and Redis
// (to cut them or slow them down). The fault and rolling-restart tests
// use it, and so does the benchmark program (bench/cluster): it reports
// errors and logs to an io.Writer rather than to a testing.T.
package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultRedisURL is the Redis database real cluster processes started by
// tests and benchmarks use: 13, apart from the unit tests' 15.
const DefaultRedisURL = "redis://127.0.0.1:6379/13"

// Options describe a cluster to start.
type Options struct {
	// Nodes is how many gatehouse processes run (default 3).
	Nodes int
	// Binary is the gatehouse program; empty: Start builds it (Build)
	// into the cluster's folder.
	Binary string
	// Dir holds the binary, the nodes' data folders and the HAProxy
	// configuration; empty: a new temporary folder, removed by Close.
	Dir string
	// PostgresDSN is the database every node shares, a postgres:// URL
	// whose search_path selects a schema of its own (CreateSchema makes
	// one). Required.
	PostgresDSN string
	// RedisURL is the Redis every node shares (default DefaultRedisURL);
	// NoRedis runs the cluster without one.
	RedisURL string
	NoRedis  bool
	// Env is added to every node's environment (GATEHOUSE_*=...), after
	// what the cluster sets, so it may override it.
	Env []string
	// Log receives every process's output, each line prefixed with its
	// source (node1:, haproxy:); nil discards it.
	Log io.Writer
	// CheckInterval is how often HAProxy checks each node's /readyz
	// (default 200ms); two failed checks take a node out.
	CheckInterval time.Duration
	// ShutdownDelay is the nodes' shutdown_delay: how long a node that got
	// SIGTERM keeps serving while reporting not ready (default: enough
	// for HAProxy to see it, 4 check intervals plus the check timeout).
	ShutdownDelay time.Duration
	// StartTimeout bounds a node's start (default 30s).
	StartTimeout time.Duration
}

// Cluster is a running cluster. Its methods may be called from several
// goroutines.
type Cluster struct {
	// APIURL and GatewayURL are the balancer's frontends; APIURL is also
	// the OAuth issuer of every node.
	APIURL, GatewayURL string
	// AdminKey is the first admin API key, made by gatehouse init.
	AdminKey string
	// Secret is the server secret every node shares (hex).
	Secret string
	// Postgres and Redis stand between the nodes and those servers (Redis
	// is nil with NoRedis).
	Postgres, Redis *Proxy
	// Nodes are the node processes, Nodes[i] named node<i+1>.
	Nodes []*Node

	opts    Options
	dir     string
	ownDir  bool
	log     io.Writer
	env     []string // what every node gets
	lb      *balancer
	closeMu sync.Mutex
	closed  bool
}

// Node is one gatehouse process of the cluster. It may be stopped and
// started again on the same ports and data folder.
type Node struct {
	Name               string
	APIURL, GatewayURL string

	c       *Cluster
	apiPort int
	gwPort  int
	dataDir string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	exitErr error
}

// Start builds what is missing, initialises the database, starts the nodes
// and the balancer, and returns once every node is ready and HAProxy sends
// traffic to each. Close stops everything, also when Start fails.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.PostgresDSN == "" {
		return nil, errors.New("testcluster: Options.PostgresDSN is required")
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.RedisURL == "" {
		opts.RedisURL = DefaultRedisURL
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = 200 * time.Millisecond
	}
	if opts.ShutdownDelay == 0 {
		opts.ShutdownDelay = 4*opts.CheckInterval + time.Second
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	haproxy, err := HAProxyPath()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, dir: opts.Dir, log: &lockedWriter{w: opts.Log}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "gatehouse-cluster-"); err != nil {
			return nil, fmt.Errorf("testcluster: %w", err)
		}
		c.ownDir = true
	}
	if opts.Binary == "" {
		if opts.Binary, err = Build(ctx, c.dir); err != nil {
			return nil, err
		}
		c.opts.Binary = opts.Binary
	}
	if err := c.startProxies(); err != nil {
		return nil, err
	}
	ports, err := freePorts(3 + 2*opts.Nodes)
	if err != nil {
		return nil, err
	}
	c.APIURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	c.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	if err := c.buildEnv(); err != nil {
		return nil, err
	}
	lbCfg := balancerConfig{
		APIPort: ports[0], GatewayPort: ports[1], StatsPort: ports[2],
		CheckInterval: opts.CheckInterval, FastInterval: opts.CheckInterval / 2, DownInterval: opts.CheckInterval,
	}
	for i := range opts.Nodes {
		n := &Node{
			Name:    "node" + strconv.Itoa(i+1),
			c:       c,
			apiPort: ports[3+2*i],
			gwPort:  ports[4+2*i],
			dataDir: filepath.Join(c.dir, "node"+strconv.Itoa(i+1)),
		}
		n.APIURL = fmt.Sprintf("http://127.0.0.1:%d", n.apiPort)
		n.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d", n.gwPort)
		c.Nodes = append(c.Nodes, n)
		lbCfg.Nodes = append(lbCfg.Nodes, nodePorts{Name: n.Name, API: n.apiPort, Gateway: n.gwPort})
	}
	if err := c.initialise(ctx); err != nil {
		return nil, err
	}
	// The nodes start together, as a deployment would start them.
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.Start(ctx) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(c.dir, "haproxy.cfg")
	if err := writeHAProxyConfig(cfgPath, lbCfg); err != nil {
		return nil, err
	}
	if c.lb, err = startBalancer(ctx, haproxy, cfgPath, lbCfg.StatsPort, c.log); err != nil {
		return nil, err
	}
	for _, n := range c.Nodes {
		if err := n.WaitBalanced(ctx, true); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// startProxies puts a TCP proxy before PostgreSQL and one before Redis.
func (c *Cluster) startProxies() error {
	pg, err := url.Parse(c.opts.PostgresDSN)
	if err != nil || (pg.Scheme != "postgres" && pg.Scheme != "postgresql") {
		return errors.New("testcluster: PostgresDSN must be a postgres:// URL")
	}
	if c.Postgres, err = NewProxy(hostPort(pg, "5432")); err != nil {
		return err
	}
	if c.opts.NoRedis {
		return nil
	}
	rd, err := url.Parse(c.opts.RedisURL)
	if err != nil || (rd.Scheme != "redis" && rd.Scheme != "rediss") {
		return errors.New("testcluster: RedisURL must be a redis:// URL")
	}
	c.Redis, err = NewProxy(hostPort(rd, "6379"))
	return err
}

func hostPort(u *url.URL, defaultPort string) string {
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = defaultPort
	}
	return net.JoinHostPort(host, port)
}

// through returns u with its host replaced by the proxy's.
func through(raw string, p *Proxy) string {
	u, _ := url.Parse(raw) // startProxies parsed it
	u.Host = p.Addr()
	return u.String()
}

// buildEnv makes what every node's environment holds: its own settings
// come later, in Node.Start.
func (c *Cluster) buildEnv() error {
	secret := make([]byte, 32)
	rand.Read(secret)
	c.Secret = hex.EncodeToString(secret)
	// The caller's GATEHOUSE_* settings must not leak into the nodes: only
	// what the cluster and Options.Env say counts.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env,
		"GATEHOUSE_DB="+through(c.opts.PostgresDSN, c.Postgres),
		"GATEHOUSE_SECRET="+c.Secret,
		"GATEHOUSE_ISSUER="+c.APIURL,
		"GATEHOUSE_SHUTDOWN_DELAY="+c.opts.ShutdownDelay.String(),
		// HAProxy, on loopback, forwards the client's address.
		"GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32",
		"GATEHOUSE_LOG_LEVEL=warn",
		"GATEHOUSE_ACCESS_LOG=false",
	)
	if c.Redis != nil {
		c.env = append(c.env, "GATEHOUSE_REDIS_URL="+through(c.opts.RedisURL, c.Redis))
	}
	c.env = append(c.env, c.opts.Env...)
	return nil
}

// initialise runs gatehouse init once, as an operator does before the
// first start, and keeps the admin key it prints.
func (c *Cluster) initialise(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, c.opts.Binary, "init", "--json")
	cmd.Env = append(append([]string(nil), c.env...), "GATEHOUSE_DATA="+filepath.Join(c.dir, "init"))
	cmd.Stderr = prefixWriter(c.log, "init: ")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("testcluster: gatehouse init: %w", err)
	}
	var res struct {
		AdminKey string `json:"admin_key"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.AdminKey == "" {
		return fmt.Errorf("testcluster: gatehouse init printed no admin key: %q", out)
	}
	c.AdminKey = res.AdminKey
	return nil
}

// ShutdownDelay is the nodes' shutdown_delay (Options.ShutdownDelay, or
// its default).
func (c *Cluster) ShutdownDelay() time.Duration { return c.opts.ShutdownDelay }

// Node returns the node called name (node1...), or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// BalancerStatus returns what HAProxy thinks of each node in a backend
// ("api" or "gateway"): UP, DOWN, or a transition such as "UP 1/2".
func (c *Cluster) BalancerStatus(ctx context.Context, backend string) (map[string]string, error) {
	if c.lb == nil {
		return nil, errors.New("testcluster: the balancer is not running")
	}
	return c.lb.status(ctx, backend)
}

// Close stops every process (SIGKILL: a test cluster need not drain), the
// balancer and the proxies, and removes the cluster's folder if Start made
// it. The database schema is the caller's.
func (c *Cluster) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	for _, n := range c.Nodes {
		n.Kill()
	}
	if c.lb != nil {
		c.lb.stop()
	}
	var errs []error
	for _, p := range []*Proxy{c.Postgres, c.Redis} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	if c.ownDir {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}

// Start starts the node's process and returns once its /readyz answers
// 200 (not yet once the balancer has noticed: see WaitBalanced).
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.cmd != nil {
		n.mu.Unlock()
		return fmt.Errorf("testcluster: %s is running", n.Name)
	}
	cmd := exec.Command(n.c.opts.Binary, "serve")
	cmd.Env = append(append([]string(nil), n.c.env...),
		"GATEHOUSE_DATA="+n.dataDir,
		fmt.Sprintf("GATEHOUSE_ADDR=127.0.0.1:%d", n.apiPort),
		fmt.Sprintf("GATEHOUSE_GATEWAY_ADDR=127.0.0.1:%d", n.gwPort),
	)
	// Options.Env wins over the node's own settings too.
	cmd.Env = append(cmd.Env, n.c.opts.Env...)
	w := prefixWriter(n.c.log, n.Name+": ")
	cmd.Stdout, cmd.Stderr = w, w
	ownProcess(cmd)
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("testcluster: start %s: %w", n.Name, err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.exitErr = cmd, done, nil
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.exitErr = err
		n.cmd = nil
		n.mu.Unlock()
		close(done)
	}()

	ctx, cancel := context.WithTimeout(ctx, n.c.opts.StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		if readyz(ctx, client, n.APIURL) == http.StatusOK {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("testcluster: %s exited while starting: %v (its output is in the log)", n.Name, n.ExitErr())
		case <-ctx.Done():
			return fmt.Errorf("testcluster: %s was not ready within %s", n.Name, n.c.opts.StartTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readyz returns the status of GET base/readyz, or 0 when none came.
func readyz(ctx context.Context, client *http.Client, base string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Ready returns the status of the node's /readyz (0: no answer).
func (n *Node) Ready(ctx context.Context) int {
	return readyz(ctx, &http.Client{Timeout: time.Second}, n.APIURL)
}

// Running says whether the node's process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// ExitErr is how the last process ended (nil: exit status 0).
func (n *Node) ExitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exitErr
}

// Signal sends sig to the node's process, if it runs.
func (n *Node) Signal(sig os.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("testcluster: %s is not running", n.Name)
	}
	return n.cmd.Process.Signal(sig)
}

// Wait waits for the node's process to exit and returns how it ended.
func (n *Node) Wait(ctx context.Context) error {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return n.ExitErr()
	case <-ctx.Done():
		return fmt.Errorf("testcluster: %s has not exited: %w", n.Name, ctx.Err())
	}
}

// Stop sends SIGTERM and waits for the process to exit, as a deployment
// stops a node: it returns the exit error (nil for status 0), or an error
// if the node did not exit within ctx.
func (n *Node) Stop(ctx context.Context) error {
	if err := n.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	return n.Wait(ctx)
}

// Kill ends the process, and its process group, with SIGKILL (no
// draining, no final flush) and waits for it; a node that is not running
// is left alone.
func (n *Node) Kill() {
	n.mu.Lock()
	running := n.cmd != nil
	if running {
		killGroup(n.cmd.Process.Pid)
	}
	n.mu.Unlock()
	if running {
		n.Wait(context.Background())
	}
}

// WaitBalanced waits until HAProxy has the node up (up=true) or down in
// both its API and gateway backends.
func (n *Node) WaitBalanced(ctx context.Context, up bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	want := "DOWN"
	if up {
		want = "UP"
	}
	var last map[string]string
	for {
		ok := true
		for _, backend := range []string{"api", "gateway"} {
			st, err := n.c.BalancerStatus(ctx, backend)
			if errors.Is(err, errBalancerExited) {
				return err
			}
			if err != nil {
				ok = false
				break
			}
			last = st
			if st[n.Name] != want {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testcluster: HAProxy did not mark %s %s (it says %v)", n.Name, want, last)
		case <-time.After(n.c.opts.CheckInterval / 4):
		}
	}
}

// freePorts finds n distinct free loopback ports for the nodes and the
// balancer, which listen on them later (a node keeps its ports across
// restarts, as the balancer's configuration names them). They are chosen
// at random below Linux's ephemeral range (32768 and up): a port the
// kernel hands out for :0 or for an outgoing connection (to PostgreSQL,
// say) can be taken by the next connection as soon as it is freed, a port
// below that range only by another program choosing it on purpose.
func freePorts(n int) ([]int, error) {
	const lowest, highest = 20000, 32767
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, errors.New("testcluster: no free port between 20000 and 32767")
		}
		port := lowest + mathrand.IntN(highest-lowest+1)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken
		}
		lns = append(lns, ln) // held until all are found: no duplicates
		ports = append(ports, port)
	}
	return ports, nil
}
