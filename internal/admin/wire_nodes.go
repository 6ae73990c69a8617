package admin

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Node is one Gatehouse process of the cluster, as GET /admin/v1/nodes
// shows it.
type Node struct {
	ID        string    `json:"id"`
	Hostname  string    `json:"hostname"`
	Version   string    `json:"version"`
	Address   string    `json:"address"`
	StartedAt time.Time `json:"started_at,omitzero"`
	SeenAt    time.Time `json:"seen_at"` // its last heartbeat
	// Live says it was heard from within three heartbeat intervals: the
	// nodes that count when a shared limit is divided among them.
	Live bool `json:"live"`
}

// NodeList is every node in the cluster's table, and how many are live.
type NodeList struct {
	Items []Node `json:"items"`
	Live  int    `json:"live"`
	// HeartbeatInterval is the answering node's cluster.heartbeat_interval,
	// by which it judged the others live.
	HeartbeatInterval string `json:"heartbeat_interval"`
}

func nodeList(nodes []auth.Node, now time.Time, heartbeat time.Duration) NodeList {
	out := NodeList{Items: make([]Node, 0, len(nodes)), HeartbeatInterval: heartbeat.String()}
	for _, n := range nodes {
		live := n.Live(now, heartbeat)
		if live {
			out.Live++
		}
		out.Items = append(out.Items, Node{
			ID: n.ID, Hostname: n.Hostname, Version: n.Version, Address: n.Address,
			StartedAt: n.StartedAt, SeenAt: n.SeenAt, Live: live,
		})
	}
	return out
}
