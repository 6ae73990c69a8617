package oauth

import (
	"context"
	"time"
)

// purgeInterval is how often Run deletes dead codes, tokens, sessions and
// revocation entries.
const purgeInterval = 10 * time.Minute

// purgeMargin keeps dead records a while past their death, so that a reused
// code or refresh token presented soon after it expired is still recognised
// as reuse (and revokes its family) rather than as unknown.
const purgeMargin = 24 * time.Hour

// Run deletes expired state in the background until ctx is done, and then
// returns nil (the contract of background.Runner). Any number of nodes may
// run it against one store.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	for {
		if err := s.store.PurgeExpired(ctx, s.now().Add(-purgeMargin)); err != nil && ctx.Err() == nil {
			s.logger.Warn("oauth: purge expired state", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
