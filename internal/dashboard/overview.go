package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The overview answers "is anything wrong, and what is busy?" for the
// last 24 hours. The store ranks the busiest keys, clients and routes
// (TopUsage); the page then asks for the series of each one it shows, so
// it costs a bounded number of indexed queries whatever the size of the
// store.
const (
	overviewRange = 24 * time.Hour
	// maxChartSeries bounds a chart's series to the stylesheet's colours:
	// the busiest maxChartSeries-1 by name, the rest summed as "other".
	maxChartSeries = 6
	// maxOverviewSubjects bounds the clients and routes charted: the
	// busiest ones (a chart shows maxChartSeries-1 of them apart anyway).
	maxOverviewSubjects = 20
	topKeysShown        = 5
	// dueShown bounds the keys due for rotation listed; the keys page
	// lists them all.
	dueShown = 10
	// eventsShown is how many recent security events are listed. For a
	// developer, whose events are those of their owners' keys among
	// everyone's, at most eventsScanPages pages of eventsScanPage events
	// of each type are read, newest first, to find them: the page costs the
	// same however many events others' keys have.
	eventsShown     = 10
	eventsScanPages = 4
	eventsScanPage  = 50
	// securityWindow is how far back security events are looked for.
	securityWindow = 7 * 24 * time.Hour
)

// securityEvents are the audit event types the overview lists as
// security events: refusals, leaks and revocations.
var securityEvents = []string{
	auth.EventKeyVerificationFailed,
	auth.EventKeyLeaked,
	auth.EventKeyRevoked,
	auth.EventFamilyRevoked,
	auth.EventTokenRevoked,
}

func (s *Server) overviewPages() []page {
	return []page{
		{"GET /dashboard/{$}", signedIn, s.handleOverview},
	}
}

// overviewData is the overview page's content.
type overviewData struct {
	Developer bool // the numbers are those of the viewer's owners only
	NoOwners  bool // a developer without owners: nothing to show
	From, To  time.Time
	Keys      *Chart
	Tokens    *Chart // nil when there is no client to count under
	Gateway   *Chart // nil when there is no route
	Routes    []routeTraffic
	TopKeys   []keyTraffic
	Due       []*auth.APIKey
	DueMore   bool
	Events    []auth.AuditEvent
}

// routeTraffic is one row of the gateway's table: a route's requests by
// outcome.
type routeTraffic struct {
	Route    string
	Total    int64
	Outcomes []outcomeCount
}

type outcomeCount struct {
	Outcome string
	Count   int64
	Class   string
}

// keyTraffic is one of the busiest keys.
type keyTraffic struct {
	Key      *auth.APIKey
	Total    int64
	Refused  int64 // every outcome but VALID
	Outcomes []outcomeCount
}

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := s.overview(r.Context(), v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.show(w, r, v, http.StatusOK, "overview.html", &view{Title: "Overview", Nav: "overview", Data: d})
}

// overview gathers the page: everything for an admin, the objects of
// their owners for a developer.
func (s *Server) overview(ctx context.Context, v *viewer) (*overviewData, error) {
	now := s.now()
	g := auth.GranularityHour
	d := &overviewData{Developer: !v.admin(), To: now, From: g.Floor(now.Add(-overviewRange + g.Step()))}
	if d.Developer && len(v.user.Owners) == 0 {
		// An empty owner list means "every owner" to the store's filters:
		// never ask with one.
		d.NoOwners = true
		return d, nil
	}
	q := usageQuery{s: s, ctx: ctx, g: g, from: d.From, to: g.Ceil(now)}
	var owners []string // nil: every owner (admins)
	if d.Developer {
		owners = v.user.Owners
	}
	var err error
	if d.Keys, err = s.keyChart(q, owners); err != nil {
		return nil, err
	}
	if d.Tokens, err = s.tokenChart(q, owners); err != nil {
		return nil, err
	}
	if d.Gateway, d.Routes, err = s.gatewayChart(q, owners); err != nil {
		return nil, err
	}
	if err := s.topKeys(q, owners, v, d); err != nil {
		return nil, err
	}
	due, next, err := s.cfg.Keys.List(ctx, auth.APIKeyFilter{Owners: owners, RotationDueBy: now, Limit: dueShown})
	if err != nil {
		return nil, fmt.Errorf("dashboard: keys due for rotation: %w", err)
	}
	d.Due, d.DueMore = due, next != ""
	if d.Events, err = s.recentSecurityEvents(ctx, v, now); err != nil {
		return nil, err
	}
	return d, nil
}

// usageQuery asks the usage store for one range.
type usageQuery struct {
	s        *Server
	ctx      context.Context
	g        auth.Granularity
	from, to time.Time
}

func (q usageQuery) points(subject auth.UsageSubject) ([]auth.UsagePoint, error) {
	pts, err := q.s.cfg.Store.QueryUsage(q.ctx, auth.UsageFilter{UsageSubject: subject, Granularity: q.g, From: q.from, To: q.to})
	if err != nil {
		return nil, fmt.Errorf("dashboard: query usage: %w", err)
	}
	return pts, nil
}

