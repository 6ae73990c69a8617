package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// keyColumns lists the api_keys columns in the order scanKey reads them.
const keyColumns = `id, hash, prefix, hint, owner, name, scopes, metadata,
	rate_limit_rate, rate_limit_burst, rotation_period_ns,
	created_at, expires_at, revoked_at, last_used_at, rotation_due_at,
	rotated_from, rotated_to,
	credits_remaining, credits_refill_amount, credits_refill_interval,
	credits_refilled_at, credits_version, allowed_ips, credits_key_id, credits_exhausted_for`

// creditColumnsOnly are the credits_* columns ledgerCredits reads.
const creditColumnsOnly = `credits_remaining, credits_refill_amount, credits_refill_interval,
	credits_refilled_at, credits_version, credits_exhausted_for`

// querier is what reads need from the pool and from a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func scanKey(row pgx.Row) (*auth.APIKey, error) {
	var (
		k                                       auth.APIKey
		metadata                                []byte
		period                                  int64
		created, expires, revoked, used, rotDue pgtype.Timestamptz
		remaining                               pgtype.Int8
		refilled                                pgtype.Timestamptz
		credits                                 auth.Credits
		allowed                                 []string
	)
	err := row.Scan(&k.ID, &k.Hash, &k.Prefix, &k.Hint, &k.Owner, &k.Name, &k.Scopes, &metadata,
		&k.RateLimit.Rate, &k.RateLimit.Burst, &period,
		&created, &expires, &revoked, &used, &rotDue,
		&k.RotatedFrom, &k.RotatedTo,
		&remaining, &credits.Refill.Amount, &credits.Refill.Interval,
		&refilled, &credits.Version, &allowed, &k.CreditsKeyID, &credits.ExhaustedFor)
	if err != nil {
		return nil, err
	}
	if remaining.Valid {
		credits.Remaining = remaining.Int64
		credits.RefilledAt = timeFrom(refilled)
		k.Credits = &credits
	}
	if k.AllowedIPs, err = auth.ParseAllowedIPs(allowed); err != nil {
		return nil, err
	}
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	if k.Metadata, err = mapFrom(metadata); err != nil {
		return nil, err
	}
	k.RotationPeriod = time.Duration(period)
	k.CreatedAt = timeFrom(created)
	k.ExpiresAt = timeFrom(expires)
	k.RevokedAt = timeFrom(revoked)
	k.LastUsedAt = timeFrom(used)
	k.RotationDueAt = timeFrom(rotDue)
	return &k, nil
}

// getKey returns the one key matching where (a condition on $1, possibly
// followed by a locking clause), or auth.ENOTFOUND.
func getKey(ctx context.Context, q querier, where string, arg any) (*auth.APIKey, error) {
	k, err := scanKey(q.QueryRow(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE "+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "API key not found.")
	}
	if err != nil {
		return nil, err
	}
	return k, ledgerCredits(ctx, q, k)
}

// ledgerCredits replaces the credits of a key that spends another's (see
// auth.APIKey.CreditsKeyID) by that key's: the balance they share.
func ledgerCredits(ctx context.Context, q querier, k *auth.APIKey) error {
	if k.CreditsKeyID == "" {
		return nil
	}
	var (
		c         auth.Credits
		remaining pgtype.Int8
		refilled  pgtype.Timestamptz
	)
	err := q.QueryRow(ctx, "SELECT "+creditColumnsOnly+" FROM api_keys WHERE id = $1", k.CreditsKeyID).
		Scan(&remaining, &c.Refill.Amount, &c.Refill.Interval, &refilled, &c.Version, &c.ExhaustedFor)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !remaining.Valid) {
		k.Credits = nil
		return nil
	}
	if err != nil {
		return err
	}
	c.Remaining = remaining.Int64
	c.RefilledAt = timeFrom(refilled)
	k.Credits = &c
	return nil
}

