package changes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func outage(grace time.Duration) error {
	return &changes.StoreOutage{Err: io.ErrUnexpectedEOF, Grace: grace}
}

// syncedTrust returns a Trust on a test clock that the feed synced at the
// clock's start.
func syncedTrust(t *testing.T) (*changes.Trust, *testenv.Clock) {
	t.Helper()
	mono := testenv.NewClock(time.Unix(1_700_000_000, 0))
	tr := changes.NewTrust(true)
	tr.SetMonotonic(mono.Now)
	tr.Synced(mono.Now())
	return tr, mono
}

func TestAStoreOutageKeepsTheCacheTrustedForTheGraceAfterTheLastSync(t *testing.T) {
	t.Parallel()
	tr, mono := syncedTrust(t)
	mono.Add(auth.FeedMaxAge / 2)
	tr.Lost(outage(time.Minute))
	if !tr.Trusted() || !tr.Graced() {
		t.Fatal("not trusted by the grace right after the database became unreachable")
	}
	mono.Add(30 * time.Second)
	tr.Lost(outage(time.Minute)) // a failed reconnection does not stretch the grace
	if !tr.Trusted() {
		t.Fatal("not trusted within the grace")
	}
	mono.Add(auth.FeedMaxAge/2 + 30*time.Second - time.Nanosecond)
	if !tr.Trusted() {
		t.Fatal("not trusted just within FeedMaxAge plus the grace of the last sync")
	}
	mono.Add(time.Nanosecond)
	tr.Lost(outage(time.Minute))
	if tr.Trusted() || tr.Graced() {
		t.Fatal("still trusted once the grace ran out")
	}
}

func TestAFeedThatLapsesForAnotherReasonGetsNoGrace(t *testing.T) {
	t.Parallel()
	tr, mono := syncedTrust(t)
	tr.Lost(errors.New("ERROR: permission denied (SQLSTATE 42501)"))
	if tr.Trusted() {
		t.Fatal("trusted after a loss the database answered")
	}
	// An outage after that loss does not bring the trust back.
	tr.Lost(outage(time.Minute))
	if tr.Trusted() {
		t.Fatal("an outage trusted again a cache distrusted for another reason")
	}
	// A feed that merely lags (no FeedLost at all) lapses after FeedMaxAge.
	tr.Synced(mono.Now())
	mono.Add(auth.FeedMaxAge)
	if tr.Trusted() {
		t.Fatal("a lagging feed's cache trusted past FeedMaxAge")
	}
}

func TestAZeroGraceFailsClosed(t *testing.T) {
	t.Parallel()
	tr, _ := syncedTrust(t)
	tr.Lost(outage(0))
	if tr.Trusted() {
		t.Fatal("trusted after an outage without a grace")
	}
}

func TestTheNextSyncEndsTheGrace(t *testing.T) {
	t.Parallel()
	tr, mono := syncedTrust(t)
	tr.Lost(outage(time.Minute))
	mono.Add(10 * time.Second)
	tr.Synced(mono.Now())
	if !tr.Trusted() || tr.Graced() {
		t.Fatal("after the feed came back, the cache is not trusted normally")
	}
	mono.Add(auth.FeedMaxAge)
	if tr.Trusted() {
		t.Fatal("the old grace outlived the sync that ended it")
	}
}

func TestUnreachableTellsNetworkFailuresFromTheDatabasesAnswers(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		io.EOF, io.ErrUnexpectedEOF, context.DeadlineExceeded,
		fmt.Errorf("failed to connect: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
		fmt.Errorf("read: %w", syscall.ECONNRESET),
	} {
		if !changes.Unreachable(err) {
			t.Errorf("Unreachable(%v) = false", err)
		}
	}
	for _, err := range []error{nil, errors.New("FATAL: password authentication failed"), context.Canceled} {
		if changes.Unreachable(err) {
			t.Errorf("Unreachable(%v) = true", err)
		}
	}
}

// lossRecorder is an auth.ChangeHandler that keeps the losses it was told of.
type lossRecorder struct {
	mu   sync.Mutex
	lost []error
}

func (r *lossRecorder) Changed(auth.Change)  {}
func (r *lossRecorder) FeedSynced(time.Time) {}
func (r *lossRecorder) FeedLost(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lost = append(r.lost, err)
}

// syncedBuffer is a bytes.Buffer safe for the grace's expiry timer.
type syncedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAFeedPassesAnUnreachableStoreOnAsAnOutageAndLogsItsStartAndEndOnce(t *testing.T) {
	t.Parallel()
	var logs syncedBuffer
	f := changes.New(nil, slog.New(slog.NewTextHandler(&logs, nil)))
	f.SetOutageGrace(time.Minute)
	r := &lossRecorder{}
	f.Subscribe(r, auth.ChangeAPIKey)
	f.FeedSynced(time.Now())
	unreachable := fmt.Errorf("listen: %w", io.ErrUnexpectedEOF)
	f.FeedLost(unreachable)
	f.FeedLost(unreachable) // a failed reconnection
	if !f.InGrace() {
		t.Fatal("the feed is not in its grace after losing the database")
	}
	var o *changes.StoreOutage
	if len(r.lost) != 2 || !errors.As(r.lost[0], &o) || o.Grace != time.Minute || !errors.Is(r.lost[0], io.ErrUnexpectedEOF) {
		t.Fatalf("the subscriber was told %v, want a StoreOutage of a minute wrapping the error", r.lost)
	}
	f.FeedSynced(time.Now())
	if f.InGrace() {
		t.Fatal("still in the grace after the feed synced")
	}
	out := logs.String()
	if strings.Count(out, "database is unreachable") != 1 || strings.Count(out, "back and caught up") != 1 {
		t.Fatalf("want one warning at the grace's start and one line at its end, got:\n%s", out)
	}

	// Another kind of loss passes on as is.
	f.FeedLost(errors.New("FATAL: terminating connection due to administrator command"))
	if errors.As(r.lost[2], &o) || f.InGrace() {
		t.Fatalf("a loss the database answered became an outage: %v", r.lost[2])
	}
}

func TestAFeedWithoutAGracePassesEveryLossOnAsIs(t *testing.T) {
	t.Parallel()
	f := changes.New(nil, nil)
	r := &lossRecorder{}
	f.Subscribe(r, auth.ChangeClient)
	f.FeedSynced(time.Now())
	f.FeedLost(io.EOF)
	var o *changes.StoreOutage
	if errors.As(r.lost[0], &o) || f.InGrace() {
		t.Fatal("a grace applied with store_outage_grace 0")
	}
}
