package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// membership is this node's row in the store's node table: a heartbeat
// every interval, and the count of the nodes heard from recently, which
// shared limits divide by when Redis is down. It follows the contract of
// background.Runner.
type membership struct {
	store    auth.NodeStore
	self     auth.Node
	interval time.Duration
	now      auth.Now
	logger   *slog.Logger

	// live is the count of live nodes, this one included, as of the last
	// successful read of the table; 0 until the first.
	live atomic.Int64
	// failing says the last heartbeat or count failed, so that a store
	// that stays down is logged once, and its return once.
	failing bool
	// leaveBy is when the removal of the node's row at shutdown gives up
	// (zero: shutdownFlushTimeout from then). Close sets it before it
	// stops the background work, whose cancellation orders the write
	// before Run reads it.
	leaveBy   time.Time
	lastPrune time.Time
}

// prunePeriod is how often a node removes the rows of nodes that died
// without a word (killed), NodeRetention after their last heartbeat. Every
// node does it; the deletes are idempotent and rare.
const prunePeriod = time.Hour

// startNodes builds this node's membership, writes its first heartbeat
// (so that the node is listed, and counts the others, once Run returns)
// and publishes the count as the gatehouse_cluster_nodes gauge. The loop
// itself is a background task. A store that fails the first heartbeat does
// not stop the start: the count is then 1 until the store answers.
func (m *Main) startNodes(ctx context.Context, reg prometheus.Registerer) error {
	id, err := auth.NewID(auth.NodeIDPrefix, m.Now())
	if err != nil {
		return fmt.Errorf("node id: %w", err)
	}
	host, _ := os.Hostname() // only for people reading the list; "" if unknown
	now := m.Now()
	m.nodes = &membership{
		store: m.Store,
		self: auth.Node{
			ID: id, Hostname: host, Version: buildVersion().short(), Address: m.URL(),
			StartedAt: now, SeenAt: now,
		},
		interval: m.Config.Cluster.HeartbeatInterval,
		now:      m.Now,
		logger:   m.Logger,
	}
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_cluster_nodes",
		Help: "Nodes of the cluster heard from within three heartbeat intervals, this one included.",
	}, func() float64 { return float64(m.liveNodes()) })); err != nil {
		return fmt.Errorf("node metrics: %w", err)
	}
	m.nodes.beat(ctx)
	return nil
}

// liveNodes is how many nodes the cluster has, this one included: at least
// 1, even before the first heartbeat or while the store is down (then the
// last count read stands). Cheap: an atomic load, for the hot path.
func (m *Main) liveNodes() int {
	if m.nodes == nil {
		return 1
	}
	return m.nodes.count()
}

// count is the live nodes as of the last read, at least 1.
func (n *membership) count() int {
	return int(max(n.live.Load(), 1))
}

// Run beats every interval until ctx is done, then removes the node's row,
// so that the others stop counting it at once rather than after three
// intervals.
func (n *membership) Run(ctx context.Context) error {
	t := time.NewTicker(n.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			n.leave()
			return nil
		case <-t.C:
			n.beat(ctx)
		}
	}
}

// beat writes the heartbeat, counts the live nodes and, every prunePeriod,
// removes the long-dead ones. A failure keeps the previous count and is
// logged once until the store answers again.
func (n *membership) beat(ctx context.Context) {
	now := n.now()
	n.self.SeenAt = now
	err := n.store.HeartbeatNode(ctx, &n.self)
	if err == nil {
		err = n.refresh(ctx, now)
	}
	if err == nil && now.Sub(n.lastPrune) >= prunePeriod {
		if _, err = n.store.DeleteNodesSeenBefore(ctx, now.Add(-auth.NodeRetention)); err == nil {
			n.lastPrune = now
		}
	}
	switch {
	case err != nil && ctx.Err() != nil: // stopping: not a failure of the store
	case err != nil && !n.failing:
		n.failing = true
		n.logger.Warn("cluster heartbeat failed; the last node count stands until the store answers",
			"nodes", n.count(), "err", err)
	case err == nil && n.failing:
		n.failing = false
		n.logger.Info("cluster heartbeat restored", "nodes", n.count())
	}
}

// refresh counts the nodes heard from within NodeLiveIntervals intervals
// of now. This node counts whether or not its own last heartbeat reached
// the store.
func (n *membership) refresh(ctx context.Context, now time.Time) error {
	nodes, err := n.store.ListNodes(ctx, auth.NodeLiveSince(now, n.interval))
	if err != nil {
		return err
	}
	live := int64(1)
	for _, other := range nodes {
		if other.ID != n.self.ID {
			live++
		}
	}
	n.live.Store(live)
	return nil
}

// leave removes the node's row, with a context of its own since the
// node's is done, by leaveBy (Close: what is left of shutdown_timeout) or
// within shutdownFlushTimeout: a store that does not answer must not hold
// up the exit, and the row then ages out by itself.
func (n *membership) leave() {
	by := n.leaveBy
	if by.IsZero() {
		by = time.Now().Add(shutdownFlushTimeout)
	}
	ctx, cancel := context.WithDeadline(context.Background(), by)
	defer cancel()
	if err := n.store.DeleteNode(ctx, n.self.ID); err != nil {
		n.logger.Warn("removing this node from the cluster's list failed; it ages out by itself", "node", n.self.ID, "err", err)
	}
}

// short is the version as the node table shows it: the version, and the
// commit's first 12 digits when the build knows it (every build in a
// checkout is "(devel)"), so nodes running different code tell apart
// during a rolling upgrade.
func (v version) short() string {
	s := v.Version
	if v.Commit != "" {
		s += " " + v.Commit[:min(12, len(v.Commit))]
		if v.Modified {
			s += "+"
		}
	}
	return s
}
