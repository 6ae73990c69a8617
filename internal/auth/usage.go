package auth

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Granularity is the width of a usage bucket.
type Granularity string

// The granularities usage is rolled up into.
const (
	GranularityMinute Granularity = "minute"
	GranularityHour   Granularity = "hour"
	GranularityDay    Granularity = "day"
)

// Granularities lists every granularity, finest first.
var Granularities = []Granularity{GranularityMinute, GranularityHour, GranularityDay}

// ParseGranularity returns the granularity named s, or EINVALID.
func ParseGranularity(s string) (Granularity, error) {
	switch g := Granularity(s); g {
	case GranularityMinute, GranularityHour, GranularityDay:
		return g, nil
	}
	return "", Errorf(EINVALID, "Granularity must be minute, hour or day.")
}

// Step is the width of a bucket of g (a day is 24 hours: buckets are UTC).
func (g Granularity) Step() time.Duration {
	switch g {
	case GranularityHour:
		return time.Hour
	case GranularityDay:
		return 24 * time.Hour
	}
	return time.Minute
}

// Floor returns the start of the bucket of g that holds t, in UTC.
func (g Granularity) Floor(t time.Time) time.Time {
	return t.UTC().Truncate(g.Step())
}

// Ceil returns the first bucket start of g at or after t, in UTC.
func (g Granularity) Ceil(t time.Time) time.Time {
	f := g.Floor(t)
	if f.Equal(t) {
		return f
	}
	return f.Add(g.Step())
}

// UsageRetention is how long usage buckets of each granularity are kept.
type UsageRetention struct {
	Minute time.Duration `yaml:"minute"`
	Hour   time.Duration `yaml:"hour"`
	Day    time.Duration `yaml:"day"`
}

// DefaultUsageRetention keeps minute buckets two days, hour buckets 90
// days and day buckets two years.
var DefaultUsageRetention = UsageRetention{
	Minute: 48 * time.Hour,
	Hour:   90 * 24 * time.Hour,
	Day:    2 * 365 * 24 * time.Hour,
}

// Of returns the retention of g.
func (r UsageRetention) Of(g Granularity) time.Duration {
	switch g {
	case GranularityHour:
		return r.Hour
	case GranularityDay:
		return r.Day
	}
	return r.Minute
}

// UsageSubject is whom and what usage is counted under. Empty members are
// dimensions that do not apply (a key has no user, the verify endpoint no
// route); in a filter, an empty member matches anything.
type UsageSubject struct {
	KeyID    string
	ClientID string
	UserID   string
	Route    string
	Owner    string
}

// UsageCount is a count of verifications of one subject with one outcome
// in one bucket.
type UsageCount struct {
	UsageSubject
	Outcome string
	Start   time.Time // the bucket's first instant, UTC
	Count   int64
}

// UsageFilter selects usage: the buckets of Granularity whose start is in
// [From, To), of the subjects matching every non-empty member.
type UsageFilter struct {
	UsageSubject
	Granularity Granularity
	From, To    time.Time
}

// UsagePoint is the total count of one outcome in one bucket.
type UsagePoint struct {
	Start   time.Time
	Outcome string
	Count   int64
}

// UsageBucket is one row a backend stores: a UsageCount at a granularity.
type UsageBucket struct {
	Granularity Granularity
	UsageCount
}

// UsageStore keeps usage counts rolled up by minute, hour and day.
type UsageStore interface {
	// AddUsage adds the counts (minute buckets; Start is floored to the
	// minute) to the stored minute, hour and day buckets, in one
	// transaction: each stored count becomes count + n, so nodes sharing
	// the store each add their own. EINVALID if a count holds text no
	// backend can store or is not positive; nothing is written then.
	AddUsage(ctx context.Context, counts []UsageCount) error

	// QueryUsage returns, for each bucket and outcome matching f that has
	// a count, the total over the matching subjects, ordered by Start then
	// Outcome.
	QueryUsage(ctx context.Context, f UsageFilter) ([]UsagePoint, error)

	// DeleteUsageBefore removes the buckets of g that start before t and
	// returns how many it removed.
	DeleteUsageBefore(ctx context.Context, g Granularity, t time.Time) (int64, error)

	// TopUsage returns the subjects of one kind with the largest totals in
	// the buckets matching f, largest first (ties by subject), at most
	// f.Limit (capped at MaxPageSize). Counts without that kind of subject
	// are left out.
	TopUsage(ctx context.Context, f UsageTopFilter) ([]UsageTotal, error)
}

