package auth

import (
	"context"
	"time"
)

// Node is one running Gatehouse process, as it announces itself in the
// store it shares with the others. A node's ID is new at each start, so a
// restarted node is a new row and its old one ages out.
type Node struct {
	ID        string // NodeIDPrefix and a new ID at each process start
	Hostname  string
	Version   string // the build's version, as `gatehouse version` prints it
	Address   string // where the node serves its API (its URL)
	StartedAt time.Time
	SeenAt    time.Time // its last heartbeat
}

// NodeIDPrefix starts the ID of every node.
const NodeIDPrefix = "node_"

// NodeLiveIntervals is how many heartbeat intervals a node may miss before
// the others stop counting it: three, so one slow write or one lost
// connection does not halve every node's share of a limit.
const NodeLiveIntervals = 3

// NodeRetention is how long the row of a node that stopped without saying
// so (killed, or cut off from the store) is kept for operators to see
// before it is pruned.
const NodeRetention = 24 * time.Hour

// NodeLiveSince is the earliest last heartbeat of a node counted live at
// now, with heartbeats every interval.
func NodeLiveSince(now time.Time, interval time.Duration) time.Time {
	return now.Add(-NodeLiveIntervals * interval)
}

// Live reports whether n's last heartbeat is recent enough at now, with
// heartbeats every interval.
func (n Node) Live(now time.Time, interval time.Duration) bool {
	return !n.SeenAt.Before(NodeLiveSince(now, interval))
}

// NodeStore is the cluster's membership table: each node upserts its own
// row on every heartbeat, and counts the rows seen recently.
type NodeStore interface {
	// HeartbeatNode inserts n, or updates the row with its ID: its
	// hostname, version, address and SeenAt change, its StartedAt stays
	// the first one stored. EINVALID if n has no ID or holds text no
	// backend can store, or if its SeenAt is zero.
	HeartbeatNode(ctx context.Context, n *Node) error
	// ListNodes returns the nodes whose SeenAt is not before since (all of
	// them for a zero since), oldest start first (then by ID).
	ListNodes(ctx context.Context, since time.Time) ([]Node, error)
	// DeleteNode removes the node's row; deleting an unknown node is not
	// an error.
	DeleteNode(ctx context.Context, id string) error
	// DeleteNodesSeenBefore removes the nodes whose SeenAt is before t and
	// says how many.
	DeleteNodesSeenBefore(ctx context.Context, t time.Time) (int64, error)
}

// CheckStorable returns EINVALID if n lacks its ID or its SeenAt, or holds
// text no backend can store.
func (n *Node) CheckStorable() error {
	switch {
	case n == nil:
		return Errorf(EINVALID, "Node is missing.")
	case n.ID == "":
		return Errorf(EINVALID, "Node ID is required.")
	case n.SeenAt.IsZero():
		return Errorf(EINVALID, "Node heartbeat time is required.")
	}
	return CheckText("Node", n.ID, n.Hostname, n.Version, n.Address)
}
