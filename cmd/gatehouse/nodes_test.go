package main

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// testMember is a node's membership on store, as startNodes builds it,
// without the rest of the node.
func testMember(t *testing.T, store auth.NodeStore, clk *testenv.Clock, logs io.Writer) *membership {
	t.Helper()
	id, err := auth.NewID(auth.NodeIDPrefix, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &membership{
		store:    store,
		self:     auth.Node{ID: id, Hostname: "test", StartedAt: clk.Now()},
		interval: 5 * time.Second,
		now:      clk.Now,
		logger:   slog.New(slog.NewTextHandler(logs, nil)),
	}
}

func openTestSQLite(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLiveNodesCountsTheNodesHeardFromWithinThreeIntervals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTestSQLite(t)
	clk := testenv.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	a, b := testMember(t, db, clk, io.Discard), testMember(t, db, clk, io.Discard)

	if got := a.count(); got != 1 {
		t.Fatalf("before any heartbeat: %d nodes, want 1 (this one)", got)
	}
	a.beat(ctx)
	b.beat(ctx)
	a.beat(ctx)
	if got := a.count(); got != 2 {
		t.Fatalf("after both beat: %d nodes, want 2", got)
	}

	clk.Add(3 * a.interval) // b's last heartbeat is exactly three intervals old: still live
	a.beat(ctx)
	if got := a.count(); got != 2 {
		t.Fatalf("three intervals after b's heartbeat: %d nodes, want 2", got)
	}
	clk.Add(time.Microsecond)
	a.beat(ctx)
	if got := a.count(); got != 1 {
		t.Fatalf("more than three intervals after b's heartbeat: %d nodes, want 1", got)
	}
	b.beat(ctx)
	a.beat(ctx)
	if got := a.count(); got != 2 {
		t.Fatalf("after b beats again: %d nodes, want 2", got)
	}
}

func TestLiveNodesKeepsTheLastCountWhileTheStoreIsDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	logs := &testenv.SyncBuffer{}
	a, b := testMember(t, db, clk, logs), testMember(t, db, clk, io.Discard)
	b.beat(ctx)
	a.beat(ctx)
	if got := a.count(); got != 2 {
		t.Fatalf("before the store goes: %d nodes, want 2", got)
	}

	db.Close()
	for range 3 {
		clk.Add(a.interval)
		a.beat(ctx)
	}
	if got := a.count(); got != 2 {
		t.Fatalf("store down: %d nodes, want the last count, 2", got)
	}
	if n := strings.Count(logs.String(), "cluster heartbeat failed"); n != 1 {
		t.Fatalf("a store down for three heartbeats was logged %d times, want once:\n%s", n, logs)
	}
}

func TestLiveNodesIsOneForANodeWhoseStoreNeverAnswered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	m := testMember(t, db, testenv.NewClock(time.Now().UTC()), io.Discard)
	m.beat(ctx)
	if got := m.count(); got != 1 {
		t.Fatalf("%d nodes, want 1: this node always counts", got)
	}
	if got := (&Main{}).liveNodes(); got != 1 {
		t.Fatalf("a node not started counts %d nodes, want 1", got)
	}
}

func TestPruneRemovesNodesSilentForLongerThanTheRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTestSQLite(t)
	clk := testenv.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	a, dead := testMember(t, db, clk, io.Discard), testMember(t, db, clk, io.Discard)
	dead.beat(ctx)
	a.beat(ctx)
	clk.Add(auth.NodeRetention / 2)
	a.beat(ctx)
	if nodes := listNodes(t, db); len(nodes) != 2 {
		t.Fatalf("half the retention after the dead node's last heartbeat: %d rows, want 2", len(nodes))
	}
	clk.Add(auth.NodeRetention/2 + a.interval)
	a.beat(ctx)
	nodes := listNodes(t, db)
	if len(nodes) != 1 || nodes[0].ID != a.self.ID {
		t.Fatalf("after the retention: %+v, want only the live node", nodes)
	}
}