// Subject kinds of TopUsage.
const (
	UsageByKey    = "key_id"
	UsageByClient = "client_id"
	UsageByRoute  = "route"
)

// UsageTopFilter selects TopUsage's buckets: By is one of the UsageBy*
// kinds; Owners, when not empty, keeps the counts of those owners only.
type UsageTopFilter struct {
	By          string
	Owners      []string
	Granularity Granularity
	From, To    time.Time
	Limit       int
}

// Check refuses a filter no backend should run.
func (f UsageTopFilter) Check() error {
	switch f.By {
	case UsageByKey, UsageByClient, UsageByRoute:
	default:
		return Errorf(EINVALID, "Top usage is by key_id, client_id or route.")
	}
	if !slices.Contains(Granularities, f.Granularity) {
		return Errorf(EINVALID, "Unknown granularity %q.", f.Granularity)
	}
	return nil
}

// UsageTotal is one subject's total in a TopUsage answer.
type UsageTotal struct {
	Subject string
	Count   int64
}

// MaxUsageBatchRows bounds the rows a backend writes in one statement, so
// a large flush is a few quick statements rather than one huge one.
const MaxUsageBatchRows = 500

// RollUpUsage checks counts and returns the buckets a backend adds them
// to: each count in its minute, hour and day, merged where they meet (many
// minutes make one hour), sorted by granularity, start, subject and
// outcome. Writers that lock rows in this one order cannot deadlock each
// other. EINVALID if a count is not positive or holds text no backend can
// store.
func RollUpUsage(counts []UsageCount) ([]UsageBucket, error) {
	type key struct {
		g Granularity
		s int64
		UsageSubject
		outcome string
	}
	sums := make(map[key]int64, len(counts)*2)
	for _, c := range counts {
		if c.Count <= 0 {
			return nil, Errorf(EINVALID, "A usage count must be positive.")
		}
		if !storable(c.KeyID, c.ClientID, c.UserID, c.Route, c.Owner, c.Outcome) {
			return nil, Errorf(EINVALID, "Usage text must be valid UTF-8 without NUL characters.")
		}
		for _, g := range Granularities {
			sums[key{g, g.Floor(c.Start).Unix(), c.UsageSubject, c.Outcome}] += c.Count
		}
	}
	out := make([]UsageBucket, 0, len(sums))
	for k, n := range sums {
		out = append(out, UsageBucket{Granularity: k.g, UsageCount: UsageCount{
			UsageSubject: k.UsageSubject, Outcome: k.outcome, Start: time.Unix(k.s, 0).UTC(), Count: n,
		}})
	}
	slices.SortFunc(out, compareBuckets)
	return out, nil
}

// compareBuckets orders buckets by granularity, start, subject and outcome,
// stopping at the first difference (a flush sorts tens of thousands).
func compareBuckets(a, b UsageBucket) int {
	if c := strings.Compare(string(a.Granularity), string(b.Granularity)); c != 0 {
		return c
	}
	if c := a.Start.Compare(b.Start); c != 0 {
		return c
	}
	for _, p := range [...][2]string{
		{a.KeyID, b.KeyID}, {a.ClientID, b.ClientID}, {a.UserID, b.UserID},
		{a.Route, b.Route}, {a.Owner, b.Owner}, {a.Outcome, b.Outcome},
	} {
		if c := strings.Compare(p[0], p[1]); c != 0 {
			return c
		}
	}
	return 0
}
