package dashboard

import (
	"context"
	"time"
)

// purgeEvery is how often ended sessions are deleted. They are refused
// the moment they end whatever this says; deleting them only keeps the
// table small.
const purgeEvery = time.Hour

// Run deletes the sessions that have ended (absolutely, or idle) every
// purgeEvery until ctx is done (background.Runner). A failed purge is
// logged and tried again at the next tick.
func (s *Server) Run(ctx context.Context) error {
	tick := time.NewTicker(purgeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if _, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
				s.logger.WarnContext(ctx, "dashboard: deleting ended sessions failed; will retry", "err", err)
			}
		}
	}
}

// Purge deletes the sessions that have ended and says how many.
func (s *Server) Purge(ctx context.Context) (int64, error) {
	now := s.now()
	return s.cfg.Store.DeleteExpiredDashboardSessions(ctx, now, now.Add(-s.idle))
}
