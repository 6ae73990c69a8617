-- API keys. Times are UTC unix microseconds (NULL for the zero time), so they
-- compare as integers and round-trip exactly at the precision Go code keeps.
-- Scopes and metadata are JSON text. STRICT makes SQLite enforce the types.

-- +goose Up
CREATE TABLE api_keys (
    id                 TEXT    NOT NULL PRIMARY KEY,
    hash               BLOB    NOT NULL,
    prefix             TEXT    NOT NULL,
    hint               TEXT    NOT NULL,
    owner              TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    scopes             TEXT    NOT NULL DEFAULT '[]',
    metadata           TEXT    NOT NULL DEFAULT '{}',
    rate_limit_rate    REAL    NOT NULL DEFAULT 0,
    rate_limit_burst   INTEGER NOT NULL DEFAULT 0,
    rotation_period_ns INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER,
    expires_at         INTEGER,
    revoked_at         INTEGER,
    last_used_at       INTEGER,
    rotation_due_at    INTEGER,
    rotated_from       TEXT    NOT NULL DEFAULT '',
    rotated_to         TEXT    NOT NULL DEFAULT '',
    -- When MarkExpiredAPIKeys reported the expiry; NULL until then, so each
    -- expired key is reported once.
    expiry_reported_at INTEGER
) STRICT;

-- Verification looks keys up by hash on every unseen credential.
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);

-- Listing by owner pages in ID order.
CREATE INDEX api_keys_owner ON api_keys (owner, id);

-- The expiry sweep runs often; this index holds only keys it may still report.
CREATE INDEX api_keys_expiry_pending ON api_keys (expires_at)
    WHERE expiry_reported_at IS NULL AND revoked_at IS NULL AND expires_at IS NOT NULL;

-- +goose Down
DROP TABLE api_keys;
