-- Outgoing webhooks. webhook_outbox is written by every transaction that
-- appends an audit event mapping to a webhook event (see appendEvents), so
-- an event is stored if and only if its change is. The dispatcher moves
-- outbox rows into webhook_deliveries, one per subscribed endpoint, and
-- deletes them in the same transaction: rows are never read by an ID
-- cursor, since sequence order is not commit order. webhook_leases lets one
-- node at a time deliver. Secrets are sealed (AES-GCM, see
-- internal/webhook), never plain. IDs use the "C" collation so they sort
-- bytewise. NULL stands for the zero time.Time.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id                         text COLLATE "C" PRIMARY KEY,
    url                        text   NOT NULL,
    events                     jsonb  NOT NULL DEFAULT '[]',
    description                text   NOT NULL DEFAULT '',
    secret                     bytea  NOT NULL,
    previous_secret            bytea,
    previous_secret_expires_at timestamptz,
    disabled_at                timestamptz,
    disabled_reason            text   NOT NULL DEFAULT '',
    failing_since              timestamptz,
    created_at                 timestamptz,
    updated_at                 timestamptz
);

CREATE TABLE webhook_outbox (
    id          text COLLATE "C" PRIMARY KEY,
    type        text  NOT NULL,
    occurred_at timestamptz,
    data        jsonb NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              text COLLATE "C" PRIMARY KEY,
    endpoint_id     text COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        text   NOT NULL,
    event_type      text   NOT NULL,
    event_time      timestamptz,
    payload         bytea  NOT NULL,
    state           text   NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_attempt_at timestamptz,
    status_code     integer NOT NULL DEFAULT 0,
    latency_us      bigint  NOT NULL DEFAULT 0,
    last_error      text    NOT NULL DEFAULT '',
    created_at      timestamptz,
    UNIQUE (endpoint_id, event_id)
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_leases (
    name       text COLLATE "C" PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE webhook_leases;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_outbox;
DROP TABLE webhook_endpoints;
