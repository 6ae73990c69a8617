-- The dashboard (issue 12): audit events filtered by actor, target and
-- time; key lists filtered by status and environment; client lists by
-- owner; and the dashboard's own sign-in sessions.

-- +goose Up

-- An event's target is auth.AuditEvent.Target, written by the store at
-- append. The events stored before it get it here, by the same rule:
-- KeyID when set, else the detail that names the object of the event's
-- family (the part of its type before the first dot).
ALTER TABLE audit_events ADD COLUMN target TEXT NOT NULL DEFAULT '';
UPDATE audit_events SET target = CASE
    WHEN key_id <> '' THEN key_id
    WHEN instr(type, '.') = 0 THEN ''
    ELSE coalesce(CASE substr(type, 1, instr(type, '.') - 1)
        WHEN 'client' THEN json_extract(details, '$.client_id')
        WHEN 'consent' THEN json_extract(details, '$.client_id')
        WHEN 'token' THEN json_extract(details, '$.client_id')
        WHEN 'user' THEN json_extract(details, '$.user_id')
        WHEN 'signing_key' THEN json_extract(details, '$.kid')
        WHEN 'route' THEN json_extract(details, '$.name')
    END, '')
END;

-- Each filter pages in ID order; time bounds narrow by time first.
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_target ON audit_events (target, id);
CREATE INDEX audit_events_time ON audit_events (occurred_at);

-- The key states that few keys are in, each listed in ID order without
-- reading the keys in the other states (see ListAPIKeys' Status).
CREATE INDEX api_keys_revoked ON api_keys (id) WHERE revoked_at IS NOT NULL;
CREATE INDEX api_keys_expiring ON api_keys (id) WHERE expires_at IS NOT NULL;
CREATE INDEX api_keys_rotated ON api_keys (id) WHERE rotated_to <> '';

-- The test environment's keys (its condition written as ListAPIKeys writes
-- it, so the planner matches them), for stores where they are few.
CREATE INDEX api_keys_test ON api_keys (id) WHERE substr(prefix, -6) = '_test_';

CREATE INDEX oauth_clients_owner ON oauth_clients (owner, id);

-- A browser signed in to the dashboard. The cookie's token is kept only as
-- its keyed hash. Times are UTC unix microseconds, as in every table.
CREATE TABLE dashboard_sessions (
    hash         BLOB    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    id_token     TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER,
    last_seen_at INTEGER,
    expires_at   INTEGER
) STRICT;

-- Signing a user out everywhere (disabled, password reset).
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);

-- +goose Down
DROP TABLE dashboard_sessions;
DROP INDEX oauth_clients_owner;
DROP INDEX api_keys_test;
DROP INDEX api_keys_rotated;
DROP INDEX api_keys_expiring;
DROP INDEX api_keys_revoked;
DROP INDEX audit_events_time;
DROP INDEX audit_events_target;
DROP INDEX audit_events_actor;
ALTER TABLE audit_events DROP COLUMN target;
