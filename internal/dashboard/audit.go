package dashboard

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func (s *Server) auditPages() []page {
	return []page{
		{"GET /dashboard/audit", adminOnly, s.handleAuditLog},
		{"GET /dashboard/audit/export", adminOnly, s.handleAuditExport},
	}
}

// auditLogTypes are the types offered by the type filter: every one
// Gatehouse records. (The filter takes any other too, by URL.)
var auditLogTypes = func() []string {
	l := []string{
		auth.EventKeyCreated, auth.EventKeyRotated, auth.EventKeyRevoked, auth.EventKeyExpired,
		auth.EventKeyVerificationFailed, auth.EventKeyUpdated, auth.EventKeyLeaked, auth.EventKeyUsageExceeded,
		auth.EventClientCreated, auth.EventClientUpdated, auth.EventClientSecretRotated, auth.EventClientDeleted,
		auth.EventUserCreated, auth.EventUserUpdated, auth.EventUserDisabled, auth.EventUserPasswordReset,
		account.EventLoginThrottled,
		auth.EventSigningKeyCreated, auth.EventSigningKeyRetired,
		auth.EventConsentGranted, auth.EventConsentRevoked, auth.EventTokenRevoked, auth.EventFamilyRevoked,
		auth.EventRouteCreated, auth.EventRouteUpdated, auth.EventRouteDeleted,
		auth.EventWebhookCreated, auth.EventWebhookUpdated, auth.EventWebhookDeleted,
		auth.EventWebhookSecretRotated, auth.EventWebhookDisabled, auth.EventWebhookDeliveryRetried,
		auth.EventRegistrationTokenCreated, auth.EventRegistrationTokenRevoked,
	}
	slices.Sort(l)
	return l
}()

// Audit list sizes: a page of the table, and a page read from the store
// while exporting (the store's maximum: the export holds one page at a
// time, whatever the log's size).
const (
	auditLogPageSize    = 50
	auditExportPageSize = auth.MaxPageSize
)

// auditLogTimeLayouts are what a datetime-local input sends (with or
// without seconds), read as UTC.
var auditLogTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

// auditLogQuery is the filter as the form holds it, and the store's filter.
type auditLogQuery struct {
	Actor, Type, Target, Since, Until string
	filter                            auth.AuditFilter
}

// readAuditLogQuery reads the filters shared by the page and the export.
// EINVALID for a time or cursor that is not one.
func readAuditLogQuery(q url.Values) (auditLogQuery, error) {
	a := auditLogQuery{
		Actor: strings.TrimSpace(q.Get("actor")), Type: strings.TrimSpace(q.Get("type")),
		Target: strings.TrimSpace(q.Get("target")), Since: q.Get("since"), Until: q.Get("until"),
	}
	a.filter = auth.AuditFilter{Actor: a.Actor, Type: a.Type, Target: a.Target}
	var err error
	if a.filter.Since, err = auditLogTime("since", a.Since); err != nil {
		return a, err
	}
	if a.filter.Until, err = auditLogTime("until", a.Until); err != nil {
		return a, err
	}
	if c := q.Get("cursor"); c != "" {
		after, err := strconv.ParseInt(c, 10, 64)
		if err != nil || after < 1 {
			return a, auth.Errorf(auth.EINVALID, "That page of the audit log does not exist.")
		}
		a.filter.After = after
	}
	if err := auth.CheckAuditFilter(a.filter); err != nil {
		return a, err
	}
	return a, nil
}

func auditLogTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range auditLogTimeLayouts {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, auth.Errorf(auth.EINVALID, "The %q time %q is not a date and time like 2026-12-07T09:30 (UTC).", name, v)
}

// values is the query of the filters, for the export link and the pager.
func (a auditLogQuery) values() url.Values {
	v := url.Values{}
	for _, p := range [][2]string{{"actor", a.Actor}, {"type", a.Type}, {"target", a.Target}, {"since", a.Since}, {"until", a.Until}} {
		if p[1] != "" {
			v.Set(p[0], p[1])
		}
	}
	return v
}

// auditLogRow is an event as the table shows it.
type auditLogRow struct {
	auth.AuditEvent
	Target  string
	Details []auditLogDetail
}

type auditLogDetail struct{ Key, Value string }

func auditLogRowOf(e auth.AuditEvent) auditLogRow {
	r := auditLogRow{AuditEvent: e, Target: e.Target()}
	for _, k := range slices.Sorted(maps.Keys(e.Details)) {
		r.Details = append(r.Details, auditLogDetail{k, e.Details[k]})
	}
	return r
}

// auditLogData is the audit page.
type auditLogData struct {
	Query        auditLogQuery
	Types        []string
	Events       []auditLogRow
	Next         string // the next page's URL
	CSV, JSONL   string // the export's URLs
	Error, Field string
}

