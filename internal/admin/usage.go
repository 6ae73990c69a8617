package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// UsageReader reads usage counts (auth.UsageStore provides it).
type UsageReader interface {
	QueryUsage(ctx context.Context, f auth.UsageFilter) ([]auth.UsagePoint, error)
}

var _ UsageReader = auth.UsageStore(nil)

// Limits of a usage query.
const (
	// MaxUsageBuckets bounds the points of one series: a year of hours is
	// 8760, so a range that long asks for days.
	MaxUsageBuckets = 5000
	// defaultUsageRange is the range asked for without a from.
	defaultUsageRange = 24 * time.Hour
	// maxUsageFuture bounds "to": buckets after now are empty, and times
	// far ahead would not even print as RFC 3339.
	maxUsageFuture = 366 * 24 * time.Hour
)

// handleUsage serves GET /admin/v1/usage.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) error {
	if s.usage == nil {
		return auth.Errorf(auth.ENOTFOUND, "This node keeps no usage counts.")
	}
	q, err := parseQuery(r, "key_id", "client_id", "user_id", "route", "owner", "from", "to", "granularity")
	if err != nil {
		return err
	}
	f, err := usageFilter(q.Get, s.now(), s.usageRetention)
	if err != nil {
		return err
	}
	points, err := s.usage.QueryUsage(r.Context(), f)
	if err != nil {
		return fmt.Errorf("admin: query usage: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, usageSeries(f, points))
	return nil
}

// usageFilter reads and checks the query: RFC 3339 times, from before to,
// a known granularity (or one chosen for the range), at most
// MaxUsageBuckets buckets, none older than the granularity is kept. From is
// aligned down and to up to the granularity.
func usageFilter(get func(string) string, now time.Time, ret auth.UsageRetention) (auth.UsageFilter, error) {
	f := auth.UsageFilter{UsageSubject: auth.UsageSubject{
		KeyID: get("key_id"), ClientID: get("client_id"), UserID: get("user_id"), Route: get("route"), Owner: get("owner"),
	}}
	to, err := usageTime("to", get("to"), now)
	if err != nil {
		return f, err
	}
	from, err := usageTime("from", get("from"), to.Add(-defaultUsageRange))
	if err != nil {
		return f, err
	}
	if to.After(now.Add(maxUsageFuture)) {
		return f, auth.Errorf(auth.EINVALID, "The query parameter \"to\" may be at most %s after now.", maxUsageFuture)
	}
	if !from.Before(to) {
		return f, auth.Errorf(auth.EINVALID, "The query parameter \"from\" must be before \"to\".")
	}
	if g := get("granularity"); g != "" {
		if f.Granularity, err = auth.ParseGranularity(g); err != nil {
			return f, err
		}
	} else {
		f.Granularity = defaultGranularity(from, to, now, ret)
	}
	g := f.Granularity
	f.From, f.To = g.Floor(from), g.Ceil(to)
	if n := f.To.Sub(f.From) / g.Step(); n > MaxUsageBuckets {
		return f, auth.Errorf(auth.EINVALID, "The range holds %d %s buckets; at most %d are answered: ask for a coarser granularity or a shorter range.", n, g, MaxUsageBuckets)
	}
	if oldest := g.Floor(now.Add(-ret.Of(g))); f.From.Before(oldest) {
		return f, auth.Errorf(auth.EINVALID, "%s buckets are kept for %s: \"from\" may not be before %s; ask for a coarser granularity.",
			g, ret.Of(g), oldest.Format(time.RFC3339))
	}
	return f, nil
}

// usageTime parses an RFC 3339 time, or returns def for "".
func usageTime(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, auth.Errorf(auth.EINVALID, "The query parameter %q must be an RFC 3339 time, like 2026-12-07T10:00:00Z.", name)
	}
	return t.UTC(), nil
}

// defaultGranularity picks the finest granularity that keeps the range
// within a chart's width and its retention: minutes up to 6 hours, hours
// up to 31 days, days beyond.
func defaultGranularity(from, to, now time.Time, ret auth.UsageRetention) auth.Granularity {
	d := to.Sub(from)
	kept := func(g auth.Granularity) bool { return !g.Floor(from).Before(g.Floor(now.Add(-ret.Of(g)))) }
	switch {
	case d <= 6*time.Hour && kept(auth.GranularityMinute):
		return auth.GranularityMinute
	case d <= 31*24*time.Hour && kept(auth.GranularityHour):
		return auth.GranularityHour
	}
	return auth.GranularityDay
}

// usageSeries lays the points out in every bucket of f's range.
func usageSeries(f auth.UsageFilter, points []auth.UsagePoint) Usage {
	step := f.Granularity.Step()
	out := Usage{
		Granularity: string(f.Granularity),
		From:        f.From,
		To:          f.To,
		Series:      make([]UsageBucket, 0, f.To.Sub(f.From)/step),
		Totals:      map[string]int64{},
	}
	for t := f.From; t.Before(f.To); t = t.Add(step) {
		out.Series = append(out.Series, UsageBucket{Start: t, Outcomes: map[string]int64{}})
	}
	for _, p := range points {
		i := int(p.Start.Sub(f.From) / step)
		if i < 0 || i >= len(out.Series) {
			continue // the store answers within the range; stay safe if not
		}
		out.Series[i].Outcomes[p.Outcome] += p.Count
		out.Totals[p.Outcome] += p.Count
	}
	return out
}
