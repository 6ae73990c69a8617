package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// newNodesEnv is the admin stack with the cluster's node table in its
// SQLite store, heartbeats every 5s.
func newNodesEnv(t *testing.T) (*testEnv, *Client, *httptest.Server) {
	t.Helper()
	e := newTestEnv(t)
	srv, err := NewServer(Config{Keys: e.keys, Audit: e.db, Now: e.clock.Now, Nodes: e.db, HeartbeatInterval: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return e, NewClient(ts.URL, e.adminKey, ts.Client()), ts
}

func TestListNodesShowsEveryNodeAndWhichAreLive(t *testing.T) {
	t.Parallel()
	e, client, _ := newNodesEnv(t)
	now := e.clock.Now()
	for _, n := range []auth.Node{
		{ID: "node_b", Hostname: "b", Version: "v1.1.0", Address: "https://b.example", StartedAt: now.Add(-time.Hour), SeenAt: now.Add(-15 * time.Second)},
		{ID: "node_a", Hostname: "a", Version: "v1.1.0", Address: "https://a.example", StartedAt: now.Add(-2 * time.Hour), SeenAt: now.Add(-time.Second)},
		{ID: "node_dead", Hostname: "c", Version: "v1.0.0", Address: "https://c.example", StartedAt: now.Add(-3 * time.Hour), SeenAt: now.Add(-16 * time.Second)},
	} {
		if err := e.db.HeartbeatNode(t.Context(), &n); err != nil {
			t.Fatal(err)
		}
	}
	list, err := client.ListNodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Three 5s intervals: b, seen exactly 15s ago, is live; the node seen
	// 16s ago is not.
	want := []struct {
		id   string
		live bool
	}{{"node_dead", false}, {"node_a", true}, {"node_b", true}}
	if len(list.Items) != len(want) || list.Live != 2 || list.HeartbeatInterval != "5s" {
		t.Fatalf("list = %+v, want 3 nodes, 2 live, heartbeat 5s", list)
	}
	for i, w := range want {
		if got := list.Items[i]; got.ID != w.id || got.Live != w.live {
			t.Errorf("item %d = %+v, want %s live=%v", i, got, w.id, w.live)
		}
	}
	if a := list.Items[1]; a.Hostname != "a" || a.Version != "v1.1.0" || a.Address != "https://a.example" ||
		!a.StartedAt.Equal(now.Add(-2*time.Hour)) || !a.SeenAt.Equal(now.Add(-time.Second)) {
		t.Errorf("node_a = %+v, want every field as stored", a)
	}
}

func TestListNodesOfAnEmptyTableIsAnEmptyList(t *testing.T) {
	t.Parallel()
	_, client, _ := newNodesEnv(t)
	list, err := client.ListNodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if list.Items == nil || len(list.Items) != 0 || list.Live != 0 {
		t.Fatalf("list = %#v, want an empty list", list)
	}
}

func TestListNodesRefusesBadRequests(t *testing.T) {
	t.Parallel()
	e, _, ts := newNodesEnv(t)
	for _, tc := range []struct {
		name   string
		query  string
		header http.Header
		want   int
	}{
		{"no key", "", nil, http.StatusUnauthorized},
		{"unknown parameter", "?since=1h", e.adminHeader(), http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/admin/v1/nodes"+tc.query, nil)
		req.Header = tc.header
		if req.Header == nil {
			req.Header = http.Header{}
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want %d problem+json", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), tc.want)
		}
	}
}

func TestListNodesWithoutANodeTableIsNotFound(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	_, err := e.client.ListNodes(t.Context())
	if auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("ListNodes on a server without Nodes = %v, want not found", err)
	}
}

// failingNodes is a node table whose store is down.
type failingNodes struct{}

func (failingNodes) ListNodes(context.Context, time.Time) ([]auth.Node, error) {
	return nil, errors.New("connection refused")
}

func TestListNodesWithTheStoreDownIsAServerErrorWithoutItsDetail(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	srv, err := NewServer(Config{Keys: e.keys, Audit: e.db, Now: e.clock.Now, Nodes: failingNodes{}, HeartbeatInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	_, err = NewClient(ts.URL, e.adminKey, ts.Client()).ListNodes(t.Context())
	var p *ProblemError
	if !errors.As(err, &p) || p.Status != http.StatusInternalServerError || p.Detail == "connection refused" {
		t.Fatalf("ListNodes = %v, want a 500 that does not pass the store's error on", err)
	}
}

func TestNewServerRefusesNodesWithoutAHeartbeatInterval(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	if _, err := NewServer(Config{Keys: e.keys, Audit: e.db, Nodes: e.db}); err == nil {
		t.Fatal("NewServer accepted Nodes without a HeartbeatInterval")
	}
}
