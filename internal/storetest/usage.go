package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// RunUsage runs the contract of auth.UsageStore. open is as for Run.
func RunUsage(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"added counts read back in minute, hour and day buckets", testUsageRollUp},
		{"adding to an existing bucket adds the counts", testUsageAddsUp},
		{"queries filter by each subject and sum over the rest", testUsageFilters},
		{"a query covers buckets starting in [from, to)", testUsageRange},
		{"a flush of thousands of cells is written whole", testUsageLargeBatch},
		{"bad counts are invalid and write nothing", testUsageInvalid},
		{"retention deletes old buckets of one granularity only", testUsageRetention},
		{"concurrent writers adding to the same buckets lose nothing", testUsageConcurrent},
		{"top usage ranks the subjects of one kind, for some owners or all", testUsageTop},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// usageBase is the start of an hour, 30 minutes before midnight UTC.
var usageBase = time.Date(2030, time.March, 4, 23, 30, 0, 0, time.UTC)

func uc(key, route, outcome string, minute int, n int64) auth.UsageCount {
	return auth.UsageCount{
		UsageSubject: auth.UsageSubject{KeyID: key, Route: route, Owner: "owner-of-" + key},
		Outcome:      outcome,
		Start:        usageBase.Add(time.Duration(minute) * time.Minute),
		Count:        n,
	}
}

func mustAddUsage(t *testing.T, s auth.Store, counts ...auth.UsageCount) {
	t.Helper()
	if err := s.AddUsage(t.Context(), counts); err != nil {
		t.Fatalf("AddUsage: %v", err)
	}
}

func queryUsage(t *testing.T, s auth.Store, f auth.UsageFilter) []auth.UsagePoint {
	t.Helper()
	if f.From.IsZero() {
		f.From = usageBase.Add(-48 * time.Hour)
	}
	if f.To.IsZero() {
		f.To = usageBase.Add(48 * time.Hour)
	}
	got, err := s.QueryUsage(t.Context(), f)
	if err != nil {
		t.Fatalf("QueryUsage(%+v): %v", f, err)
	}
	for _, p := range got {
		if p.Start.Location() != time.UTC {
			t.Errorf("start %v is not in UTC", p.Start)
		}
	}
	return got
}

func pt(start time.Time, outcome string, n int64) auth.UsagePoint {
	return auth.UsagePoint{Start: start, Outcome: outcome, Count: n}
}

func wantPoints(t *testing.T, what string, got, want []auth.UsagePoint) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b auth.UsagePoint) bool {
		return a.Start.Equal(b.Start) && a.Outcome == b.Outcome && a.Count == b.Count
	}) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func testUsageRollUp(t *testing.T, s auth.Store) {
	// Minutes 0 and 29 fall in the 23:00 hour of March 4; minute 30 is
	// 00:00 on March 5, another hour and another day.
	mustAddUsage(t, s,
		uc("key_a", "orders", "VALID", 0, 3),
		uc("key_a", "orders", "VALID", 29, 4),
		uc("key_a", "orders", "EXPIRED", 29, 1),
		uc("key_a", "orders", "VALID", 30, 5),
	)
	f := auth.UsageFilter{UsageSubject: auth.UsageSubject{KeyID: "key_a"}}
	m := func(min int) time.Time { return usageBase.Add(time.Duration(min) * time.Minute) }
	f.Granularity = auth.GranularityMinute
	wantPoints(t, "minutes", queryUsage(t, s, f), []auth.UsagePoint{
		pt(m(0), "VALID", 3), pt(m(29), "EXPIRED", 1), pt(m(29), "VALID", 4), pt(m(30), "VALID", 5),
	})
	f.Granularity = auth.GranularityHour
	hour := time.Date(2030, time.March, 4, 23, 0, 0, 0, time.UTC)
	wantPoints(t, "hours", queryUsage(t, s, f), []auth.UsagePoint{
		pt(hour, "EXPIRED", 1), pt(hour, "VALID", 7), pt(hour.Add(time.Hour), "VALID", 5),
	})
	f.Granularity = auth.GranularityDay
	day := time.Date(2030, time.March, 4, 0, 0, 0, 0, time.UTC)
	wantPoints(t, "days", queryUsage(t, s, f), []auth.UsagePoint{
		pt(day, "EXPIRED", 1), pt(day, "VALID", 7), pt(day.Add(24*time.Hour), "VALID", 5),
	})
}

func testUsageAddsUp(t *testing.T, s auth.Store) {
	mustAddUsage(t, s, uc("key_a", "", "VALID", 1, 2))
	mustAddUsage(t, s, uc("key_a", "", "VALID", 1, 40))
	// A start inside the minute counts in that minute.
	c := uc("key_a", "", "VALID", 1, 100)
	c.Start = c.Start.Add(59*time.Second + time.Millisecond)
	mustAddUsage(t, s, c)
	for _, g := range auth.Granularities {
		got := queryUsage(t, s, auth.UsageFilter{Granularity: g, UsageSubject: auth.UsageSubject{KeyID: "key_a"}})
		wantPoints(t, string(g), got, []auth.UsagePoint{pt(g.Floor(usageBase.Add(time.Minute)), "VALID", 142)})
	}
}

