-- Credits shared along a rotation chain, and the exhausted event kept to
-- once. credits_key_id names the key whose credits_* columns hold this
-- key's balance: '' for its own, else the first key of its rotation chain
-- (a rotated key and its successor spend one balance, never two).
-- credits_exhausted_for is the credits version and period (refilled at)
-- for which key.usage_exceeded was last recorded, so it is recorded once
-- per version and period.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN credits_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN credits_exhausted_for TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE api_keys DROP COLUMN credits_exhausted_for;
ALTER TABLE api_keys DROP COLUMN credits_key_id;
