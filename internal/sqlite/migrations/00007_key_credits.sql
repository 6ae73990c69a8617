-- Per-key usage quotas (credits) and allowed networks. credits_remaining is
-- NULL for a key without credits; credits_refilled_at is the time the
-- remaining credits were last set (unix microseconds, like every time here);
-- credits_version counts admin changes of the credits, so that a copy kept
-- in Redis knows when to start over from the stored value. allowed_ips is a
-- JSON array of networks in CIDR notation; empty means any address.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN credits_remaining INTEGER;
ALTER TABLE api_keys ADD COLUMN credits_refill_amount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN credits_refill_interval TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN credits_refilled_at INTEGER;
ALTER TABLE api_keys ADD COLUMN credits_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE api_keys DROP COLUMN allowed_ips;
ALTER TABLE api_keys DROP COLUMN credits_version;
ALTER TABLE api_keys DROP COLUMN credits_refilled_at;
ALTER TABLE api_keys DROP COLUMN credits_refill_interval;
ALTER TABLE api_keys DROP COLUMN credits_refill_amount;
ALTER TABLE api_keys DROP COLUMN credits_remaining;
