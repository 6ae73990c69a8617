package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.WebhookStore = (*DB)(nil)

// insertOutbox writes the webhook events of events (see auth.WebhookOutbox)
// inside tx. Most writes append no such event and cost one type switch.
func insertOutbox(ctx context.Context, tx *sql.Tx, events []auth.AuditEvent) error {
	out, err := auth.WebhookOutbox(events)
	if err != nil || len(out) == 0 {
		return err
	}
	for _, ev := range out {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_outbox (id, type, occurred_at, data)
			VALUES (?, ?, ?, ?)`, ev.ID, ev.Type, timeValue(ev.Time), string(ev.Data)); err != nil {
			return err
		}
	}
	return nil
}

const webhookEndpointColumns = `id, url, events, description, secret, previous_secret,
	previous_secret_expires_at, disabled_at, disabled_reason, failing_since, created_at, updated_at`

func scanWebhookEndpoint(row scanner) (*auth.WebhookEndpoint, error) {
	var (
		e                                    auth.WebhookEndpoint
		events                               string
		prevExp, disabled, failing, cre, upd sql.NullInt64
	)
	if err := row.Scan(&e.ID, &e.URL, &events, &e.Description, &e.Secret, &e.PreviousSecret,
		&prevExp, &disabled, &e.DisabledReason, &failing, &cre, &upd); err != nil {
		return nil, err
	}
	var err error
	if e.Events, err = scopesFrom(events); err != nil {
		return nil, err
	}
	e.PreviousSecretExpiresAt = timeFrom(prevExp)
	e.DisabledAt = timeFrom(disabled)
	e.FailingSince = timeFrom(failing)
	e.CreatedAt, e.UpdatedAt = timeFrom(cre), timeFrom(upd)
	return &e, nil
}

func endpointNotFound() error { return auth.Errorf(auth.ENOTFOUND, "Webhook endpoint not found.") }

// CreateWebhookEndpoint inserts e and appends the events in one
// transaction. ECONFLICT if the ID exists.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, e *auth.WebhookEndpoint, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(e, events); err != nil {
		return err
	}
	evs, err := scopesJSON(e.Events)
	if err != nil {
		return translate("create webhook endpoint", err)
	}
	err = db.inTx(ctx, "create webhook endpoint", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+webhookEndpointColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.URL, evs, e.Description, e.Secret, auth.BytesOrNull(e.PreviousSecret),
			timeValue(e.PreviousSecretExpiresAt), timeValue(e.DisabledAt), e.DisabledReason,
			timeValue(e.FailingSince), timeValue(e.CreatedAt), timeValue(e.UpdatedAt)); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A webhook endpoint with this ID already exists.")
}

// GetWebhookEndpoint returns the endpoint, or ENOTFOUND.
func (db *DB) GetWebhookEndpoint(ctx context.Context, id string) (*auth.WebhookEndpoint, error) {
	e, err := scanWebhookEndpoint(db.read.QueryRowContext(ctx, `SELECT `+webhookEndpointColumns+`
		FROM webhook_endpoints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, endpointNotFound()
	}
	if err != nil {
		return nil, translate("get webhook endpoint", err)
	}
	return e, nil
}

// ListWebhookEndpoints returns every endpoint, by ID.
func (db *DB) ListWebhookEndpoints(ctx context.Context) ([]*auth.WebhookEndpoint, error) {
	return listWebhookEndpoints(ctx, db.read)
}

