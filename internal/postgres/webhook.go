package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

var _ auth.WebhookStore = (*DB)(nil)

const webhookEndpointColumns = `id, url, events, description, secret, previous_secret,
	previous_secret_expires_at, disabled_at, disabled_reason, failing_since, created_at, updated_at`

func scanWebhookEndpoint(row pgx.Row) (*auth.WebhookEndpoint, error) {
	var (
		e                                    auth.WebhookEndpoint
		events                               []byte
		prevExp, disabled, failing, cre, upd pgtype.Timestamptz
	)
	if err := row.Scan(&e.ID, &e.URL, &events, &e.Description, &e.Secret, &e.PreviousSecret,
		&prevExp, &disabled, &e.DisabledReason, &failing, &cre, &upd); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(events, &e.Events); err != nil {
		return nil, fmt.Errorf("decode webhook events: %w", err)
	}
	if e.Events == nil {
		e.Events = []string{}
	}
	e.PreviousSecretExpiresAt = timeFrom(prevExp)
	e.DisabledAt = timeFrom(disabled)
	e.FailingSince = timeFrom(failing)
	e.CreatedAt, e.UpdatedAt = timeFrom(cre), timeFrom(upd)
	return &e, nil
}

func eventsJSON(events []string) ([]byte, error) {
	if events == nil {
		events = []string{}
	}
	return json.Marshal(events)
}

func endpointNotFound() error { return auth.Errorf(auth.ENOTFOUND, "Webhook endpoint not found.") }

func deliveryNotFound() error { return auth.Errorf(auth.ENOTFOUND, "Webhook delivery not found.") }

// oneRow turns the result of a statement meant to change one row into
// notFound() when it changed none.
func oneRow(tag pgconn.CommandTag, err error, notFound func() error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return notFound()
	}
	return nil
}

// CreateWebhookEndpoint inserts e and appends the events in one
// transaction. ECONFLICT if the ID exists.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, e *auth.WebhookEndpoint, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(e, events); err != nil {
		return err
	}
	evs, err := eventsJSON(e.Events)
	if err != nil {
		return translate("create webhook endpoint", err)
	}
	err = db.inTx(ctx, "create webhook endpoint", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_endpoints (`+webhookEndpointColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			e.ID, e.URL, evs, e.Description, e.Secret, auth.BytesOrNull(e.PreviousSecret),
			timeValue(e.PreviousSecretExpiresAt), timeValue(e.DisabledAt), e.DisabledReason,
			timeValue(e.FailingSince), timeValue(e.CreatedAt), timeValue(e.UpdatedAt)); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A webhook endpoint with this ID already exists.")
}

// GetWebhookEndpoint returns the endpoint, or ENOTFOUND.
func (db *DB) GetWebhookEndpoint(ctx context.Context, id string) (*auth.WebhookEndpoint, error) {
	e, err := scanWebhookEndpoint(db.pool.QueryRow(ctx, `SELECT `+webhookEndpointColumns+`
		FROM webhook_endpoints WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, endpointNotFound()
	}
	if err != nil {
		return nil, translate("get webhook endpoint", err)
	}
	return e, nil
}

// ListWebhookEndpoints returns every endpoint, by ID.
func (db *DB) ListWebhookEndpoints(ctx context.Context) ([]*auth.WebhookEndpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+webhookEndpointColumns+` FROM webhook_endpoints ORDER BY id`)
	if err != nil {
		return nil, translate("list webhook endpoints", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*auth.WebhookEndpoint, error) { return scanWebhookEndpoint(r) })
	if err != nil {
		return nil, translate("list webhook endpoints", err)
	}
	if len(out) == 0 {
		return nil, nil // as SQLite
	}
	return out, nil
}

