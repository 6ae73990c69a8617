package admin

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// FuzzUsageQuery holds the usage query to its promise: any from, to and
// granularity is either refused with EINVALID or answered with an aligned,
// dense series of at most MaxUsageBuckets buckets that encodes as JSON.
func FuzzUsageQuery(f *testing.F) {
	f.Add("", "", "")
	f.Add("2030-05-06T00:00:00Z", "2030-05-06T12:00:00Z", "hour")
	f.Add("9999-12-31T12:00:00Z", "9999-12-31T23:59:59Z", "day")
	f.Add("0001-01-01T00:00:00Z", "", "day")
	f.Add("2030-05-06T07:00:00+14:00", "2030-05-06T07:00:00-12:00", "minute")
	f.Add("2030-05-06T07:08:09.999999999Z", "2030-05-06T07:08:10Z", "")
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	f.Fuzz(func(t *testing.T, from, to, granularity string) {
		q := map[string]string{"from": from, "to": to, "granularity": granularity}
		flt, err := usageFilter(func(k string) string { return q[k] }, now, auth.DefaultUsageRetention)
		if err != nil {
			if auth.ErrorCode(err) != auth.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		g := flt.Granularity
		if !g.Floor(flt.From).Equal(flt.From) || !g.Floor(flt.To).Equal(flt.To) || !flt.From.Before(flt.To) {
			t.Fatalf("range %v..%v not aligned to %s", flt.From, flt.To, g)
		}
		u := usageSeries(flt, nil)
		if len(u.Series) == 0 || len(u.Series) > MaxUsageBuckets {
			t.Fatalf("%d buckets", len(u.Series))
		}
		if _, err := json.Marshal(u); err != nil {
			t.Fatalf("the answer does not encode: %v", err)
		}
	})
}