// forOwners returns the points of subject for each owner, concatenated
// (usageChart adds points of one bucket and outcome), or for every
// subject when owners is nil.
func (q usageQuery) forOwners(subject auth.UsageSubject, owners []string) ([]auth.UsagePoint, error) {
	if owners == nil {
		return q.points(subject)
	}
	var all []auth.UsagePoint
	for _, o := range owners {
		subject.Owner = o
		pts, err := q.points(subject)
		if err != nil {
			return nil, err
		}
		all = append(all, pts...)
	}
	return all, nil
}

// keyChart is the verifications by outcome. For an admin it counts every
// subject the store holds (API keys, and also token requests and the
// gateway's token checks: the store's filter cannot keep keys only); for
// a developer, the keys of their owners, which are the only subjects
// counted under an owner.
func (s *Server) keyChart(q usageQuery, owners []string) (*Chart, error) {
	pts, err := q.forOwners(auth.UsageSubject{}, owners)
	if err != nil {
		return nil, err
	}
	title := "Verifications by outcome"
	if owners != nil {
		title = "Verifications of your keys by outcome"
	}
	return usageChart("verifications", title, q.g, q.from, q.s.now(), pts), nil
}

// top returns the busiest subjects of a kind in the range, of the
// owners' counts only when owners is not nil.
func (q usageQuery) top(by string, owners []string, limit int) ([]auth.UsageTotal, error) {
	tops, err := q.s.cfg.Store.TopUsage(q.ctx, auth.UsageTopFilter{By: by, Owners: owners, Granularity: q.g, From: q.from, To: q.to, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("dashboard: top usage by %s: %w", by, err)
	}
	return tops, nil
}

// tokenChart is the token requests by client, of the busiest clients the
// viewer may see. Token counts carry no owner, so a developer's are
// those of their owners' clients, listed.
func (s *Server) tokenChart(q usageQuery, owners []string) (*Chart, error) {
	var clients []*auth.Client
	if owners != nil {
		var err error
		if clients, _, err = s.cfg.Clients.List(q.ctx, auth.ClientFilter{Owners: owners, Limit: maxOverviewSubjects}); err != nil {
			return nil, fmt.Errorf("dashboard: list clients: %w", err)
		}
	} else {
		tops, err := q.top(auth.UsageByClient, nil, maxOverviewSubjects)
		if err != nil {
			return nil, err
		}
		for _, t := range tops {
			c, err := s.cfg.Clients.Get(q.ctx, t.Subject)
			if auth.ErrorCode(err) == auth.ENOTFOUND {
				continue // deleted, or a client ID nobody registered
			}
			if err != nil {
				return nil, fmt.Errorf("dashboard: read client: %w", err)
			}
			clients = append(clients, c)
		}
	}
	var named []namedPoints
	for _, c := range clients {
		if c.ID == ClientID {
			continue // the dashboard's own sign-ins are not the API's traffic
		}
		pts, err := q.points(auth.UsageSubject{ClientID: c.ID})
		if err != nil {
			return nil, err
		}
		named = append(named, namedPoints{name: cmp.Or(c.Name, c.ID), points: pts})
	}
	if len(named) == 0 {
		return nil, nil
	}
	return namedChart("tokens", "Token requests by client", q.g, q.from, q.s.now(), named), nil
}

// gatewayChart is the gateway's requests by route, and each route's
// requests by outcome, of the busiest routes. A developer sees their
// keys' requests only.
func (s *Server) gatewayChart(q usageQuery, owners []string) (*Chart, []routeTraffic, error) {
	tops, err := q.top(auth.UsageByRoute, owners, maxOverviewSubjects)
	if err != nil {
		return nil, nil, err
	}
	var named []namedPoints
	var rows []routeTraffic
	for _, t := range tops {
		pts, err := q.forOwners(auth.UsageSubject{Route: t.Subject}, owners)
		if err != nil {
			return nil, nil, err
		}
		named = append(named, namedPoints{name: t.Subject, points: pts})
		row := routeTraffic{Route: t.Subject}
		row.Outcomes, row.Total = byOutcome(pts)
		rows = append(rows, row)
	}
	if len(named) == 0 {
		return nil, nil, nil
	}
	return namedChart("gateway", "Gateway requests by route", q.g, q.from, q.s.now(), named), rows, nil
}

// topKeys lists the busiest keys the viewer may see, with their refusals.
func (s *Server) topKeys(q usageQuery, owners []string, v *viewer, d *overviewData) error {
	tops, err := q.top(auth.UsageByKey, owners, topKeysShown)
	if err != nil {
		return err
	}
	for _, t := range tops {
		k, err := s.cfg.Keys.Get(q.ctx, t.Subject)
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			continue
		}
		if err != nil {
			return err
		}
		if !v.owns(k.Owner) {
			continue // counted under an owner the key no longer has
		}
		pts, err := q.points(auth.UsageSubject{KeyID: k.ID})
		if err != nil {
			return err
		}
		kt := keyTraffic{Key: k}
		kt.Outcomes, kt.Total = byOutcome(pts)
		for _, o := range kt.Outcomes {
			if o.Outcome != "VALID" {
				kt.Refused += o.Count
			}
		}
		d.TopKeys = append(d.TopKeys, kt)
	}
	return nil
}