// UpdateWebhookEndpoint reads the endpoint FOR UPDATE, lets update
// change it and writes it back in one transaction: a concurrent update or
// rotation waits for this one and then sees its outcome. ENOTFOUND if it
// does not exist.
func (db *DB) UpdateWebhookEndpoint(ctx context.Context, id string, update func(e *auth.WebhookEndpoint) ([]auth.AuditEvent, error)) (*auth.WebhookEndpoint, error) {
	var out *auth.WebhookEndpoint
	err := db.inTx(ctx, "update webhook endpoint", func(tx pgx.Tx) error {
		e, err := scanWebhookEndpoint(tx.QueryRow(ctx, `SELECT `+webhookEndpointColumns+`
			FROM webhook_endpoints WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
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
		evs, err := eventsJSON(e.Events)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET url = $1, events = $2, description = $3,
			secret = $4, previous_secret = $5, previous_secret_expires_at = $6, disabled_at = $7,
			disabled_reason = $8, failing_since = $9, updated_at = $10 WHERE id = $11`,
			e.URL, evs, e.Description, e.Secret, auth.BytesOrNull(e.PreviousSecret),
			timeValue(e.PreviousSecretExpiresAt), timeValue(e.DisabledAt), e.DisabledReason,
			timeValue(e.FailingSince), timeValue(e.UpdatedAt), id)
		if err := oneRow(tag, err, endpointNotFound); err != nil {
			return err
		}
		if err := appendEvents(ctx, tx, events); err != nil {
			return err
		}
		// What a read returns now, at the stored precision.
		out, err = scanWebhookEndpoint(tx.QueryRow(ctx, `SELECT `+webhookEndpointColumns+`
			FROM webhook_endpoints WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteWebhookEndpoint removes the endpoint and (by the foreign key's
// cascade) its deliveries, and appends the events. ENOTFOUND if it does not
// exist.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, id string, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "delete webhook endpoint", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
		if err := oneRow(tag, err, endpointNotFound); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// SetWebhookEndpointHealth sets the failure and disabling fields of an
// enabled endpoint alone and appends the events. ENOTFOUND if it does not
// exist; ECONFLICT if it is disabled.
func (db *DB) SetWebhookEndpointHealth(ctx context.Context, id string, failingSince, disabledAt time.Time, reason string, events ...auth.AuditEvent) error {
	if err := auth.CheckStorableEvents(events); err != nil {
		return err
	}
	return db.inTx(ctx, "set webhook endpoint health", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET failing_since = $1, disabled_at = $2,
			disabled_reason = $3 WHERE id = $4 AND disabled_at IS NULL`, timeValue(failingSince), timeValue(disabledAt), reason, id)
		if err := oneRow(tag, err, func() error { return disabledOrMissing(ctx, tx, id) }); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// disabledOrMissing tells why an update of an enabled endpoint changed
// nothing.
func disabledOrMissing(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM webhook_endpoints WHERE id = $1`, id).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return endpointNotFound()
	case err != nil:
		return err
	}
	return auth.Errorf(auth.ECONFLICT, "The webhook endpoint is disabled.")
}

// ListWebhookOutbox returns up to limit undispatched events, oldest first.
func (db *DB) ListWebhookOutbox(ctx context.Context, limit int) ([]auth.WebhookOutboxEvent, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, type, occurred_at, data FROM webhook_outbox
		ORDER BY id LIMIT $1`, auth.PageSize(limit))
	if err != nil {
		return nil, translate("list webhook outbox", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.WebhookOutboxEvent, error) {
		var (
			ev auth.WebhookOutboxEvent
			at pgtype.Timestamptz
		)
		err := r.Scan(&ev.ID, &ev.Type, &at, &ev.Data)
		ev.Time = timeFrom(at)
		return ev, err
	})
	if err != nil {
		return nil, translate("list webhook outbox", err)
	}
	if len(out) == 0 {
		return nil, nil
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
	return db.inTx(ctx, "dispatch webhook events", func(tx pgx.Tx) error {
		// Deleting first takes the rows' locks: a second dispatcher of the
		// same events waits, then finds them gone and rolls back.
		tag, err := tx.Exec(ctx, `DELETE FROM webhook_outbox WHERE id = ANY($1)`, eventIDs)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != int64(len(eventIDs)) {
			return auth.Errorf(auth.ECONFLICT, "The webhook event was dispatched already.")
		}
		if len(deliveries) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		for _, d := range deliveries {
			b.Queue(`INSERT INTO webhook_deliveries (`+webhookDeliveryColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
				d.ID, d.EndpointID, d.EventID, d.EventType, timeValue(d.EventTime), d.Payload, d.State,
				d.Attempts, timeValue(d.NextAttemptAt), timeValue(d.LastAttemptAt), d.StatusCode,
				d.Latency.Microseconds(), d.LastError, timeValue(d.CreatedAt))
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

const webhookDeliveryColumns = `id, endpoint_id, event_id, event_type, event_time, payload, state,
	attempts, next_attempt_at, last_attempt_at, status_code, latency_us, last_error, created_at`

func scanWebhookDelivery(row pgx.Row) (*auth.WebhookDelivery, error) {
	var (
		d                        auth.WebhookDelivery
		evt, next, last, created pgtype.Timestamptz
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
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, translate(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*auth.WebhookDelivery, error) { return scanWebhookDelivery(r) })
	if err != nil {
		return nil, translate(op, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// DueWebhookDeliveries returns up to limit pending deliveries due at now,
// earliest first, at most perEndpoint of each endpoint, none of the
// endpoints in skip.
func (db *DB) DueWebhookDeliveries(ctx context.Context, now time.Time, limit, perEndpoint int, skip []string) ([]*auth.WebhookDelivery, error) {
	// Never a nil slice: pgx sends it as NULL, and "<> ALL (NULL)" is
	// never true, which would leave every delivery out.
	skip = append([]string{}, skip...)
	return db.queryDeliveries(ctx, "due webhook deliveries", `SELECT `+webhookDeliveryColumns+` FROM (
			SELECT *, row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS n
			FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $1
				AND endpoint_id <> ALL ($4::text[])) AS due
		WHERE n <= $2 ORDER BY next_attempt_at, id LIMIT $3`, timeValue(now), max(perEndpoint, 1), auth.PageSize(limit), skip)
}

// DeferWebhookDeliveries makes the endpoint's pending deliveries due
// before until due at until.
func (db *DB) DeferWebhookDeliveries(ctx context.Context, endpointID string, until time.Time) (int, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $1
		WHERE endpoint_id = $2 AND state = 'pending' AND next_attempt_at < $1`, timeValue(until), endpointID)
	if err != nil {
		return 0, translate("defer webhook deliveries", err)
	}
	return int(tag.RowsAffected()), nil
}

// GetWebhookDelivery returns the delivery of that endpoint, or ENOTFOUND.
func (db *DB) GetWebhookDelivery(ctx context.Context, endpointID, id string) (*auth.WebhookDelivery, error) {
	d, err := scanWebhookDelivery(db.pool.QueryRow(ctx, `SELECT `+webhookDeliveryColumns+`
		FROM webhook_deliveries WHERE endpoint_id = $1 AND id = $2`, endpointID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, deliveryNotFound()
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
	args := []any{f.EndpointID}
	where := "endpoint_id = $1"
	if f.Before != "" {
		args = append(args, f.Before)
		where += " AND id < $2"
	}
	args = append(args, limit+1)
	ds, err := db.queryDeliveries(ctx, "list webhook deliveries", fmt.Sprintf(`SELECT %s
		FROM webhook_deliveries WHERE %s ORDER BY id DESC LIMIT $%d`, webhookDeliveryColumns, where, len(args)), args...)
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
	return db.inTx(ctx, "update webhook delivery", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET state = $1, attempts = $2,
			next_attempt_at = $3, last_attempt_at = $4, status_code = $5, latency_us = $6, last_error = $7
			WHERE id = $8 AND endpoint_id = $9`,
			d.State, d.Attempts, timeValue(d.NextAttemptAt), timeValue(d.LastAttemptAt), d.StatusCode,
			d.Latency.Microseconds(), d.LastError, d.ID, d.EndpointID)
		if err := oneRow(tag, err, deliveryNotFound); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// RecordWebhookAttempt writes the outcome fields of d if the delivery is
// still pending with attempts attempts, and reports whether it did.
func (db *DB) RecordWebhookAttempt(ctx context.Context, d *auth.WebhookDelivery, attempts int) (bool, error) {
	if err := auth.CheckWrite(d, nil); err != nil {
		return false, err
	}
	tag, err := db.pool.Exec(ctx, `UPDATE webhook_deliveries SET state = $1, attempts = $2,
		next_attempt_at = $3, last_attempt_at = $4, status_code = $5, latency_us = $6, last_error = $7
		WHERE id = $8 AND endpoint_id = $9 AND state = 'pending' AND attempts = $10`,
		d.State, d.Attempts, timeValue(d.NextAttemptAt), timeValue(d.LastAttemptAt), d.StatusCode,
		d.Latency.Microseconds(), d.LastError, d.ID, d.EndpointID, attempts)
	if err != nil {
		return false, translate("record webhook attempt", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteFinishedWebhookDeliveries deletes up to limit finished deliveries
// created before before.
func (db *DB) DeleteFinishedWebhookDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
		SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1 LIMIT $2)`,
		timeValue(before), auth.PageSize(limit))
	if err != nil {
		return 0, translate("delete finished webhook deliveries", err)
	}
	return int(tag.RowsAffected()), nil
}

// AcquireWebhookLease takes or renews the named lease for holder until
// now+ttl if it is free, expired or already holder's. The upsert is one
// statement, so two nodes racing for an expired lease cannot both win: the
// second one's ON CONFLICT sees the first one's fresh row.
func (db *DB) AcquireWebhookLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	var got string
	err := db.pool.QueryRow(ctx, `INSERT INTO webhook_leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE webhook_leases.holder = excluded.holder OR webhook_leases.expires_at <= $4
		RETURNING holder`, name, holder, timeValue(now.Add(ttl)), timeValue(now)).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, translate("acquire webhook lease", err)
	}
	return got == holder, nil
}

// ReleaseWebhookLease gives the lease up if holder holds it.
func (db *DB) ReleaseWebhookLease(ctx context.Context, name, holder string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM webhook_leases WHERE name = $1 AND holder = $2`, name, holder)
	return translate("release webhook lease", err)
}
