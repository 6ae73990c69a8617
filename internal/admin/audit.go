package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// handleListAuditEvents serves GET /admin/v1/audit-events, oldest first.
func (s *Server) handleListAuditEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r, "key_id", "type", "actor", "target", "since", "until", "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := pageLimit(q)
	if err != nil {
		return err
	}
	f := auth.AuditFilter{KeyID: q.Get("key_id"), Type: q.Get("type"), Actor: q.Get("actor"), Target: q.Get("target"), Limit: limit}
	if f.Since, err = usageTime("since", q.Get("since"), time.Time{}); err != nil {
		return err
	}
	if f.Until, err = usageTime("until", q.Get("until"), time.Time{}); err != nil {
		return err
	}
	if c := q.Get("cursor"); c != "" {
		// The cursor is the store's event ID, opaque to callers but checked
		// here so that a mangled one is a 400, not a surprise.
		after, err := strconv.ParseInt(c, 10, 64)
		if err != nil || after < 1 {
			return auth.Errorf(auth.EINVALID, "The query parameter \"cursor\" is not a cursor this API returned.")
		}
		f.After = after
	}
	events, next, err := s.audit.ListAuditEvents(r.Context(), f)
	if err != nil {
		return fmt.Errorf("admin: list audit events: %w", err)
	}
	out := AuditEventList{Items: make([]AuditEvent, 0, len(events))}
	if next != 0 {
		out.NextCursor = strconv.FormatInt(next, 10)
	}
	for _, e := range events {
		out.Items = append(out.Items, AuditEventFromRecord(e))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
