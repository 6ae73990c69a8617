// Command cluster is the cluster harness: it starts N gatehouse nodes (real
// processes of the built binary) on one PostgreSQL schema and one Redis,
// behind Debian's HAProxy (internal/testcluster), and measures what
// docs/scaling.md records:
//
//   - throughput per node under a mixed load through the balancer
//     (client_credentials token issuance, key verification, gateway JWT
//     and API-key routes, admin writes), from each node's /metrics;
//   - the propagation delay of every kind of change that can refuse a
//     caller (made through node1, polled at every other node directly,
//     timed from the write's acknowledgement), p50/p99/max over -trials;
//   - the accuracy of a shared per-key limit (20/s, burst 20, hammered
//     through every node for 4 s).
//
// With -soak it runs the mixed load for that long instead, samples each
// node's resident memory, goroutines and open file descriptors, and exits
// non-zero on any 5xx or on growth of more than 10 % after warm-up.
//
//	go run ./bench/cluster -duration 20s
//	go run ./bench/cluster -soak 10m
//
// Everything runs on loopback; PostgreSQL and Redis are those of the
// development machine (a schema of its own, dropped at the end; Redis
// database 13).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testcluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

type options struct {
	nodes        int
	duration     time.Duration
	concurrency  int
	trials       int
	soak         time.Duration
	sample       time.Duration
	postgres     string
	redis        string
	logPath      string
	skip         string
	newTokens    bool
	redisTimeout time.Duration
}

func parseFlags() options {
	var o options
	flag.IntVar(&o.nodes, "nodes", 3, "gatehouse nodes behind the balancer (at least 2)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long the mixed load runs for the throughput figures")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent callers of the mixed load")
	flag.IntVar(&o.trials, "trials", 200, "trials per kind of change for the propagation figures")
	flag.DurationVar(&o.soak, "soak", 0, "run the soak (mixed load this long, resources sampled) instead of the figures")
	flag.DurationVar(&o.sample, "sample", 0, "soak: time between two readings of each node (default: a twentieth of -soak)")
	pg := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	flag.StringVar(&o.postgres, "postgres", pg, "PostgreSQL database (a schema of its own is made in it, and dropped)")
	flag.StringVar(&o.redis, "redis", testcluster.DefaultRedisURL, "Redis the nodes share")
	flag.StringVar(&o.logPath, "log", "", "file for the nodes' and HAProxy's output (default: a temporary file, named at the end)")
	flag.BoolVar(&o.newTokens, "new-tokens", true, "the JWT-route calls use the token issued last (false: the first one, all run long; every node's verified-token cache then holds one)")
	flag.StringVar(&o.skip, "skip", "", "comma-separated parts not to run: load, propagation, limit")
	flag.DurationVar(&o.redisTimeout, "redis-timeout", 0, "the nodes' redis_timeout (0: their default, 50ms); past it a node applies its share of a limit for a second")
	flag.Parse()
	return o
}

