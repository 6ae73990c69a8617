-- Per-key usage quotas (credits) and allowed networks. credits_remaining is
-- NULL for a key without credits; credits_refilled_at is the time the
-- remaining credits were last set; credits_version counts admin changes of
-- the credits, so that a copy kept in Redis knows when to start over from
-- the stored value. allowed_ips holds networks in CIDR notation as text
-- (as given, checked by the application); empty means any address.
-- Constant defaults add the columns without rewriting the table.

-- +goose Up
ALTER TABLE api_keys
    ADD COLUMN credits_remaining       bigint,
    ADD COLUMN credits_refill_amount   bigint      NOT NULL DEFAULT 0,
    ADD COLUMN credits_refill_interval text        NOT NULL DEFAULT '',
    ADD COLUMN credits_refilled_at     timestamptz,
    ADD COLUMN credits_version         bigint      NOT NULL DEFAULT 0,
    ADD COLUMN allowed_ips             text[]      NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE api_keys
    DROP COLUMN allowed_ips,
    DROP COLUMN credits_version,
    DROP COLUMN credits_refilled_at,
    DROP COLUMN credits_refill_interval,
    DROP COLUMN credits_refill_amount,
    DROP COLUMN credits_remaining;