func listWebhookEndpoints(ctx context.Context, q querier) ([]*auth.WebhookEndpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+webhookEndpointColumns+` FROM webhook_endpoints ORDER BY id`)
	if err != nil {
		return nil, translate("list webhook endpoints", err)
	}
	defer rows.Close()
	var out []*auth.WebhookEndpoint
	for rows.Next() {
		e, err := scanWebhookEndpoint(rows)
		if err != nil {
			return nil, translate("list webhook endpoints", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list webhook endpoints", err)
	}
	return out, nil
}

// UpdateWebhookEndpoint reads the endpoint, lets update change it and
// writes it back in one transaction: the single writer connection (BEGIN
// IMMEDIATE) serializes it with every other write. ENOTFOUND if it does
// not exist.
func (db *DB) UpdateWebhookEndpoint(ctx context.Context, id string, update func(e *auth.WebhookEndpoint) ([]auth.AuditEvent, error)) (*auth.WebhookEndpoint, error) {
	var out *auth.WebhookEndpoint
	err := db.inTx(ctx, "update webhook endpoint", func(tx *sql.Tx) error {
		e, err := scanWebhookEndpoint(tx.QueryRowContext(ctx, `SELECT `+webhookEndpointColumns+`
			FROM webhook_endpoints WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return endpointNotFound()
		}
		if err != nil {
			return err
		}
		events, err := update(e)
		if err != nil {
			return err
		}
		e.ID = id
		if err := auth.CheckWrite(e, events); err != nil {
			return err
		}
		evs, err := scopesJSON(e.Events)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET url = ?, events = ?, description = ?,
			secret = ?, previous_secret = ?, previous_secret_expires_at = ?, disabled_at = ?,
			disabled_reason = ?, failing_since = ?, updated_at = ? WHERE id = ?`,
			e.URL, evs, e.Description, e.Secret, auth.BytesOrNull(e.PreviousSecret),
			timeValue(e.PreviousSecretExpiresAt), timeValue(e.DisabledAt), e.DisabledReason,
			timeValue(e.FailingSince), timeValue(e.UpdatedAt), id)
		if err := oneRow(res, err, endpointNotFound); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, events); err != nil {
			return err
		}
		// What a read returns now, at the stored precision.
		out, err = scanWebhookEndpoint(tx.QueryRowContext(ctx, `SELECT `+webhookEndpointColumns+`
			FROM webhook_endpoints WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// oneRow turns the result of a statement meant to change one row into
// notFound() when it changed none.
func oneRow(res sql.Result, err error, notFound func() error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound()
	}
	return nil
}

// DeleteWebhookEndpoint removes the endpoint and (by the foreign key's
// cascade) its deliveries, and appends the events. ENOTFOUND if it does not
// exist.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, id string, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "delete webhook endpoint", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
		if err := oneRow(res, err, endpointNotFound); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}

// SetWebhookEndpointHealth sets the failure and disabling fields of an
// enabled endpoint alone and appends the events. ENOTFOUND if it does not
// exist; ECONFLICT if it is disabled.
func (db *DB) SetWebhookEndpointHealth(ctx context.Context, id string, failingSince, disabledAt time.Time, reason string, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "set webhook endpoint health", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failing_since = ?, disabled_at = ?,
			disabled_reason = ? WHERE id = ? AND disabled_at IS NULL`, timeValue(failingSince), timeValue(disabledAt), reason, id)
		if err := oneRow(res, err, func() error { return disabledOrMissing(ctx, tx, id) }); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}

// disabledOrMissing tells why an update of an enabled endpoint changed
// nothing.
func disabledOrMissing(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhook_endpoints WHERE id = ?`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return endpointNotFound()
	case err != nil:
		return err
	}
	return auth.Errorf(auth.ECONFLICT, "The webhook endpoint is disabled.")
}

// ListWebhookOutbox returns up to limit undispatched events, oldest first.
func (db *DB) ListWebhookOutbox(ctx context.Context, limit int) ([]auth.WebhookOutboxEvent, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, type, occurred_at, data FROM webhook_outbox
		ORDER BY id LIMIT ?`, auth.PageSize(limit))
	if err != nil {
		return nil, translate("list webhook outbox", err)
	}
	defer rows.Close()
	var out []auth.WebhookOutboxEvent
	for rows.Next() {
		var (
			ev   auth.WebhookOutboxEvent
			at   sql.NullInt64
			data string
		)
		if err := rows.Scan(&ev.ID, &ev.Type, &at, &data); err != nil {
			return nil, translate("list webhook outbox", err)
		}
		ev.Time, ev.Data = timeFrom(at), []byte(data)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list webhook outbox", err)
	}
	return out, nil
}

// DispatchWebhookEvents removes the outbox events and inserts their
// deliveries in one transaction. ECONFLICT if an event is gone.
func (db *DB) DispatchWebhookEvents(ctx context.Context, eventIDs []string, deliveries []*auth.WebhookDelivery) error {
	for _, d := range deliveries {
		if err := d.CheckStorable(); err != nil {
			return err
		}
	}
	return db.inTx(ctx, "dispatch webhook events", func(tx *sql.Tx) error {
		for _, id := range eventIDs {
			res, err := tx.ExecContext(ctx, `DELETE FROM webhook_outbox WHERE id = ?`, id)
			if err := oneRow(res, err, func() error {
				return auth.Errorf(auth.ECONFLICT, "The webhook event was dispatched already.")
			}); err != nil {
				return err
			}
		}
		for _, d := range deliveries {
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (`+webhookDeliveryColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				d.ID, d.EndpointID, d.EventID, d.EventType, timeValue(d.EventTime), d.Payload, d.State,
				d.Attempts, timeValue(d.NextAttemptAt), timeValue(d.LastAttemptAt), d.StatusCode,
				d.Latency.Microseconds(), d.LastError, timeValue(d.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

const webhookDeliveryColumns = `id, endpoint_id, event_id, event_type, event_time, payload, state,
	attempts, next_attempt_at, last_attempt_at, status_code, latency_us, last_error, created_at`

func scanWebhookDelivery(row scanner) (*auth.WebhookDelivery, error) {
	var (
		d                        auth.WebhookDelivery
		evt, next, last, created sql.NullInt64
		latency                  int64
	)
	if err := row.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &evt, &d.Payload, &d.State,
		&d.Attempts, &next, &last, &d.StatusCode, &latency, &d.LastError, &created); err != nil {
		return nil, err
	}
	d.EventTime, d.NextAttemptAt, d.LastAttemptAt, d.CreatedAt = timeFrom(evt), timeFrom(next), timeFrom(last), timeFrom(created)
	d.Latency = time.Duration(latency) * time.Microsecond
	return &d, nil
}

func (db *DB) queryDeliveries(ctx context.Context, op, query string, args ...any) ([]*auth.WebhookDelivery, error) {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(op, err)
	}
	defer rows.Close()
	var out []*auth.WebhookDelivery
	for rows.Next() {
		d, err := scanWebhookDelivery(rows)
		if err != nil {
			return nil, translate(op, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(op, err)
	}
	return out, nil
}

// DueWebhookDeliveries returns up to limit pending deliveries due at now,
// earliest first, at most perEndpoint of each endpoint, none of the
// endpoints in skip.
func (db *DB) DueWebhookDeliveries(ctx context.Context, now time.Time, limit, perEndpoint int, skip []string) ([]*auth.WebhookDelivery, error) {
	// One JSON array parameter, whatever the number of endpoints skipped.
	skipped, err := json.Marshal(append([]string{}, skip...))
	if err != nil {
		return nil, err
	}
	return db.queryDeliveries(ctx, "due webhook deliveries", `SELECT `+webhookDeliveryColumns+` FROM (
			SELECT *, row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS n
			FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ?
				AND endpoint_id NOT IN (SELECT value FROM json_each(?)))
		WHERE n <= ? ORDER BY next_attempt_at, id LIMIT ?`, timeValue(now), string(skipped), max(perEndpoint, 1), auth.PageSize(limit))
}

// DeferWebhookDeliveries makes the endpoint's pending deliveries due
// before until due at until.
func (db *DB) DeferWebhookDeliveries(ctx context.Context, endpointID string, until time.Time) (int, error) {
	var n int64
	err := db.inTx(ctx, "defer webhook deliveries", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = ?
			WHERE endpoint_id = ? AND state = 'pending' AND next_attempt_at < ?`,
			timeValue(until), endpointID, timeValue(until))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// GetWebhookDelivery returns the delivery of that endpoint, or ENOTFOUND.
func (db *DB) GetWebhookDelivery(ctx context.Context, endpointID, id string) (*auth.WebhookDelivery, error) {
	d, err := scanWebhookDelivery(db.read.QueryRowContext(ctx, `SELECT `+webhookDeliveryColumns+`
		FROM webhook_deliveries WHERE endpoint_id = ? AND id = ?`, endpointID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Webhook delivery not found.")
	}
	if err != nil {
		return nil, translate("get webhook delivery", err)
	}
	return d, nil
}

// ListWebhookDeliveries returns one page of an endpoint's deliveries,
// newest first.
func (db *DB) ListWebhookDeliveries(ctx context.Context, f auth.WebhookDeliveryFilter) ([]*auth.WebhookDelivery, string, error) {
	limit := auth.PageSize(f.Limit)
	where := []string{"endpoint_id = ?"}
	args := []any{f.EndpointID}
	if f.Before != "" {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	args = append(args, limit+1)
	ds, err := db.queryDeliveries(ctx, "list webhook deliveries", `SELECT `+webhookDeliveryColumns+`
		FROM webhook_deliveries WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", err
	}
	ds, next := auth.Page(ds, limit, func(d *auth.WebhookDelivery) string { return d.ID })
	return ds, next, nil
}

// UpdateWebhookDelivery replaces the outcome fields of the delivery and
// appends the events. ENOTFOUND if it does not exist.
func (db *DB) UpdateWebhookDelivery(ctx context.Context, d *auth.WebhookDelivery, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(d, events); err != nil {
		return err
	}
	return db.inTx(ctx, "update webhook delivery", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = ?,
			next_attempt_at = ?, last_attempt_at = ?, status_code = ?, latency_us = ?, last_error = ?
			WHERE id = ? AND endpoint_id = ?`,
			d.State, d.Attempts, timeValue(d.NextAttemptAt), timeValue(d.LastAttemptAt), d.StatusCode,
			d.Latency.Microseconds(), d.LastError, d.ID, d.EndpointID)
		if err := oneRow(res, err, func() error {
			return auth.Errorf(auth.ENOTFOUND, "Webhook delivery not found.")
		}); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}

// RecordWebhookAttempt writes the outcome fields of d if the delivery is
// still pending with attempts attempts, and reports whether it did.
func (db *DB) RecordWebhookAttempt(ctx context.Context, d *auth.WebhookDelivery, attempts int) (bool, error) {
	if err := auth.CheckWrite(d, nil); err != nil {
		return false, err
	}
	var n int64
	err := db.inTx(ctx, "record webhook attempt", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = ?,
			next_attempt_at = ?, last_attempt_at = ?, status_code = ?, latency_us = ?, last_error = ?
			WHERE id = ? AND endpoint_id = ? AND state = 'pending' AND attempts = ?`,
			d.State, d.Attempts, timeValue(d.NextAttemptAt), timeValue(d.LastAttemptAt), d.StatusCode,
			d.Latency.Microseconds(), d.LastError, d.ID, d.EndpointID, attempts)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return err == nil && n == 1, err
}

// DeleteFinishedWebhookDeliveries deletes up to limit finished deliveries
// created before before.
func (db *DB) DeleteFinishedWebhookDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := db.inTx(ctx, "delete finished webhook deliveries", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND created_at < ? LIMIT ?)`,
			timeValue(before), auth.PageSize(limit))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// AcquireWebhookLease takes or renews the named lease for holder until
// now+ttl if it is free, expired or already holder's.
func (db *DB) AcquireWebhookLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	var got string
	err := db.inTx(ctx, "acquire webhook lease", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO webhook_leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE webhook_leases.holder = excluded.holder OR webhook_leases.expires_at <= ?
			RETURNING holder`, name, holder, now.Add(ttl).UnixMicro(), now.UnixMicro()).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // held by another, unexpired
		}
		return err
	})
	if err != nil {
		return false, err
	}
	return got == holder, nil
}

// ReleaseWebhookLease gives the lease up if holder holds it.
func (db *DB) ReleaseWebhookLease(ctx context.Context, name, holder string) error {
	return db.inTx(ctx, "release webhook lease", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM webhook_leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
}
