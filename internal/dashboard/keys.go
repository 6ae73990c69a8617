package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The API key pages: the list, a key's page, and the forms that create,
// edit, rotate and revoke keys (keys_form.go, keys_actions.go). Every
// change goes through apikey.Service, as the admin API's does, with the
// signed-in user as the audit actor. A developer sees only the keys of
// their owners; another owner's key is a 404 on every path, as a missing
// one is.

func (s *Server) keysPages() []page {
	return []page{
		{"GET /dashboard/keys", signedIn, s.handleKeyList},
		{"POST /dashboard/keys", signedIn, s.handleKeyCreate},
		{"GET /dashboard/keys/new", signedIn, s.handleKeyNew},
		{"GET /dashboard/keys/{id}", signedIn, s.handleKeyDetail},
		{"GET /dashboard/keys/{id}/edit", signedIn, s.handleKeyEditForm},
		{"POST /dashboard/keys/{id}/edit", signedIn, s.handleKeyEdit},
		{"GET /dashboard/keys/{id}/rotate", signedIn, s.handleKeyRotateForm},
		{"POST /dashboard/keys/{id}/rotate", signedIn, s.handleKeyRotate},
		{"GET /dashboard/keys/{id}/revoke", signedIn, s.handleKeyRevokeForm},
		{"POST /dashboard/keys/{id}/revoke", signedIn, s.handleKeyRevoke},
	}
}

// keyPageSize is the length of a page of the key list.
const keyPageSize = 50

// keyPath is the dashboard page of the key with that ID.
func keyPath(id string) string { return "/dashboard/keys/" + url.PathEscape(id) }

// viewKey returns the key named by the request's path if the viewer may
// see it; another owner's key is hidden as a missing one is.
func (s *Server) viewKey(r *http.Request, v *viewer) (*auth.APIKey, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	k, err := s.cfg.Keys.Get(r.Context(), id)
	if auth.ErrorCode(err) == auth.ENOTFOUND || (err == nil && !v.owns(k.Owner)) {
		return nil, hidden("key")
	}
	if err != nil {
		return nil, fmt.Errorf("dashboard: read key: %w", err)
	}
	return k, nil
}

// keyRow is a key as the pages show it, its state read at one instant.
type keyRow struct {
	*auth.APIKey
	Path        string
	State       string // auth.KeyActive, ...
	Env         string
	RotationDue bool
}

func newKeyRow(k *auth.APIKey, now time.Time) keyRow {
	return keyRow{APIKey: k, Path: keyPath(k.ID), State: k.Status(now), Env: k.Environment(), RotationDue: k.RotationDue(now)}
}

// keyListData is the list page's content.
type keyListData struct {
	Query        string // the search, as typed
	Owner        string
	Status       string
	Env          string
	Due          bool
	OwnerChoices []string // a developer's owners; nil for admins (free text)
	Statuses     []string
	Envs         []string
	Keys         []keyRow
	Next         string // the next page's URL, "" on the last page
	Filtered     bool   // any filter is set (the empty list says so)
	NoOwners     bool   // a developer without owners: nothing to list
}

