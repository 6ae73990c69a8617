package testcluster_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/testcluster"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// binary is the gatehouse program, built once for every test of the
// package by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gatehouse-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if binary, err = testcluster.Build(context.Background(), dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// startCluster starts a cluster for the test on a schema of its own and
// Redis database 13, stops it when the test ends, and prints its processes'
// output if the test failed.
func startCluster(t *testing.T, opts testcluster.Options) *testcluster.Cluster {
	t.Helper()
	testenv.HAProxy(t)
	opts.PostgresDSN, _ = testenv.PostgresSchema(t)
	if !opts.NoRedis {
		rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: 13})
		err := rc.Ping(context.Background()).Err()
		rc.Close()
		if err != nil {
			testenv.RedisUnreachable(t, err)
		}
	}
	opts.Binary = binary
	logs := &testenv.SyncBuffer{}
	opts.Log = logs
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testcluster.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start the cluster: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			t.Logf("the cluster's output:\n%s", logs.String())
		}
	})
	return c
}

// The harness itself: every node answers through both of the balancer's
// frontends, and a node stopped is taken out and put back when it returns.
func TestClusterServesThroughTheBalancerAndRestartsNodes(t *testing.T) {
	t.Parallel()
	c := startCluster(t, testcluster.Options{Nodes: 2})
	for _, base := range []string{c.APIURL, c.Nodes[0].APIURL, c.Nodes[1].APIURL} {
		req, _ := http.NewRequest(http.MethodGet, base+"/admin/v1/keys", nil)
		req.Header.Set("X-API-Key", c.AdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s/admin/v1/keys with the admin key: %d", base, resp.StatusCode)
		}
	}
	ctx := context.Background()
	n := c.Nodes[1]
	if err := n.Stop(ctx); err != nil {
		t.Fatalf("stop %s: %v", n.Name, err)
	}
	if err := n.WaitBalanced(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitBalanced(ctx, true); err != nil {
		t.Fatal(err)
	}
}