// byOutcome totals points by outcome, the most frequent first.
func byOutcome(pts []auth.UsagePoint) ([]outcomeCount, int64) {
	sums := map[string]int64{}
	var total int64
	for _, p := range pts {
		sums[p.Outcome] += p.Count
		total += p.Count
	}
	out := make([]outcomeCount, 0, len(sums))
	for o, n := range sums {
		out = append(out, outcomeCount{Outcome: o, Count: n, Class: outcomeClass(o)})
	}
	slices.SortFunc(out, func(a, b outcomeCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Outcome, b.Outcome))
	})
	return out, total
}

// namedPoints are the usage points of one named subject.
type namedPoints struct {
	name   string
	points []auth.UsagePoint
}

// namedChart charts subjects (clients, routes) as series, every outcome
// summed: the busiest first, those past maxChartSeries-1 summed into one,
// subjects with nothing recorded left out.
func namedChart(id, title string, g auth.Granularity, from, to time.Time, subjects []namedPoints) *Chart {
	out := usageChart(id, title, g, from, to, nil)
	type ranked struct {
		name   string
		values []int64
		total  int64
	}
	var all []ranked
	for _, sp := range subjects {
		rk := ranked{name: sp.name, values: make([]int64, len(out.Labels))}
		for _, s := range usageChart(id, title, g, from, to, sp.points).Series {
			for j, n := range s.Values {
				rk.values[j] += n
				rk.total += n
			}
		}
		if rk.total > 0 {
			all = append(all, rk)
		}
	}
	slices.SortStableFunc(all, func(a, b ranked) int { return cmp.Compare(b.total, a.total) })
	if len(all) > maxChartSeries {
		rest := all[maxChartSeries-1:]
		other := ranked{name: strconv.Itoa(len(rest)) + " others", values: make([]int64, len(out.Labels))}
		for _, rk := range rest {
			for j, n := range rk.values {
				other.values[j] += n
			}
			other.total += rk.total
		}
		all = append(all[:maxChartSeries-1], other)
	}
	for i, rk := range all {
		out.Series = append(out.Series, ChartSeries{Name: rk.name, Class: "c" + strconv.Itoa(i), Values: rk.values})
		out.Totals = append(out.Totals, rk.total)
	}
	return out
}

// recentSecurityEvents returns the newest security events of the last
// securityWindow, newest first: the newest of each type, merged. A
// developer sees only the events of their owners' keys.
func (s *Server) recentSecurityEvents(ctx context.Context, v *viewer, now time.Time) ([]auth.AuditEvent, error) {
	owned := map[string]bool{} // key IDs looked up, across types
	var all []auth.AuditEvent
	for _, typ := range securityEvents {
		f := auth.AuditFilter{Type: typ, Since: now.Add(-securityWindow), Limit: eventsShown, Newest: true}
		pages := 1
		if !v.admin() {
			f.Limit, pages = eventsScanPage, eventsScanPages
		}
		var found []auth.AuditEvent
		for range pages {
			events, next, err := s.cfg.Store.ListAuditEvents(ctx, f)
			if err != nil {
				return nil, fmt.Errorf("dashboard: list audit events: %w", err)
			}
			if !v.admin() {
				if events, err = s.ownEvents(ctx, v, owned, events); err != nil {
					return nil, err
				}
			}
			found = append(found, events...)
			if len(found) >= eventsShown || next == 0 {
				break
			}
			f.After = next
		}
		all = append(all, found...)
	}
	slices.SortFunc(all, func(a, b auth.AuditEvent) int { return cmp.Compare(b.ID, a.ID) })
	if len(all) > eventsShown {
		all = all[:eventsShown]
	}
	return all, nil
}

// ownEvents keeps the events about keys of the viewer's owners, in order.
// owned caches whether each key looked up is the viewer's, so a key is
// fetched once however many events it has.
func (s *Server) ownEvents(ctx context.Context, v *viewer, owned map[string]bool, events []auth.AuditEvent) ([]auth.AuditEvent, error) {
	var out []auth.AuditEvent
	for _, e := range events {
		if e.KeyID == "" {
			continue
		}
		mine, seen := owned[e.KeyID]
		if !seen {
			k, err := s.cfg.Keys.Get(ctx, e.KeyID)
			switch {
			case auth.ErrorCode(err) == auth.ENOTFOUND:
			case err != nil:
				return nil, fmt.Errorf("dashboard: key of a security event: %w", err)
			default:
				mine = v.owns(k.Owner)
			}
			owned[e.KeyID] = mine
		}
		if mine {
			out = append(out, e)
		}
	}
	return out, nil
}
