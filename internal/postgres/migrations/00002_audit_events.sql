-- The append-only audit log. Writers take a SHARE ROW EXCLUSIVE lock on the
-- table before inserting (see appendEvents), so IDs are committed in
-- increasing order and a reader paging with an ID cursor never skips one.

-- +goose Up
CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz,
    type        text   NOT NULL,
    actor       text   NOT NULL,
    key_id      text COLLATE "C" NOT NULL DEFAULT '',
    reason      text   NOT NULL DEFAULT '',
    count       bigint NOT NULL DEFAULT 1,
    details     jsonb  NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_events_key_id_idx ON audit_events (key_id, id);
CREATE INDEX audit_events_type_idx ON audit_events (type, id);

-- +goose Down
DROP TABLE audit_events;
