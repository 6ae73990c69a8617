-- API keys. IDs use the "C" collation so they sort bytewise, as in Go and in
-- the SQLite backend, whatever the database's default collation: the list
-- cursor depends on it.

-- +goose Up
CREATE TABLE api_keys (
    id                 text COLLATE "C" PRIMARY KEY,
    hash               bytea            NOT NULL,
    prefix             text             NOT NULL,
    hint               text             NOT NULL,
    owner              text             NOT NULL,
    name               text             NOT NULL,
    scopes             text[]           NOT NULL DEFAULT '{}',
    metadata           jsonb            NOT NULL DEFAULT '{}',
    rate_limit_rate    double precision NOT NULL DEFAULT 0,
    rate_limit_burst   bigint           NOT NULL DEFAULT 0,
    rotation_period_ns bigint           NOT NULL DEFAULT 0,
    -- NULL stands for the zero time.Time ("never").
    created_at         timestamptz,
    expires_at         timestamptz,
    revoked_at         timestamptz,
    last_used_at       timestamptz,
    rotation_due_at    timestamptz,
    rotated_from       text COLLATE "C" NOT NULL DEFAULT '',
    rotated_to         text COLLATE "C" NOT NULL DEFAULT '',
    -- When MarkExpiredAPIKeys reported the expiry; NULL until then, so each
    -- expired key is reported once.
    expiry_reported_at timestamptz,
    -- Server time of the last rotation or revocation, by which a watcher
    -- that lost its connection finds the changes it missed.
    changed_at         timestamptz
);

-- Verification looks keys up by hash on every unseen credential.
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (hash);

-- Listing by owner pages in ID order.
CREATE INDEX api_keys_owner_idx ON api_keys (owner, id);

-- The expiry sweep runs often; this index holds only keys it may still report.
CREATE INDEX api_keys_expiry_pending_idx ON api_keys (expires_at)
    WHERE expiry_reported_at IS NULL AND revoked_at IS NULL AND expires_at IS NOT NULL;

-- Watchers look up the changes of the last minutes after reconnecting.
CREATE INDEX api_keys_changed_idx ON api_keys (changed_at) WHERE changed_at IS NOT NULL;

-- +goose Down
DROP TABLE api_keys;
