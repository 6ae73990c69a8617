package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// NodeLister reads the cluster's node table (auth.NodeStore provides it).
type NodeLister interface {
	ListNodes(ctx context.Context, since time.Time) ([]auth.Node, error)
}

var _ NodeLister = auth.NodeStore(nil)

// handleListNodes serves GET /admin/v1/nodes: every node in the table,
// the live ones (heard from within auth.NodeLiveIntervals heartbeats) and
// those that stopped without a word and have not been pruned yet
// (auth.NodeRetention), oldest start first.
func (s *Server) handleListNodes(w http.ResponseWriter, r *http.Request) error {
	if s.nodes == nil {
		return auth.Errorf(auth.ENOTFOUND, "This node keeps no list of the cluster's nodes.")
	}
	if _, err := parseQuery(r); err != nil {
		return err
	}
	nodes, err := s.nodes.ListNodes(r.Context(), time.Time{})
	if err != nil {
		return fmt.Errorf("admin: list nodes: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, nodeList(nodes, s.now(), s.heartbeat))
	return nil
}
