package auth

import (
	"testing"
	"time"
)

func TestGranularityBucketsAreUTC(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	at := time.Date(2030, 3, 5, 8, 30, 15, 5, tokyo) // 2030-03-04T23:30:15Z
	for _, tc := range []struct {
		g           Granularity
		floor, ceil string
	}{
		{GranularityMinute, "2030-03-04T23:30:00Z", "2030-03-04T23:31:00Z"},
		{GranularityHour, "2030-03-04T23:00:00Z", "2030-03-05T00:00:00Z"},
		{GranularityDay, "2030-03-04T00:00:00Z", "2030-03-05T00:00:00Z"},
	} {
		if got := tc.g.Floor(at).Format(time.RFC3339); got != tc.floor {
			t.Errorf("%s floor = %s, want %s", tc.g, got, tc.floor)
		}
		if got := tc.g.Ceil(at).Format(time.RFC3339); got != tc.ceil {
			t.Errorf("%s ceil = %s, want %s", tc.g, got, tc.ceil)
		}
		if f := tc.g.Floor(at); !tc.g.Ceil(f).Equal(f) {
			t.Errorf("%s: an aligned time is its own ceiling", tc.g)
		}
	}
	for _, s := range []string{"", "week", "Minute", "minutes"} {
		if _, err := ParseGranularity(s); ErrorCode(err) != EINVALID {
			t.Errorf("ParseGranularity(%q) = %v, want EINVALID", s, err)
		}
	}
}

func TestRollUpMergesMinutesIntoHoursAndDaysInOneOrder(t *testing.T) {
	m := func(min int, n int64) UsageCount {
		return UsageCount{UsageSubject: UsageSubject{KeyID: "key_a"}, Outcome: "VALID",
			Start: time.Date(2030, 3, 4, 23, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute), Count: n}
	}
	rows, err := RollUpUsage([]UsageCount{m(59, 1), m(0, 2), m(60, 4)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, string(r.Granularity)+" "+r.Start.Format("01-02T15:04")+" "+time.Duration(r.Count).String())
	}
	want := []string{
		"day 03-04T00:00 3ns", "day 03-05T00:00 4ns",
		"hour 03-04T23:00 3ns", "hour 03-05T00:00 4ns",
		"minute 03-04T23:00 2ns", "minute 03-04T23:59 1ns", "minute 03-05T00:00 4ns",
	}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %s, want %s", i, got[i], want[i])
		}
	}
}