func insertKey(ctx context.Context, tx pgx.Tx, k *auth.APIKey) error {
	metadata, err := mapJSON(k.Metadata)
	if err != nil {
		return err
	}
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{} // pgx sends a nil slice as NULL
	}
	c := creditColumns(k.Credits)
	_, err = tx.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
			$19, $20, $21, $22, $23, $24, $25, $26)`,
		k.ID, k.Hash, k.Prefix, k.Hint, k.Owner, k.Name, scopes, metadata,
		k.RateLimit.Rate, k.RateLimit.Burst, int64(k.RotationPeriod),
		timeValue(k.CreatedAt), timeValue(k.ExpiresAt), timeValue(k.RevokedAt),
		timeValue(k.LastUsedAt), timeValue(k.RotationDueAt),
		k.RotatedFrom, k.RotatedTo,
		c.remaining, c.amount, c.interval, c.refilledAt, c.version, auth.FormatAllowedIPs(k.AllowedIPs), k.CreditsKeyID, c.exhausted)
	return err
}

// credits holds the credits_* column values of a key.
type credits struct {
	remaining       pgtype.Int8
	refilledAt      pgtype.Timestamptz
	amount, version int64
	interval        string
	exhausted       string
}

func creditColumns(c *auth.Credits) credits {
	if c == nil {
		return credits{}
	}
	return credits{
		remaining:  pgtype.Int8{Int64: c.Remaining, Valid: true},
		refilledAt: timeValue(c.RefilledAt),
		amount:     c.Refill.Amount,
		version:    c.Version,
		interval:   c.Refill.Interval,
		exhausted:  c.ExhaustedFor,
	}
}

// CreateAPIKey inserts k and appends the events in one transaction.
// ECONFLICT if the ID or hash exists; EINVALID if k has no ID or hash, or
// text no backend can store (NUL characters, invalid UTF-8).
func (db *DB) CreateAPIKey(ctx context.Context, k *auth.APIKey, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(k, events); err != nil {
		return err
	}
	return db.inTx(ctx, "create api key", func(tx pgx.Tx) error {
		if err := insertKey(ctx, tx, k); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
}

// GetAPIKey returns the key with that ID, or ENOTFOUND.
func (db *DB) GetAPIKey(ctx context.Context, id string) (*auth.APIKey, error) {
	k, err := getKey(ctx, db.pool, "id = $1", id)
	if err != nil {
		return nil, translate("get api key", err)
	}
	return k, nil
}

// GetAPIKeyByHash returns the key whose Hash equals hash, or ENOTFOUND.
func (db *DB) GetAPIKeyByHash(ctx context.Context, hash []byte) (*auth.APIKey, error) {
	if len(hash) == 0 {
		return nil, auth.Errorf(auth.ENOTFOUND, "API key not found.")
	}
	k, err := getKey(ctx, db.pool, "hash = $1", hash)
	if err != nil {
		return nil, translate("get api key by hash", err)
	}
	return k, nil
}

// ListAPIKeys returns one page of keys in ascending ID order (bytewise) and
// the cursor of the next page, "" on the last page. A Limit of zero or less
// means 100; Limit is capped at auth.MaxPageSize. EINVALID for a filter
// auth.CheckKeyFilter refuses.
func (db *DB) ListAPIKeys(ctx context.Context, f auth.APIKeyFilter) ([]*auth.APIKey, string, error) {
	if err := auth.CheckKeyFilter(f); err != nil {
		return nil, "", err
	}
	limit := auth.PageSize(f.Limit)
	var (
		where []string
		args  []any
	)
	// cond adds a condition whose %d (or %[1]d, as often as needed) is the
	// placeholder number of v.
	cond := func(format string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(format, len(args)))
	}
	cond("id > $%d", f.After)
	if f.Owner != "" {
		cond("owner = $%d", f.Owner)
	}
	switch len(f.Owners) {
	case 0:
	case 1:
		// Equality lets the planner walk the (owner, id) index in ID
		// order; it does not for ANY, even of one element.
		cond("owner = $%d", f.Owners[0])
	default:
		cond("owner = ANY($%d)", f.Owners)
	}
	if f.Status != "" {
		// At is compared as it is, even when zero, as Status compares it.
		cond(statusCondition(f.Status), f.At)
	}
	switch f.Environment {
	case auth.KeyEnvTest:
		where = append(where, testPrefix)
	case auth.KeyEnvLive:
		where = append(where, "NOT "+testPrefix)
	}
	if f.Search != "" {
		// Under the "C" collation lower folds ASCII letters only, as
		// ContainsPattern does, whatever the database's locale (which
		// lower and ILIKE would otherwise follow); and it is three times
		// faster than translate, which this scan of every name feels.
		args = append(args, f.Search, auth.ContainsPattern(f.Search))
		where = append(where, fmt.Sprintf(`(id = $%d OR lower(name COLLATE "C") LIKE $%d ESCAPE '\')`,
			len(args)-1, len(args)))
	}
	if !f.RotationDueBy.IsZero() {
		cond("rotation_due_at <= $%d", timeValue(f.RotationDueBy))
		cond("(expires_at IS NULL OR expires_at > $%d)", timeValue(f.RotationDueBy))
		where = append(where, "revoked_at IS NULL", "rotated_to = ''")
	}
	// One row more than the page tells whether another page follows, so the
	// last page never comes with a cursor to an empty one.
	args = append(args, limit+1)
	rows, err := db.pool.Query(ctx, fmt.Sprintf("SELECT %s FROM api_keys WHERE %s ORDER BY id LIMIT $%d",
		keyColumns, strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return nil, "", translate("list api keys", err)
	}
	defer rows.Close()
	keys := make([]*auth.APIKey, 0, min(limit, 64))
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, "", translate("list api keys", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, "", translate("list api keys", err)
	}
	rows.Close()
	for _, k := range keys {
		if err := ledgerCredits(ctx, db.pool, k); err != nil {
			return nil, "", translate("list api keys", err)
		}
	}
	keys, next := auth.Page(keys, limit, func(x *auth.APIKey) string { return x.ID })
	return keys, next, nil
}

