package changes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// A node that cannot reach its database at all (the network, the server or
// a proxy in between is down) cannot verify anything new, but it can keep
// answering from what it verified before: nobody can write to that database
// through this node either, and while the outage is a partition of this
// node alone, another node's revocation is what it misses. Issue 13 asks
// for that by default: JWT routes and recently verified keys keep working
// while PostgreSQL is cut. The store outage grace bounds it: a Feed given
// one (SetOutageGrace) passes FeedLost a *StoreOutage when its watcher lost
// the database's connection to a network failure, and a Trust told of it
// keeps vouching for the cache until the grace after the feed's last
// FeedSynced, then fails closed as it would at once without a grace. A feed
// that only lags (the database answers, slowly, or refuses the watcher for
// another reason) gets no grace: its caches fail closed after
// auth.FeedMaxAge. The next FeedSynced follows the watcher's catch-up
// (what changed meanwhile is reported first), so what was missed is
// dropped before the cache is trusted normally again.

// StoreOutage is the error FeedLost carries when the feed was lost because
// the database is unreachable from this node and a grace applies.
type StoreOutage struct {
	Err   error         // what the watcher reported
	Grace time.Duration // how long after the last FeedSynced caches may answer
}

func (e *StoreOutage) Error() string {
	return fmt.Sprintf("store unreachable (caches answer for up to %s after the last sync): %v", e.Grace, e.Err)
}

func (e *StoreOutage) Unwrap() error { return e.Err }

// Unreachable reports whether err says that the database could not be
// reached or stopped answering at the network level (refused, reset or
// closed connections, timeouts), as opposed to an answer from it (an SQL
// error, a refused login, a server shutting down), which gets no grace.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.As(err, &ne):
		return true
	}
	return false
}