func (s *Server) handleAuditLog(w http.ResponseWriter, r *http.Request, v *viewer) {
	q, err := readAuditLogQuery(r.URL.Query())
	d := auditLogData{Query: q, Types: auditLogTypes}
	if q.Type != "" && !slices.Contains(d.Types, q.Type) {
		// A type given by URL stays selected, so the form says what is shown.
		d.Types = append(slices.Clone(d.Types), q.Type)
	}
	if err != nil {
		if auth.ErrorCode(err) != auth.EINVALID {
			s.fail(w, r, err)
			return
		}
		d.Error = auth.ErrorMessage(err)
		switch {
		case strings.Contains(d.Error, `"since"`):
			d.Field = "since"
		case strings.Contains(d.Error, `"until"`):
			d.Field = "until"
		}
		s.show(w, r, v, http.StatusBadRequest, "audit.html", &view{Title: "Audit log", Nav: "audit", Data: d})
		return
	}
	// People open the log for what just happened, so the page lists newest
	// first (its cursor going down); the export keeps the log's order.
	f := q.filter
	f.Limit, f.Newest = auditLogPageSize, true
	events, next, err := s.cfg.Store.ListAuditEvents(r.Context(), f)
	if err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: list audit events: %w", err))
		return
	}
	for _, e := range events {
		d.Events = append(d.Events, auditLogRowOf(e))
	}
	vals := q.values()
	if next != 0 {
		nv := q.values()
		nv.Set("cursor", strconv.FormatInt(next, 10))
		d.Next = "/dashboard/audit?" + nv.Encode()
	}
	vals.Set("format", "csv")
	d.CSV = "/dashboard/audit/export?" + vals.Encode()
	vals.Set("format", "jsonl")
	d.JSONL = "/dashboard/audit/export?" + vals.Encode()
	s.show(w, r, v, http.StatusOK, "audit.html", &view{Title: "Audit log", Nav: "audit", Data: d})
}

// auditExportWriter writes events in one export format.
type auditExportWriter interface {
	write(e auth.AuditEvent) error
	flush() error
}

// handleAuditExport streams every event the filters keep, a store page at
// a time, as JSON lines (each the admin API's event) or CSV. The log is
// never held whole; a failure once the body has started aborts the
// response, so a cut-off file cannot pass for a complete one.
func (s *Server) handleAuditExport(w http.ResponseWriter, r *http.Request, v *viewer) {
	q, err := readAuditLogQuery(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out auditExportWriter
	format := r.URL.Query().Get("format")
	h := w.Header()
	switch format {
	case "jsonl":
		h.Set("Content-Type", "application/x-ndjson")
		out = &auditExportJSONL{enc: json.NewEncoder(w)}
	case "csv":
		h.Set("Content-Type", "text/csv; charset=utf-8")
		out = newAuditExportCSV(w)
	default:
		s.fail(w, r, auth.Errorf(auth.EINVALID, "The export format must be jsonl or csv."))
		return
	}
	name := "gatehouse-audit-" + s.now().UTC().Format("20060102T150405Z") + "." + format
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	if err := s.exportAudit(w, r, q.filter, out); err != nil {
		s.logger.ErrorContext(r.Context(), "dashboard: audit export cut short", "err", err)
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request, f auth.AuditFilter, out auditExportWriter) error {
	f.Limit = auditExportPageSize
	rc := http.NewResponseController(w)
	for {
		events, next, err := s.cfg.Store.ListAuditEvents(r.Context(), f)
		if err != nil {
			return fmt.Errorf("list audit events: %w", err)
		}
		for _, e := range events {
			if err := out.write(e); err != nil {
				return err
			}
		}
		if err := out.flush(); err != nil {
			return err
		}
		// Each page goes to the browser as it is read.
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if next == 0 {
			return nil
		}
		f.After = next
	}
}

// auditExportJSONL writes each event as one line of the admin API's JSON.
type auditExportJSONL struct{ enc *json.Encoder }

func (j *auditExportJSONL) write(e auth.AuditEvent) error {
	return j.enc.Encode(admin.AuditEventFromRecord(e))
}
func (j *auditExportJSONL) flush() error { return nil }

// auditExportCSVHeader are the export's CSV columns.
var auditExportCSVHeader = []string{"id", "time", "type", "actor", "target", "key_id", "reason", "count", "details"}

type auditExportCSV struct {
	w      *csv.Writer
	header bool
}

func newAuditExportCSV(w io.Writer) *auditExportCSV { return &auditExportCSV{w: csv.NewWriter(w)} }

func (c *auditExportCSV) write(e auth.AuditEvent) error {
	if !c.header {
		c.header = true
		if err := c.w.Write(auditExportCSVHeader); err != nil {
			return err
		}
	}
	wire := admin.AuditEventFromRecord(e)
	details, err := json.Marshal(wire.Details)
	if err != nil {
		return fmt.Errorf("encode details: %w", err)
	}
	return c.w.Write([]string{
		strconv.FormatInt(wire.ID, 10),
		wire.Time.Format(time.RFC3339Nano),
		auditCSVCell(wire.Type), auditCSVCell(wire.Actor), auditCSVCell(e.Target()), auditCSVCell(wire.KeyID), auditCSVCell(wire.Reason),
		strconv.FormatInt(wire.Count, 10),
		auditCSVCell(string(details)),
	})
}

// flush writes the header of an empty export too.
func (c *auditExportCSV) flush() error {
	if !c.header {
		c.header = true
		if err := c.w.Write(auditExportCSVHeader); err != nil {
			return err
		}
	}
	c.w.Flush()
	return c.w.Error()
}

// auditCSVCell neutralises a cell a spreadsheet would run as a formula (CSV
// injection, OWASP): one starting with = + - @, a tab or a carriage
// return gets a leading apostrophe, which spreadsheets show as text.
func auditCSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