func testUsageFilters(t *testing.T, s auth.Store) {
	tok := func(client, user, outcome string, n int64) auth.UsageCount {
		return auth.UsageCount{UsageSubject: auth.UsageSubject{ClientID: client, UserID: user, Route: "orders"},
			Outcome: outcome, Start: usageBase, Count: n}
	}
	mustAddUsage(t, s,
		uc("key_a", "orders", "VALID", 0, 1),
		uc("key_a", "billing", "VALID", 0, 2),
		uc("key_b", "orders", "VALID", 0, 4),
		uc("key_b", "", "REVOKED", 0, 8),
		tok("cli_1", "usr_1", "VALID", 16),
		tok("cli_1", "", "invalid_grant", 32),
		tok("cli_2", "usr_1", "VALID", 64),
	)
	g := auth.GranularityHour
	h := g.Floor(usageBase)
	for _, tc := range []struct {
		name string
		subj auth.UsageSubject
		want []auth.UsagePoint
	}{
		{"everything", auth.UsageSubject{}, []auth.UsagePoint{pt(h, "REVOKED", 8), pt(h, "VALID", 87), pt(h, "invalid_grant", 32)}},
		{"key", auth.UsageSubject{KeyID: "key_a"}, []auth.UsagePoint{pt(h, "VALID", 3)}},
		{"owner", auth.UsageSubject{Owner: "owner-of-key_b"}, []auth.UsagePoint{pt(h, "REVOKED", 8), pt(h, "VALID", 4)}},
		{"route", auth.UsageSubject{Route: "orders"}, []auth.UsagePoint{pt(h, "VALID", 85), pt(h, "invalid_grant", 32)}},
		{"client", auth.UsageSubject{ClientID: "cli_1"}, []auth.UsagePoint{pt(h, "VALID", 16), pt(h, "invalid_grant", 32)}},
		{"user", auth.UsageSubject{UserID: "usr_1"}, []auth.UsagePoint{pt(h, "VALID", 80)}},
		{"key and route", auth.UsageSubject{KeyID: "key_b", Route: "orders"}, []auth.UsagePoint{pt(h, "VALID", 4)}},
		{"unknown key", auth.UsageSubject{KeyID: "key_z"}, nil},
	} {
		wantPoints(t, tc.name, queryUsage(t, s, auth.UsageFilter{Granularity: g, UsageSubject: tc.subj}), tc.want)
	}
}

func testUsageRange(t *testing.T, s auth.Store) {
	mustAddUsage(t, s, uc("key_a", "", "VALID", 0, 1), uc("key_a", "", "VALID", 1, 2), uc("key_a", "", "VALID", 2, 4))
	got := queryUsage(t, s, auth.UsageFilter{
		Granularity: auth.GranularityMinute,
		From:        usageBase.Add(time.Minute),
		To:          usageBase.Add(2 * time.Minute),
	})
	wantPoints(t, "[from, to)", got, []auth.UsagePoint{pt(usageBase.Add(time.Minute), "VALID", 2)})
}

func testUsageLargeBatch(t *testing.T, s auth.Store) {
	// More distinct rows than several statements hold, over two days of
	// minutes: every one must arrive.
	var counts []auth.UsageCount
	for i := range 3 * auth.MaxUsageBatchRows {
		counts = append(counts, uc(fmt.Sprintf("key_%d", i%7), "r", "VALID", i, 1))
	}
	mustAddUsage(t, s, counts...)
	var total int64
	for _, p := range queryUsage(t, s, auth.UsageFilter{Granularity: auth.GranularityMinute}) {
		total += p.Count
	}
	if total != int64(len(counts)) {
		t.Errorf("minute total = %d, want %d", total, len(counts))
	}
	total = 0
	for _, p := range queryUsage(t, s, auth.UsageFilter{Granularity: auth.GranularityDay}) {
		total += p.Count
	}
	if total != int64(len(counts)) {
		t.Errorf("day total = %d, want %d", total, len(counts))
	}
}

func testUsageInvalid(t *testing.T, s auth.Store) {
	good := uc("key_a", "", "VALID", 0, 1)
	for _, bad := range []auth.UsageCount{
		uc("key_a", "", "VALID", 0, 0),
		uc("key_a", "", "VALID", 0, -3),
		uc("key\x00a", "", "VALID", 0, 1),
		uc("key_a", "\xff", "VALID", 0, 1),
	} {
		if err := s.AddUsage(t.Context(), []auth.UsageCount{good, bad}); auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("AddUsage(%+v) = %v, want EINVALID", bad, err)
		}
	}
	if got := queryUsage(t, s, auth.UsageFilter{Granularity: auth.GranularityMinute}); len(got) != 0 {
		t.Errorf("a refused batch wrote %v", got)
	}
	if err := s.AddUsage(t.Context(), nil); err != nil {
		t.Errorf("AddUsage(nil) = %v", err)
	}
}

