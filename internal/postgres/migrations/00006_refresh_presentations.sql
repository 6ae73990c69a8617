-- How many times each refresh token has been presented for rotation, kept
-- on the token itself: with a grace window, a token may be presented twice
-- (its rotation and one retry) and a third presentation is reuse. Until
-- this version the count lived in the one-time JWT table as synthetic
-- entries 'refresh:<hex of the hash>:<n>'; they are carried over and then
-- removed. A token used before (with or without such entries) has been
-- presented at least once. (A constant default adds the column without
-- rewriting the table.)

-- Rolling upgrades: nodes still on the previous version count retries with
-- those used_jtis entries, which this migration deletes, and do not read
-- the new column. A token rotated by an upgraded node (or used before the
-- migration) may therefore be presented twice more, within its grace
-- window, to an old node during the upgrade. Upgrade every node before
-- relying on the limit of one retry.

-- +goose Up
ALTER TABLE refresh_tokens ADD COLUMN presentations integer NOT NULL DEFAULT 0;

UPDATE refresh_tokens r SET presentations = greatest(1, (SELECT count(*) FROM used_jtis u
    WHERE u.jti IN ('refresh:' || encode(r.hash, 'hex') || ':1',
                    'refresh:' || encode(r.hash, 'hex') || ':2')))
WHERE r.used_at IS NOT NULL;

DELETE FROM used_jtis WHERE jti LIKE 'refresh:%';

-- +goose Down
-- The count is not written back as entries: after a downgrade, a token
-- already retried within its grace window may be retried once more.
ALTER TABLE refresh_tokens DROP COLUMN presentations;