// testPrefix holds for the keys of the test environment: those whose prefix
// ends in "_test_" (auth.KeyEnvironmentOf). It is written exactly as the
// condition of the partial index api_keys_test (migration 00013), so the
// planner finds that index.
const testPrefix = "right(prefix, 6) = '_test_'"

// statusCondition returns the condition under which a key is in that state
// at a time, as auth.APIKey.Status decides it, with %[1]d the placeholder
// number of that time. NULL is the zero time ("never"). The states few
// keys are in name the conditions of their partial indexes (migration
// 00013) literally, so the planner finds them.
func statusCondition(status string) string {
	const (
		revoked    = "(revoked_at IS NOT NULL AND revoked_at <= $%[1]d)"
		notRevoked = "(revoked_at IS NULL OR revoked_at > $%[1]d)"
		expired    = "(expires_at IS NOT NULL AND expires_at <= $%[1]d)"
		notExpired = "(expires_at IS NULL OR expires_at > $%[1]d)"
	)
	switch status {
	case auth.KeyRevoked:
		return revoked
	case auth.KeyExpired:
		return notRevoked + " AND " + expired
	case auth.KeyRotating:
		return notRevoked + " AND " + notExpired + " AND rotated_to <> ''"
	default: // auth.KeyActive; CheckKeyFilter refused any other
		return notRevoked + " AND " + notExpired + " AND rotated_to = ''"
	}
}

