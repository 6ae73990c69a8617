-- Usage counts of verifications, rolled up at write time into minute, hour
-- and day buckets (granularity 'minute', 'hour', 'day'). Every node adds
-- its own counts to the same rows (count = count + n, an upsert), so the
-- totals are exact across nodes.
--
-- The primary key leads with (granularity, bucket_start): retention deletes
-- a prefix of it, and a query without a subject reads a range of it. Each
-- subject a query filters by has an index of its own, ending with the
-- bucket so the range is read in order. The current buckets are updated
-- at every flush: room left in each page (fillfactor) lets PostgreSQL update
-- them in place (HOT) without touching the six indexes.

-- +goose Up
CREATE TABLE usage_counts (
    granularity  text COLLATE "C" NOT NULL,
    bucket_start timestamptz NOT NULL,
    key_id       text COLLATE "C" NOT NULL DEFAULT '',
    client_id    text COLLATE "C" NOT NULL DEFAULT '',
    user_id      text COLLATE "C" NOT NULL DEFAULT '',
    route        text COLLATE "C" NOT NULL DEFAULT '',
    owner        text COLLATE "C" NOT NULL DEFAULT '',
    outcome      text COLLATE "C" NOT NULL,
    count        bigint NOT NULL,
    PRIMARY KEY (granularity, bucket_start, key_id, client_id, user_id, route, owner, outcome)
) WITH (fillfactor = 70);

CREATE INDEX usage_counts_key_id_idx    ON usage_counts (key_id, granularity, bucket_start);
CREATE INDEX usage_counts_client_id_idx ON usage_counts (client_id, granularity, bucket_start);
CREATE INDEX usage_counts_user_id_idx   ON usage_counts (user_id, granularity, bucket_start);
CREATE INDEX usage_counts_route_idx     ON usage_counts (route, granularity, bucket_start);
CREATE INDEX usage_counts_owner_idx     ON usage_counts (owner, granularity, bucket_start);

-- +goose Down
DROP TABLE usage_counts;
