package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// insertEvents appends events inside tx. The store assigns the IDs; Count
// and the other fields are stored as given. The events that map to webhook
// events go to the webhook outbox in the same transaction, so a webhook is
// sent if and only if its change was committed.
func insertEvents(ctx context.Context, tx *sql.Tx, events []auth.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events
		(occurred_at, type, actor, key_id, reason, count, details, target) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, e := range events {
		details, err := mapJSON(e.Details)
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, timeValue(e.Time), e.Type, e.Actor, e.KeyID, e.Reason, e.Count, details, e.Target()); err != nil {
			return err
		}
	}
	return insertOutbox(ctx, tx, events)
}

// AppendAuditEvents appends events in one transaction. EINVALID if an event
// holds text no backend can store (NUL characters, invalid UTF-8).
func (db *DB) AppendAuditEvents(ctx context.Context, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	return db.inTx(ctx, "append audit events", func(tx *sql.Tx) error {
		return insertEvents(ctx, tx, events)
	})
}

// ListAuditEvents returns one page of events in ascending ID order (or
// descending with f.Newest) and the cursor of the next page, 0 on the last
// page. A Limit of zero or less means 100; Limit is capped at
// auth.MaxPageSize. EINVALID for a filter
// auth.CheckAuditFilter refuses. An event stored without a time matches
// no Since or Until bound.
func (db *DB) ListAuditEvents(ctx context.Context, f auth.AuditFilter) ([]auth.AuditEvent, int64, error) {
	if err := auth.CheckAuditFilter(f); err != nil {
		return nil, 0, err
	}
	limit := auth.PageSize(f.Limit)
	where, args, order := []string{"id > ?"}, []any{f.After}, "ASC"
	if f.Newest {
		where, args, order = []string{"id < ?"}, []any{f.Before()}, "DESC"
	}
	for _, c := range []struct{ column, value string }{
		{"key_id", f.KeyID}, {"type", f.Type}, {"actor", f.Actor}, {"target", f.Target},
	} {
		if c.value != "" {
			where = append(where, c.column+" = ?")
			args = append(args, c.value)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "occurred_at >= ?")
		args = append(args, auth.CeilMicro(f.Since).UnixMicro())
	}
	if !f.Until.IsZero() {
		where = append(where, "occurred_at < ?")
		args = append(args, auth.CeilMicro(f.Until).UnixMicro())
	}
	args = append(args, limit+1) // one more tells whether a next page exists
	rows, err := db.read.QueryContext(ctx, `SELECT id, occurred_at, type, actor, key_id, reason, count, details
		FROM audit_events WHERE `+strings.Join(where, " AND ")+` ORDER BY id `+order+` LIMIT ?`, args...)
	if err != nil {
		return nil, 0, translate("list audit events", err)
	}
	defer rows.Close()
	events := make([]auth.AuditEvent, 0, min(limit, 64))
	for rows.Next() {
		var (
			e       auth.AuditEvent
			when    sql.NullInt64
			details string
		)
		if err := rows.Scan(&e.ID, &when, &e.Type, &e.Actor, &e.KeyID, &e.Reason, &e.Count, &details); err != nil {
			return nil, 0, translate("list audit events", err)
		}
		e.Time = timeFrom(when)
		if e.Details, err = mapFrom(details); err != nil {
			return nil, 0, translate("list audit events", err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, translate("list audit events", err)
	}
	events, next := auth.Page(events, limit, func(x auth.AuditEvent) int64 { return x.ID })
	return events, next, nil
}
