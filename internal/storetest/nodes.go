package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The cluster's node table (issue 13): each node upserts its row on every
// heartbeat; the nodes count the rows seen recently and prune the old.

// nodeTests are added to Run's table.
var nodeTests = []struct {
	name string
	test func(t *testing.T, s auth.Store)
}{
	{"a node reads back as its heartbeat wrote it", testNodeRoundTrip},
	{"a later heartbeat updates the node but keeps its start", testNodeHeartbeatUpdates},
	{"nodes list oldest start first, from the given heartbeat time on", testNodeListSince},
	{"an invalid node is refused and writes nothing", testNodeInvalid},
	{"deleting a node leaves the others, and an unknown one is no error", testNodeDelete},
	{"deleting the nodes seen before a time removes them and counts them", testNodeDeleteSeenBefore},
}

func newNode(id string, started, seen time.Time) *auth.Node {
	return &auth.Node{
		ID: auth.NodeIDPrefix + id, Hostname: "host-" + id, Version: "v1.2.3 0123456789ab",
		Address: "https://" + id + ".example:8080", StartedAt: started, SeenAt: seen,
	}
}

func mustHeartbeat(t *testing.T, s auth.Store, nodes ...*auth.Node) {
	t.Helper()
	for _, n := range nodes {
		if err := s.HeartbeatNode(t.Context(), n); err != nil {
			t.Fatalf("HeartbeatNode(%s): %v", n.ID, err)
		}
	}
}

func nodesSince(t *testing.T, s auth.Store, since time.Time) []auth.Node {
	t.Helper()
	nodes, err := s.ListNodes(t.Context(), since)
	if err != nil {
		t.Fatalf("ListNodes(%v): %v", since, err)
	}
	return nodes
}

func nodeIDs(nodes []auth.Node) []string {
	ids := []string{}
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func testNodeRoundTrip(t *testing.T, s auth.Store) {
	want := newNode("a", base, at(time.Second))
	mustHeartbeat(t, s, want)
	got := nodesSince(t, s, time.Time{})
	if len(got) != 1 || got[0] != *want {
		t.Fatalf("ListNodes = %+v, want [%+v]", got, *want)
	}
	if got[0].SeenAt.Location() != time.UTC || got[0].StartedAt.Location() != time.UTC {
		t.Errorf("times in %v and %v, want UTC", got[0].StartedAt.Location(), got[0].SeenAt.Location())
	}
	if empty := nodesSince(t, s, at(time.Hour)); empty == nil || len(empty) != 0 {
		t.Errorf("ListNodes after every heartbeat = %#v, want an empty list", empty)
	}
}

func testNodeHeartbeatUpdates(t *testing.T, s auth.Store) {
	first := newNode("a", base, base)
	mustHeartbeat(t, s, first)
	later := *first
	later.StartedAt = at(time.Minute) // a node never changes its start; the store keeps the first
	later.SeenAt = at(5 * time.Second)
	later.Hostname, later.Version, later.Address = "renamed", "v1.2.4", "https://moved.example"
	mustHeartbeat(t, s, &later)
	want := later
	want.StartedAt = first.StartedAt
	if got := nodesSince(t, s, time.Time{}); len(got) != 1 || got[0] != want {
		t.Fatalf("after the second heartbeat = %+v, want [%+v]", got, want)
	}
}

func testNodeListSince(t *testing.T, s auth.Store) {
	// Started in the order c, a, b; d never said when it started.
	a := newNode("a", at(time.Second), at(10*time.Second))
	b := newNode("b", at(2*time.Second), at(20*time.Second))
	c := newNode("c", base, at(30*time.Second))
	d := newNode("d", time.Time{}, at(40*time.Second))
	mustHeartbeat(t, s, a, b, c, d)
	for _, tc := range []struct {
		since time.Time
		want  []string
	}{
		{time.Time{}, []string{d.ID, c.ID, a.ID, b.ID}},
		{at(10 * time.Second), []string{d.ID, c.ID, a.ID, b.ID}},
		{at(10*time.Second + time.Nanosecond), []string{d.ID, c.ID, b.ID}},
		{at(20 * time.Second), []string{d.ID, c.ID, b.ID}},
		{at(35 * time.Second), []string{d.ID}},
		{at(time.Minute), []string{}},
	} {
		if got := nodeIDs(nodesSince(t, s, tc.since)); !slices.Equal(got, tc.want) {
			t.Errorf("ListNodes(%v) = %v, want %v", tc.since.Sub(base), got, tc.want)
		}
	}
}

func testNodeInvalid(t *testing.T, s auth.Store) {
	noID := newNode("a", base, base)
	noID.ID = ""
	noSeen := newNode("b", base, time.Time{})
	nul := newNode("c", base, base)
	nul.Hostname = "a\x00b"
	badUTF8 := newNode("d", base, base)
	badUTF8.Version = "\xff"
	for name, n := range map[string]*auth.Node{"no ID": noID, "no heartbeat time": noSeen, "NUL": nul, "bad UTF-8": badUTF8, "nil": nil} {
		wantCode(t, "HeartbeatNode("+name+")", s.HeartbeatNode(t.Context(), n), auth.EINVALID)
	}
	if got := nodesSince(t, s, time.Time{}); len(got) != 0 {
		t.Errorf("after refused heartbeats: %+v, want no node", got)
	}
}

func testNodeDelete(t *testing.T, s auth.Store) {
	a, b := newNode("a", base, base), newNode("b", base, base)
	mustHeartbeat(t, s, a, b)
	if err := s.DeleteNode(t.Context(), a.ID); err != nil {
		t.Fatalf("DeleteNode: %v", err)
	}
	if err := s.DeleteNode(t.Context(), auth.NodeIDPrefix+"unknown"); err != nil {
		t.Errorf("DeleteNode(unknown) = %v, want no error", err)
	}
	if got := nodeIDs(nodesSince(t, s, time.Time{})); !slices.Equal(got, []string{b.ID}) {
		t.Errorf("after deleting %s: %v, want [%s]", a.ID, got, b.ID)
	}
}

func testNodeDeleteSeenBefore(t *testing.T, s auth.Store) {
	old := newNode("old", base, base)
	older := newNode("older", base, at(-time.Hour))
	recent := newNode("recent", base, at(time.Second))
	mustHeartbeat(t, s, old, older, recent)
	// A bound between stored microseconds removes only what is before it.
	n, err := s.DeleteNodesSeenBefore(t.Context(), base.Add(time.Nanosecond))
	if err != nil || n != 2 {
		t.Fatalf("DeleteNodesSeenBefore = %d, %v; want 2", n, err)
	}
	if got := nodeIDs(nodesSince(t, s, time.Time{})); !slices.Equal(got, []string{recent.ID}) {
		t.Errorf("left = %v, want [%s]", got, recent.ID)
	}
	if n, err := s.DeleteNodesSeenBefore(t.Context(), at(time.Second)); err != nil || n != 0 {
		t.Errorf("DeleteNodesSeenBefore(the last heartbeat) = %d, %v; want 0: the bound is exclusive", n, err)
	}
}