func run() error {
	o := parseFlags()
	if o.nodes < 2 {
		return errors.New("-nodes must be at least 2: propagation is measured between nodes")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logFile, err := openLog(o.logPath)
	if err != nil {
		return err
	}
	defer func() {
		logFile.Close()
		fmt.Fprintf(os.Stderr, "cluster: the nodes' and HAProxy's output is in %s\n", logFile.Name())
	}()

	dsn, drop, err := testcluster.CreateSchema(ctx, o.postgres)
	if err != nil {
		return err
	}
	defer func() {
		if err := drop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "cluster:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "cluster: building gatehouse and starting %d nodes behind HAProxy...\n", o.nodes)
	started := time.Now()
	// All the load comes from one address (HAProxy forwards 127.0.0.1):
	// the per-source limit of the verify endpoint would measure itself.
	env := []string{"GATEHOUSE_VERIFY_RATE_LIMIT=0"}
	if o.redisTimeout > 0 {
		env = append(env, "GATEHOUSE_REDIS_TIMEOUT="+o.redisTimeout.String())
	}
	c, err := testcluster.Start(ctx, testcluster.Options{
		Nodes: o.nodes, PostgresDSN: dsn, RedisURL: o.redis, Log: logFile,
		Env: env,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(os.Stderr, "cluster: up in %s\n", time.Since(started).Round(time.Millisecond))

	f, err := setup(ctx, c, 32)
	if err != nil {
		return err
	}
	f.newTokens = o.newTokens
	defer f.close()

	var out strings.Builder
	fmt.Fprintf(&out, "# gatehouse cluster: %d nodes on PostgreSQL and Redis behind HAProxy\n\n", o.nodes)
	fmt.Fprintf(&out, "%s, %d CPUs (%s/%s), %s\n\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, strings.Join(append([]string{"go run ./bench/cluster"}, os.Args[1:]...), " "))
	if o.soak > 0 {
		err := f.runSoak(ctx, &out, o)
		fmt.Print(out.String())
		return err
	}
	skip := func(part string) bool { return strings.Contains(","+o.skip+",", ","+part+",") }

	if !skip("load") {
		fmt.Fprintf(os.Stderr, "cluster: mixed load for %s...\n", o.duration)
		stats, before, after, d, err := f.loadFor(ctx, o.duration, o.concurrency)
		if err != nil {
			return err
		}
		fmt.Fprintf(&out, "## Throughput: mixed load, %d callers through HAProxy for %s\n\n", o.concurrency, d.Round(time.Millisecond))
		f.printThroughput(&out, before, after, d)
		out.WriteString("\n")
		stats.print(&out, d)
		out.WriteString("\n")
	}
	if !skip("propagation") {
		changes, err := f.changes(ctx, dsn, o.trials)
		if err != nil {
			return err
		}
		var ps []propagation
		for _, ch := range changes {
			fmt.Fprintf(os.Stderr, "cluster: propagation of %q, %d trials...\n", ch.name, o.trials)
			p, err := f.measure(ctx, ch, o.trials)
			if err != nil {
				return err
			}
			ps = append(ps, p)
		}
		fmt.Fprintf(&out, "## Propagation: change through node1, polled at the other nodes directly (idle cluster), from the write's acknowledgement\n\n")
		printPropagation(&out, ps, o.nodes)
		out.WriteString("\n")
	}
	if !skip("limit") {
		fmt.Fprintf(os.Stderr, "cluster: shared limit...\n")
		r, err := f.sharedLimit(ctx, 20, 20, 4*time.Second, 2)
		if err != nil {
			return err
		}
		fmt.Fprintf(&out, "## Shared limit: one key's verifications at every node directly\n\n")
		r.print(&out)
	}
	fmt.Print(out.String())
	return nil
}

// loadFor runs the mixed load for d and reads the nodes' counters around
// it.
func (f *fixture) loadFor(ctx context.Context, d time.Duration, workers int) (*loadStats, []nodeCounts, []nodeCounts, time.Duration, error) {
	before, err := f.counts(ctx)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	start := time.Now()
	stats := &loadStats{}
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := f.mixedLoad(lctx, workers, stats); err != nil {
		return nil, nil, nil, 0, err
	}
	elapsed := time.Since(start)
	after, err := f.counts(ctx)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	return stats, before, after, elapsed, nil
}

// runSoak runs the mixed load for o.soak, sampling every node, and
// returns an error naming every violation.
func (f *fixture) runSoak(ctx context.Context, out *strings.Builder, o options) error {
	every := o.sample
	if every <= 0 {
		every = o.soak / 20
	}
	// Warm-up: the first third of the soak, while caches, pools and the
	// heap grow to their working size. A third because the largest cache,
	// each gateway's 10,000 verified tokens, takes about three minutes to
	// fill at this load with a new token every ten requests (a fifth, the
	// first choice, judged that filling as growth).
	warmup := int(o.soak / 3 / every)
	fmt.Fprintf(os.Stderr, "cluster: soak for %s, a reading every %s, the first %d readings warm-up...\n", o.soak, every, warmup)
	stats := &loadStats{}
	// The load outlasts the last reading (at o.soak) a little, so that
	// reading sees the load.
	lctx, cancel := context.WithTimeout(ctx, o.soak+every/4)
	defer cancel()
	loadDone := make(chan error, 1)
	go func() { loadDone <- f.mixedLoad(lctx, o.concurrency, stats) }()
	before, err := f.counts(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	var samples [][]soakSample
	tick := time.NewTicker(every)
	defer tick.Stop()
	for len(samples) < int(o.soak/every) && lctx.Err() == nil {
		select {
		case <-lctx.Done():
		case <-tick.C:
			s, err := f.sampleNodes(ctx, time.Since(start))
			if err != nil {
				return err
			}
			samples = append(samples, s)
			sent, e5, failed := stats.total()
			fmt.Fprintf(os.Stderr, "cluster: %s: %d requests, %d 5xx, %d without answer\n", time.Since(start).Round(time.Second), sent, e5, failed)
		}
	}
	cancel()
	if err := <-loadDone; err != nil {
		return err
	}
	d := time.Since(start)
	after, err := f.counts(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "## Soak: mixed load, %d callers through HAProxy for %s\n\n", o.concurrency, d.Round(time.Second))
	f.printThroughput(out, before, after, d)
	out.WriteString("\n")
	stats.print(out, d)
	violations := f.judgeSoak(out, samples, warmup)
	_, e5, failed := stats.total()
	if e5 > 0 {
		violations = append(violations, fmt.Sprintf("%d answers were 5xx", e5))
	}
	if failed > 0 {
		violations = append(violations, fmt.Sprintf("%d requests got no answer", failed))
	}
	for i, n := range f.c.Nodes {
		if e := (after[i].api5xx + after[i].gw5xx) - (before[i].api5xx + before[i].gw5xx); e > 0 {
			violations = append(violations, fmt.Sprintf("%s counted %.0f 5xx answers in its /metrics", n.Name, e))
		}
	}
	if len(violations) > 0 {
		fmt.Fprintf(out, "\nSOAK FAILED:\n- %s\n", strings.Join(violations, "\n- "))
		return fmt.Errorf("soak: %d violations", len(violations))
	}
	fmt.Fprintf(out, "\nSoak passed: no 5xx, no request without an answer, and no resource grew by more than %.0f %% after warm-up.\n", 100*flatness)
	return nil
}

// openLog opens the file for the processes' output.
func openLog(path string) (*os.File, error) {
	if path == "" {
		return os.CreateTemp("", "gatehouse-cluster-*.log")
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	return f, nil
}
