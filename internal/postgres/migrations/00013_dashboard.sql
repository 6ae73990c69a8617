-- The dashboard (issue 12): audit events filtered by actor, target and
-- time; key lists filtered by status and environment; client lists by
-- owner; and the dashboard's own sign-in sessions.

-- +goose Up

-- An event's target is auth.AuditEvent.Target, written by the store at
-- append. The events stored before it get it here, by the same rule:
-- KeyID when set, else the detail that names the object of the event's
-- family (the part of its type before the first dot).
ALTER TABLE audit_events ADD COLUMN target text COLLATE "C" NOT NULL DEFAULT '';
UPDATE audit_events SET target = CASE
    WHEN key_id <> '' THEN key_id
    WHEN strpos(type, '.') = 0 THEN ''
    ELSE coalesce(CASE split_part(type, '.', 1)
        WHEN 'client' THEN details ->> 'client_id'
        WHEN 'consent' THEN details ->> 'client_id'
        WHEN 'token' THEN details ->> 'client_id'
        WHEN 'user' THEN details ->> 'user_id'
        WHEN 'signing_key' THEN details ->> 'kid'
        WHEN 'route' THEN details ->> 'name'
    END, '')
END;

-- Each filter pages in ID order; time bounds narrow by time first.
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id);
CREATE INDEX audit_events_target_idx ON audit_events (target, id);
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at);

-- The key states that few keys are in, each listed in ID order without
-- reading the keys in the other states (see ListAPIKeys' Status).
CREATE INDEX api_keys_revoked_idx ON api_keys (id) WHERE revoked_at IS NOT NULL;
CREATE INDEX api_keys_expiring_idx ON api_keys (id) WHERE expires_at IS NOT NULL;
CREATE INDEX api_keys_rotated_idx ON api_keys (id) WHERE rotated_to <> '';

-- The test environment's keys (its condition written as ListAPIKeys writes
-- it, so the planner matches them), for stores where they are few.
CREATE INDEX api_keys_test_idx ON api_keys (id) WHERE right(prefix, 6) = '_test_';

CREATE INDEX oauth_clients_owner_idx ON oauth_clients (owner, id);

-- A browser signed in to the dashboard. The cookie's token is kept only as
-- its keyed hash.
CREATE TABLE dashboard_sessions (
    hash         bytea PRIMARY KEY,
    user_id      text COLLATE "C" NOT NULL,
    id_token     text NOT NULL DEFAULT '',
    created_at   timestamptz,
    last_seen_at timestamptz,
    expires_at   timestamptz
);

-- Signing a user out everywhere (disabled, password reset).
CREATE INDEX dashboard_sessions_user_idx ON dashboard_sessions (user_id);

-- +goose Down
DROP TABLE dashboard_sessions;
DROP INDEX oauth_clients_owner_idx;
DROP INDEX api_keys_test_idx;
DROP INDEX api_keys_rotated_idx;
DROP INDEX api_keys_expiring_idx;
DROP INDEX api_keys_revoked_idx;
DROP INDEX audit_events_time_idx;
DROP INDEX audit_events_target_idx;
DROP INDEX audit_events_actor_idx;
ALTER TABLE audit_events DROP COLUMN target;