func listNodes(t *testing.T, s auth.NodeStore) []auth.Node {
	t.Helper()
	nodes, err := s.ListNodes(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return nodes
}

// TestNodeIsListedWhileRunningAndRemovedOnShutdown runs a real node: once
// Run returns its row is there, with its URL, and it counts itself; a
// graceful Close removes the row.
func TestNodeIsListedWhileRunningAndRemovedOnShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cfg, testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond)), &testenv.SyncBuffer{})
	nodes := listNodes(t, n.main.Store)
	if len(nodes) != 1 || nodes[0].Address != n.main.URL() || !strings.HasPrefix(nodes[0].ID, auth.NodeIDPrefix) || nodes[0].Version == "" {
		t.Fatalf("nodes = %+v, want this node at %s", nodes, n.main.URL())
	}
	if got := n.main.liveNodes(); got != 1 {
		t.Fatalf("liveNodes = %d, want 1", got)
	}
	if code, body := n.get("/metrics"); code != http.StatusOK || !strings.Contains(body, "\ngatehouse_cluster_nodes 1\n") {
		t.Fatalf("/metrics = %d, without gatehouse_cluster_nodes 1:\n%s", code, body)
	}

	if err := n.main.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), cfg.SQLitePath())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if nodes := listNodes(t, db); len(nodes) != 0 {
		t.Fatalf("after a graceful shutdown: %+v, want no row", nodes)
	}
}

// TestNodesOnOneDatabaseCountEachOther runs three nodes on one PostgreSQL
// schema: each comes to count three, and two once one has shut down.
func TestNodesOnOneDatabaseCountEachOther(t *testing.T) {
	dsn := pgDSN(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	cfg := testConfig(t, t.TempDir(), dsn)
	cfg.Secret = secret
	cfg.Cluster.HeartbeatInterval = 100 * time.Millisecond
	var nodes []*node
	for range 3 {
		c := cfg
		c.DataDir = t.TempDir()
		nodes = append(nodes, startNode(t, c, clk, &testenv.SyncBuffer{}))
	}
	waitLiveNodes := func(n *node, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for n.main.liveNodes() != want {
			if time.Now().After(deadline) {
				t.Fatalf("node at %s counts %d nodes after 10s, want %d", n.main.URL(), n.main.liveNodes(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, n := range nodes {
		waitLiveNodes(n, 3)
	}
	if err := nodes[2].main.Close(); err != nil {
		t.Fatal(err)
	}
	// The clock stands still, so the stopped node's row would count for
	// ever: only its removal at shutdown brings the count down.
	waitLiveNodes(nodes[0], 2)
	waitLiveNodes(nodes[1], 2)
}

func TestNodesCommandListsTheRunningNode(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir(), "")
	n := startInitialised(t, cfg, testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond)), &testenv.SyncBuffer{})

	out := n.cli("nodes")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], n.main.URL()) ||
		!strings.HasSuffix(strings.TrimSpace(lines[1]), "live") || lines[len(lines)-1] != "1 of 1 nodes live (heartbeat every 5s)." {
		t.Fatalf("gatehouse nodes printed:\n%s", out)
	}

	var list struct {
		Items []struct {
			ID      string `json:"id"`
			Address string `json:"address"`
			Live    bool   `json:"live"`
		} `json:"items"`
		Live int `json:"live"`
	}
	n.cliJSON(&list, "nodes", "--json")
	if len(list.Items) != 1 || list.Live != 1 || !list.Items[0].Live || list.Items[0].Address != n.main.URL() ||
		!strings.HasPrefix(list.Items[0].ID, auth.NodeIDPrefix) {
		t.Fatalf("gatehouse nodes --json = %+v", list)
	}
	if out, err := n.tryCLI("nodes", "extra"); err == nil {
		t.Fatalf("gatehouse nodes extra succeeded:\n%s", out)
	}
}
