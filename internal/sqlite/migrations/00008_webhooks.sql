-- Outgoing webhooks. webhook_outbox is written by every transaction that
-- appends an audit event mapping to a webhook event (see insertEvents), so
-- an event is stored if and only if its change is. The dispatcher moves
-- outbox rows into webhook_deliveries, one per subscribed endpoint, and
-- deletes them in the same transaction. webhook_leases lets one node at a
-- time deliver. Secrets are sealed (AES-GCM, see internal/webhook), never
-- plain. As in 00001, times are UTC unix microseconds (NULL for the zero
-- time).

-- +goose Up
CREATE TABLE webhook_endpoints (
    id                         TEXT NOT NULL PRIMARY KEY,
    url                        TEXT NOT NULL,
    events                     TEXT NOT NULL DEFAULT '[]',
    description                TEXT NOT NULL DEFAULT '',
    secret                     BLOB NOT NULL,
    previous_secret            BLOB,
    previous_secret_expires_at INTEGER,
    disabled_at                INTEGER,
    disabled_reason            TEXT NOT NULL DEFAULT '',
    failing_since              INTEGER,
    created_at                 INTEGER,
    updated_at                 INTEGER
) STRICT;

CREATE TABLE webhook_outbox (
    id          TEXT NOT NULL PRIMARY KEY,
    type        TEXT NOT NULL,
    occurred_at INTEGER,
    data        TEXT NOT NULL
) STRICT;

CREATE TABLE webhook_deliveries (
    id              TEXT NOT NULL PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    event_time      INTEGER,
    payload         BLOB NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_attempt_at INTEGER,
    status_code     INTEGER NOT NULL DEFAULT 0,
    latency_us      INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER,
    UNIQUE (endpoint_id, event_id)
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_leases (
    name       TEXT NOT NULL PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE webhook_leases;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_outbox;
DROP TABLE webhook_endpoints;