// RotateAPIKey, in one transaction, sets the old key's RotatedTo to next.ID
// and its ExpiresAt to oldExpiresAt unless it already expires earlier (a
// zero oldExpiresAt means never, so it changes nothing), inserts next,
// appends the events and notifies watchers of the old key. It returns the
// old key as updated. ENOTFOUND if the old key does not exist; ECONFLICT if
// it is revoked or already rotated, or if next's ID or hash exists;
// EINVALID as for CreateAPIKey.
func (db *DB) RotateAPIKey(ctx context.Context, oldID string, next *auth.APIKey, oldExpiresAt time.Time, events ...auth.AuditEvent) (*auth.APIKey, error) {
	if err := auth.CheckWrite(next, events); err != nil {
		return nil, err
	}
	var old *auth.APIKey
	err := db.inTx(ctx, "rotate api key", func(tx pgx.Tx) error {
		// FOR UPDATE: a concurrent rotation or revocation of the same key
		// waits for this one and then sees its outcome.
		k, err := getKey(ctx, tx, "id = $1 FOR UPDATE", oldID)
		if err != nil {
			return err
		}
		rotated, err := k.RotateTo(next.ID, oldExpiresAt)
		if err != nil {
			return err
		}
		k = &rotated
		k.ExpiresAt = stored(k.ExpiresAt)
		// The old key is updated and the notification queued before the new
		// key is inserted: if the insert fails (its ID or hash exists), the
		// rollback must undo both, which the tests check.
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET rotated_to = $1, expires_at = $2, changed_at = clock_timestamp() WHERE id = $3`,
			k.RotatedTo, timeValue(k.ExpiresAt), k.ID); err != nil {
			return err
		}
		if err := notifyChanged(ctx, tx, k.ID); err != nil {
			return err
		}
		if err := insertKey(ctx, tx, next); err != nil {
			return err
		}
		if err := appendEvents(ctx, tx, events); err != nil {
			return err
		}
		old = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

// RevokeAPIKey sets RevokedAt to at, appends the events and notifies
// watchers in one transaction, and returns the key as updated. Revoking a
// revoked key changes nothing, writes no event, notifies no one and returns
// the key as it is. ENOTFOUND if the key does not exist; EINVALID if at is
// zero (which would mean "not revoked") or an event holds text no backend
// can store.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time, events ...auth.AuditEvent) (*auth.APIKey, error) {
	if err := auth.CheckRevocation(at, events); err != nil {
		return nil, err
	}
	var key *auth.APIKey
	err := db.inTx(ctx, "revoke api key", func(tx pgx.Tx) error {
		k, err := getKey(ctx, tx, "id = $1 FOR UPDATE", id)
		if err != nil {
			return err
		}
		key = k
		if !k.RevokedAt.IsZero() {
			return nil
		}
		k.RevokedAt = stored(at)
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $1, changed_at = clock_timestamp() WHERE id = $2`,
			timeValue(k.RevokedAt), k.ID); err != nil {
			return err
		}
		if err := notifyChanged(ctx, tx, k.ID); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// TouchAPIKeys sets each key's LastUsedAt to the later of its current value
// and the given time, in one transaction and one round trip. Unknown IDs and
// zero times are ignored.
func (db *DB) TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	// Rows are locked in ID order, so nodes touching overlapping batches at
	// the same time wait for each other instead of deadlocking.
	ids := make([]string, 0, len(lastUsed))
	for id, t := range lastUsed {
		if !t.IsZero() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	b := &pgx.Batch{}
	for _, id := range ids {
		b.Queue(`UPDATE api_keys SET last_used_at = $2
			WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, timeValue(lastUsed[id]))
	}
	return db.inTx(ctx, "touch api keys", func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
}

// UpdateAPIKey reads the key (locked), lets update change it and writes the
// fields it may change with update's events and a change notification, in
// one transaction; see auth.APIKeyStore.
func (db *DB) UpdateAPIKey(ctx context.Context, id string, update func(k *auth.APIKey) ([]auth.AuditEvent, error)) (*auth.APIKey, error) {
	var key *auth.APIKey
	err := db.inTx(ctx, "update api key", func(tx pgx.Tx) error {
		// FOR UPDATE: a concurrent update, rotation or revocation waits
		// for this one and then sees its outcome.
		k, err := getKey(ctx, tx, "id = $1 FOR UPDATE", id)
		if err != nil {
			return err
		}
		if ledger := k.CreditsLedger(); ledger != k.ID {
			// The credits live on the chain's ledger row, which this update
			// writes too: lock it as well (always after the key, so no two
			// updates wait for each other), then read the balance again, as
			// a change committed through the ledger key before the lock
			// must be built on, not overwritten.
			if _, err := tx.Exec(ctx, "SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE", ledger); err != nil {
				return err
			}
			if err := ledgerCredits(ctx, tx, k); err != nil {
				return err
			}
		}
		events, err := update(k)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			key = k
			return nil
		}
		if err := auth.CheckWrite(k, events); err != nil {
			return err
		}
		metadata, err := mapJSON(k.Metadata)
		if err != nil {
			return err
		}
		scopes := k.Scopes
		if scopes == nil {
			scopes = []string{}
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET name = $2, scopes = $3, metadata = $4,
			rate_limit_rate = $5, rate_limit_burst = $6, expires_at = $7, allowed_ips = $8,
			changed_at = clock_timestamp()
			WHERE id = $1`,
			k.ID, k.Name, scopes, metadata, k.RateLimit.Rate, k.RateLimit.Burst, timeValue(k.ExpiresAt),
			auth.FormatAllowedIPs(k.AllowedIPs)); err != nil {
			return err
		}
		if err := notifyChanged(ctx, tx, k.ID); err != nil {
			return err
		}
		// The credits are the ledger's: shared with the rest of the
		// rotation chain, reset for all of it.
		c := creditColumns(k.Credits)
		ledger := k.CreditsLedger()
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET
			credits_remaining = $2, credits_refill_amount = $3, credits_refill_interval = $4,
			credits_refilled_at = $5, credits_version = $6, changed_at = clock_timestamp()
			WHERE id = $1`,
			ledger, c.remaining, c.amount, c.interval, c.refilledAt, c.version); err != nil {
			return err
		}
		if ledger != k.ID {
			if err := notifyChanged(ctx, tx, ledger); err != nil {
				return err
			}
		}
		if err := appendEvents(ctx, tx, events); err != nil {
			return err
		}
		key, err = getKey(ctx, tx, "id = $1", id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// creditsDue and creditsBalance are SQL expressions, on an api_keys row,
// for auth.Credits.At: whether a refill is due ($1 the start of the
// current UTC day, $2 of the month) and the credits after it.
const (
	creditsDue = `(credits_refill_amount > 0 AND coalesce(credits_refilled_at, '-infinity') <
		CASE credits_refill_interval WHEN 'day' THEN $1::timestamptz ELSE $2::timestamptz END)`
	creditsBalance = `(CASE WHEN ` + creditsDue + ` THEN credits_refill_amount ELSE credits_remaining END)`
)

// SpendAPIKeyCredits takes cost credits in one conditional UPDATE, with
// the refill computed in the same statement. Under READ COMMITTED an
// UPDATE that waited for another transaction's lock on the row evaluates
// its WHERE again on the row as that one left it, so concurrent spends
// from any number of nodes never take more than there is. See
// auth.APIKeyStore.
func (db *DB) SpendAPIKeyCredits(ctx context.Context, id string, cost int64, now time.Time, exhausted ...auth.AuditEvent) (auth.CreditSpend, error) {
	if cost < 1 {
		return auth.CreditSpend{}, auth.Errorf(auth.EINVALID, "The cost must be at least 1.")
	}
	if err := auth.CheckStorableEvents(exhausted); err != nil {
		return auth.CreditSpend{}, err
	}
	day := timeValue(auth.PeriodStart(auth.RefillDaily, now))
	month := timeValue(auth.PeriodStart(auth.RefillMonthly, now))
	var out auth.CreditSpend
	err := db.inTx(ctx, "spend api key credits", func(tx pgx.Tx) error {
		var (
			c        auth.Credits
			refilled pgtype.Timestamptz
		)
		err := tx.QueryRow(ctx, `UPDATE api_keys SET
				credits_remaining = `+creditsBalance+` - $3,
				credits_refilled_at = CASE WHEN `+creditsDue+` THEN
					CASE credits_refill_interval WHEN 'day' THEN $1::timestamptz ELSE $2::timestamptz END
					ELSE credits_refilled_at END
			WHERE id = $4 AND credits_remaining IS NOT NULL AND `+creditsBalance+` >= $3
			RETURNING credits_remaining, credits_refilled_at, credits_version`, day, month, cost, id).
			Scan(&out.Remaining, &refilled, &c.Version)
		if err == nil {
			out.Spent = true
			if out.Remaining > 0 {
				return nil
			}
			c.RefilledAt = timeFrom(refilled)
			return exhaust(ctx, tx, id, c, exhausted)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// Not enough, no credits, or no key: say which.
		k, err := getKey(ctx, tx, "id = $1", id)
		if err != nil {
			return err
		}
		if k.Credits == nil {
			out.Unmetered = true
			return nil
		}
		c = k.Credits.At(now)
		out.Remaining = c.Remaining
		return exhaust(ctx, tx, id, c, exhausted)
	})
	if err != nil {
		return auth.CreditSpend{}, err
	}
	return out, nil
}

// exhaust appends the exhausted events, in the spend's transaction, unless
// they were for the version and period of c already. The conditional
// UPDATE decides: a concurrent one waits for the row and, evaluating its
// WHERE again, finds the marker set.
func exhaust(ctx context.Context, tx pgx.Tx, id string, c auth.Credits, events []auth.AuditEvent) error {
	tag, err := tx.Exec(ctx, `UPDATE api_keys SET credits_exhausted_for = $1
		WHERE id = $2 AND credits_exhausted_for <> $1`, auth.ExhaustedMarker(c), id)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	return appendEvents(ctx, tx, events)
}

// syncCredits writes $1 remaining and $2 refilled at to the key $3 if its
// credits are at version $4 and that is a forward move.
const syncCredits = `UPDATE api_keys SET credits_remaining = $1, credits_refilled_at = $2::timestamptz
	WHERE id = $3 AND credits_remaining IS NOT NULL AND credits_version = $4
	  AND (coalesce(credits_refilled_at, '-infinity') < coalesce($2::timestamptz, '-infinity')
	    OR (coalesce(credits_refilled_at, '-infinity') = coalesce($2::timestamptz, '-infinity') AND credits_remaining > $1))`

// SyncAPIKeyCredits writes credits counted elsewhere back, only forward;
// see auth.APIKeyStore.
func (db *DB) SyncAPIKeyCredits(ctx context.Context, id string, c auth.Credits) error {
	if c.ExhaustedFor == "" {
		_, err := db.pool.Exec(ctx, syncCredits, c.Remaining, timeValue(c.RefilledAt), id, c.Version)
		return translate("sync api key credits", err)
	}
	return db.inTx(ctx, "sync api key credits", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, syncCredits, c.Remaining, timeValue(c.RefilledAt), id, c.Version); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE api_keys SET credits_exhausted_for = $1
			WHERE id = $2 AND credits_remaining IS NOT NULL AND credits_version = $3
			  AND credits_exhausted_for <> $1`, c.ExhaustedFor, id, c.Version)
		return err
	})
}

// MarkExpiredAPIKeys, in one transaction, finds the keys whose ExpiresAt is
// set and not after now, that are not revoked and were not reported before,
// appends a "key.expired" event for each (Actor "system", Time now) and
// remembers them as reported. It returns their IDs in ascending order.
//
// Nodes may sweep at the same time: each key is reported by exactly one of
// them. A key locked by another transaction at that moment is left for the
// next sweep instead of being waited for.
func (db *DB) MarkExpiredAPIKeys(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	err := db.inTx(ctx, "mark expired api keys", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE api_keys SET expiry_reported_at = $1
			WHERE id IN (
				SELECT id FROM api_keys
				WHERE expires_at IS NOT NULL AND expires_at <= $1
				  AND revoked_at IS NULL AND expiry_reported_at IS NULL
				ORDER BY id
				FOR UPDATE SKIP LOCKED)
			RETURNING id`, timeValue(now))
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		slices.Sort(ids)
		events := make([]auth.AuditEvent, len(ids))
		for i, id := range ids {
			events[i] = auth.AuditEvent{
				Time: now, Type: auth.EventKeyExpired, Actor: auth.ActorSystem, KeyID: id, Count: 1,
			}
		}
		return appendEvents(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
