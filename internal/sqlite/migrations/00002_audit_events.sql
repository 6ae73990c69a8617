-- The append-only audit log. AUTOINCREMENT guarantees IDs are never reused,
-- and the single writer connection commits them in increasing order, so a
-- reader paging with an ID cursor never skips an event.

-- +goose Up
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at INTEGER,
    type        TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    key_id      TEXT    NOT NULL DEFAULT '',
    reason      TEXT    NOT NULL DEFAULT '',
    count       INTEGER NOT NULL DEFAULT 1,
    details     TEXT    NOT NULL DEFAULT '{}'
) STRICT;

CREATE INDEX audit_events_key_id ON audit_events (key_id, id);
CREATE INDEX audit_events_type ON audit_events (type, id);

-- +goose Down
DROP TABLE audit_events;