// handleKeyList serves GET /dashboard/keys: one page of the keys the
// viewer may see, filtered in the store (by its indexes), in creation
// order, with a link to the next page that keeps the filters.
func (s *Server) handleKeyList(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := r.URL.Query()
	d := &keyListData{
		Query: strings.TrimSpace(q.Get("q")), Owner: q.Get("owner"), Status: q.Get("status"), Env: q.Get("env"),
		Due:      q.Get("due") != "",
		Statuses: []string{auth.KeyActive, auth.KeyRotating, auth.KeyExpired, auth.KeyRevoked},
		Envs:     auth.KeyEnvironments,
	}
	d.Filtered = d.Query != "" || d.Owner != "" || d.Status != "" || d.Env != "" || d.Due
	now := s.now()
	f := auth.APIKeyFilter{
		Owner: d.Owner, Search: d.Query, Status: d.Status, Environment: d.Env,
		After: q.Get("after"), Limit: keyPageSize,
	}
	if d.Status != "" {
		f.At = now
	}
	if d.Due {
		f.RotationDueBy = now
	}
	query := true
	if !v.admin() {
		d.OwnerChoices = v.user.Owners
		d.NoOwners = len(v.user.Owners) == 0
		// An empty Owners means every owner to the store: a developer
		// without owners, or asking for an owner not theirs, sees
		// nothing, without asking it.
		query = !d.NoOwners && (d.Owner == "" || v.owns(d.Owner))
		f.Owners = v.user.Owners
	}
	if query {
		keys, next, err := s.cfg.Keys.List(r.Context(), f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, k := range keys {
			d.Keys = append(d.Keys, newKeyRow(k, now))
		}
		if next != "" {
			u := *r.URL
			qq := u.Query()
			qq.Set("after", next)
			u.RawQuery = qq.Encode()
			d.Next = u.RequestURI()
		}
	}
	s.show(w, r, v, http.StatusOK, "keys.html", &view{Title: "API keys", Nav: "keys", Data: d})
}

// usageRanges are the periods a key's usage chart covers: the width of its
// buckets keeps each under 200 bars (minutes would be 1,440 for a day).
var usageRanges = []usageRange{
	{"24h", "24 hours", 24 * time.Hour, auth.GranularityHour},
	{"7d", "7 days", 7 * 24 * time.Hour, auth.GranularityHour},
	{"30d", "30 days", 30 * 24 * time.Hour, auth.GranularityDay},
}

// usageRange is one period a usage chart may cover.
type usageRange struct {
	Name  string // the value of ?range=
	Label string
	Span  time.Duration
	Gran  auth.Granularity
}

// keyAuditLimit is how much of a key's audit trail its page shows, newest
// first so its latest changes (a revocation) are never cut off; the audit
// log has the rest.
const keyAuditLimit = 50

// rangeTab is one tab of the usage chart.
type rangeTab struct {
	Label   string
	URL     string
	Current bool
}

// keyDetailData is a key's page's content.
type keyDetailData struct {
	Key        keyRow
	RateLimit  string
	AllowedIPs []string
	Tabs       []rangeTab
	Chart      *Chart
	Audit      []auth.AuditEvent
	Actors     map[string]string // user IDs among the actors, by username
	AuditMore  bool              // the trail goes on beyond Audit
	AuditURL   string            // the key's events in the audit log, linked for admins only (the page is admin-only)
	Changeable bool              // neither revoked nor expired: edit and rotate apply
}

// handleKeyDetail serves GET /dashboard/keys/{id}: every attribute, the
// usage chart of the chosen range (?range=24h|7d|30d) and the start of
// the audit trail.
func (s *Server) handleKeyDetail(w http.ResponseWriter, r *http.Request, v *viewer) {
	k, err := s.viewKey(r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.now()
	d := &keyDetailData{
		Key: newKeyRow(k, now), RateLimit: formatRateLimit(k.RateLimit), AllowedIPs: auth.FormatAllowedIPs(k.AllowedIPs),
		AuditURL: "/dashboard/audit?target=" + url.QueryEscape(k.ID),
	}
	d.Changeable = d.Key.State == auth.KeyActive || d.Key.State == auth.KeyRotating
	chosen := r.URL.Query().Get("range")
	i := slices.IndexFunc(usageRanges, func(u usageRange) bool { return u.Name == chosen })
	if i < 0 {
		i = 0
	}
	for j, u := range usageRanges {
		d.Tabs = append(d.Tabs, rangeTab{Label: u.Label, URL: d.Key.Path + "?range=" + u.Name, Current: j == i})
	}
	rg := usageRanges[i]
	if d.Chart, err = s.keyUsage(r.Context(), k.ID, rg.Gran, rg.Span, rg.Label, now); err != nil {
		s.fail(w, r, err)
		return
	}
	events, next, err := s.cfg.Store.ListAuditEvents(r.Context(), auth.AuditFilter{KeyID: k.ID, Limit: keyAuditLimit, Newest: true})
	if err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: key audit trail: %w", err))
		return
	}
	d.Audit, d.AuditMore = events, next != 0
	d.Actors = s.actorNames(r.Context(), events)
	s.show(w, r, v, http.StatusOK, "key.html", &view{Title: keyTitle(k), Nav: "keys", Data: d})
}

// keyUsage charts the key's verifications by outcome over the span that
// ends with the current bucket.
func (s *Server) keyUsage(ctx context.Context, id string, g auth.Granularity, span time.Duration, label string, now time.Time) (*Chart, error) {
	to := g.Floor(now).Add(g.Step())
	from := to.Add(-span)
	pts, err := s.cfg.Store.QueryUsage(ctx, auth.UsageFilter{
		UsageSubject: auth.UsageSubject{KeyID: id}, Granularity: g, From: from, To: to,
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: key usage: %w", err)
	}
	return usageChart("key-usage", "Verifications in the last "+label, g, from, to, pts), nil
}

// actorNames finds the usernames of the users among the events' actors,
// so the trail reads "alice" rather than an ID. A user since deleted keeps
// being shown by ID.
func (s *Server) actorNames(ctx context.Context, events []auth.AuditEvent) map[string]string {
	names := map[string]string{}
	for _, e := range events {
		if _, seen := names[e.Actor]; seen || !strings.HasPrefix(e.Actor, account.IDPrefix) {
			continue
		}
		names[e.Actor] = ""
		if u, err := s.cfg.Users.Get(ctx, e.Actor); err == nil {
			names[e.Actor] = u.Username
		}
	}
	return names
}

// keyTitle names a key in headings: its name, or its ID without one.
func keyTitle(k *auth.APIKey) string {
	if k.Name != "" {
		return k.Name
	}
	return k.ID
}

// formatRateLimit writes a limit as the forms take it: "100/s", "" for none.
func formatRateLimit(l auth.RateLimit) string {
	if l.Unlimited() {
		return ""
	}
	return formatFloat(l.Rate) + "/s"
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
