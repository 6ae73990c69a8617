package changes_test

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func TestATrustWithoutAFeedIsAlwaysTrusted(t *testing.T) {
	tr := changes.NewTrust(false)
	tr.Lost(nil)
	if !tr.Trusted() || tr.Following() {
		t.Fatal("a cache that follows no feed stopped being trusted")
	}
}

func TestATrustVouchesFromEachSyncForFeedMaxAgeAndNeverAfterALoss(t *testing.T) {
	mono := testenv.NewClock(time.Unix(1_700_000_000, 0))
	tr := changes.NewTrust(true)
	tr.SetMonotonic(mono.Now)
	if tr.Trusted() {
		t.Fatal("trusted before the feed first synced")
	}
	tr.Synced(mono.Now())
	mono.Add(auth.FeedMaxAge - time.Nanosecond)
	if !tr.Trusted() {
		t.Fatal("not trusted just within FeedMaxAge of the sync")
	}
	mono.Add(time.Nanosecond)
	if tr.Trusted() {
		t.Fatal("trusted FeedMaxAge after the sync")
	}
	tr.Synced(mono.Now())
	tr.Lost(nil)
	if tr.Trusted() {
		t.Fatal("trusted after the feed was lost")
	}
}