func testUsageRetention(t *testing.T, s auth.Store) {
	mustAddUsage(t, s, uc("key_a", "", "VALID", 0, 1), uc("key_a", "", "VALID", 31, 1))
	n, err := s.DeleteUsageBefore(t.Context(), auth.GranularityMinute, usageBase.Add(31*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteUsageBefore(minute) = %d, %v; want 1 row", n, err)
	}
	wantPoints(t, "minutes left", queryUsage(t, s, auth.UsageFilter{Granularity: auth.GranularityMinute}),
		[]auth.UsagePoint{pt(usageBase.Add(31*time.Minute), "VALID", 1)})
	day := auth.GranularityDay.Floor(usageBase)
	wantPoints(t, "days untouched", queryUsage(t, s, auth.UsageFilter{Granularity: auth.GranularityDay}),
		[]auth.UsagePoint{pt(day, "VALID", 1), pt(day.Add(24*time.Hour), "VALID", 1)})
	if n, err := s.DeleteUsageBefore(t.Context(), auth.GranularityHour, usageBase.Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("DeleteUsageBefore(hour, nothing that old) = %d, %v", n, err)
	}
}

func testUsageConcurrent(t *testing.T, s auth.Store) {
	// Eight writers, each adding the same rows (in its own order) ten
	// times: a lost update or a deadlock shows as a wrong total or an
	// error.
	const writers, rounds = 8, 10
	errs := parallel(writers, func(w int) error {
		for r := range rounds {
			var counts []auth.UsageCount
			for i := range 20 {
				j := (i + w*3 + r) % 20
				counts = append(counts, uc(fmt.Sprintf("key_%d", j%4), "r", "VALID", j, 1))
			}
			if err := s.AddUsage(t.Context(), counts); err != nil {
				return err
			}
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("AddUsage: %v", err)
		}
	}
	for _, g := range auth.Granularities {
		var total int64
		for _, p := range queryUsage(t, s, auth.UsageFilter{Granularity: g}) {
			total += p.Count
		}
		if want := int64(writers * rounds * 20); total != want {
			t.Errorf("%s total = %d, want %d", g, total, want)
		}
	}
}

func testUsageTop(t *testing.T, s auth.Store) {
	ctx := t.Context()
	counts := []auth.UsageCount{
		uc("key_a", "orders", "VALID", 0, 5),
		uc("key_a", "orders", "REVOKED", 1, 2),
		uc("key_b", "orders", "VALID", 2, 9),
		uc("key_c", "users", "VALID", 3, 7),
		uc("key_d", "users", "VALID", 3, 7),
		uc("key_e", "users", "VALID", 90, 100), // outside the hour asked for
		{UsageSubject: auth.UsageSubject{ClientID: "cli_1"}, Outcome: "VALID", Start: usageBase, Count: 50},
	}
	if err := s.AddUsage(ctx, counts); err != nil {
		t.Fatal(err)
	}
	top := func(f auth.UsageTopFilter) []auth.UsageTotal {
		t.Helper()
		f.Granularity, f.From, f.To = auth.GranularityMinute, usageBase, usageBase.Add(time.Hour)
		got, err := s.TopUsage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []auth.UsageTotal{{Subject: "key_b", Count: 9}, {Subject: "key_a", Count: 7}, {Subject: "key_c", Count: 7}}
	if got := top(auth.UsageTopFilter{By: auth.UsageByKey, Limit: 3}); !slices.Equal(got, want) {
		t.Errorf("top keys = %v, want %v (ties by subject, counts without a key left out)", got, want)
	}
	if got := top(auth.UsageTopFilter{By: auth.UsageByKey, Owners: []string{"owner-of-key_c", "owner-of-key_a"}}); !slices.Equal(got, []auth.UsageTotal{{Subject: "key_a", Count: 7}, {Subject: "key_c", Count: 7}}) {
		t.Errorf("top keys of two owners = %v", got)
	}
	if got := top(auth.UsageTopFilter{By: auth.UsageByRoute}); !slices.Equal(got, []auth.UsageTotal{{Subject: "orders", Count: 16}, {Subject: "users", Count: 14}}) {
		t.Errorf("top routes = %v", got)
	}
	if got := top(auth.UsageTopFilter{By: auth.UsageByClient}); !slices.Equal(got, []auth.UsageTotal{{Subject: "cli_1", Count: 50}}) {
		t.Errorf("top clients = %v", got)
	}
	if _, err := s.TopUsage(ctx, auth.UsageTopFilter{By: "owner; DROP TABLE usage_counts", Granularity: auth.GranularityMinute}); auth.ErrorCode(err) != auth.EINVALID {
		t.Errorf("a subject kind that is not a column: %v, want EINVALID", err)
	}
}
