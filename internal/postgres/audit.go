package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// appendEvents appends events inside tx, in two round trips, with the
// webhook outbox rows they map to (see auth.WebhookOutbox). The store
// assigns the IDs; Count and the other fields are stored as given.
//
// An identity column hands out IDs in insertion order, but concurrent
// transactions may commit out of that order, and a reader paging with
// After would then skip an event committed late with a lower ID. The
// table lock (which conflicts with itself and with inserts, not with
// reads) makes writers of the audit log take turns from their first insert
// to their commit, so IDs become visible in increasing order. Every writer
// appends its events last, just before committing, so the lock is held
// briefly and never while waiting for another lock.
func appendEvents(ctx context.Context, tx pgx.Tx, events []auth.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	// The lock is its own round trip, ahead of the batch: pgx parses every
	// statement of a batch before executing the first, and parsing an
	// INSERT already takes a ROW EXCLUSIVE lock on the table, so two
	// writers with LOCK TABLE inside their batches would deadlock.
	if _, err := tx.Exec(ctx, `LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for _, e := range events {
		details, err := mapJSON(e.Details)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO audit_events (occurred_at, type, actor, key_id, reason, count, details, target)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			timeValue(e.Time), e.Type, e.Actor, e.KeyID, e.Reason, e.Count, details, e.Target())
	}
	// The webhook events of these audit events go to the outbox in the
	// same batch, so they commit with the change or not at all. The outbox
	// is never read by ID order, so it needs no lock of its own.
	outbox, err := auth.WebhookOutbox(events)
	if err != nil {
		return err
	}
	for _, ev := range outbox {
		b.Queue(`INSERT INTO webhook_outbox (id, type, occurred_at, data) VALUES ($1, $2, $3, $4)`,
			ev.ID, ev.Type, timeValue(ev.Time), ev.Data)
	}
	return tx.SendBatch(ctx, b).Close()
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
	return db.inTx(ctx, "append audit events", func(tx pgx.Tx) error {
		return appendEvents(ctx, tx, events)
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
	var (
		where []string
		args  []any
	)
	cond := func(format string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(format, len(args)))
	}
	order := "ASC"
	if f.Newest {
		order = "DESC"
		cond("id < $%d", f.Before())
	} else {
		cond("id > $%d", f.After)
	}
	for _, c := range []struct{ column, value string }{
		{"key_id", f.KeyID}, {"type", f.Type}, {"actor", f.Actor}, {"target", f.Target},
	} {
		if c.value != "" {
			cond(c.column+" = $%d", c.value)
		}
	}
	// pgx truncates times to microseconds; rounding these bounds up keeps
	// Since <= Time < Until exact for bounds with nanoseconds.
	if !f.Since.IsZero() {
		cond("occurred_at >= $%d", auth.CeilMicro(f.Since))
	}
	if !f.Until.IsZero() {
		cond("occurred_at < $%d", auth.CeilMicro(f.Until))
	}
	args = append(args, limit+1) // one more tells whether a next page exists
	rows, err := db.pool.Query(ctx, fmt.Sprintf(`SELECT id, occurred_at, type, actor, key_id, reason, count, details
		FROM audit_events WHERE %s ORDER BY id %s LIMIT $%d`, strings.Join(where, " AND "), order, len(args)), args...)
	if err != nil {
		return nil, 0, translate("list audit events", err)
	}
	defer rows.Close()
	events := make([]auth.AuditEvent, 0, min(limit, 64))
	for rows.Next() {
		var (
			e       auth.AuditEvent
			when    pgtype.Timestamptz
			details []byte
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
