package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// keyColumns lists the api_keys columns in the order scanKey reads them.
const keyColumns = `id, hash, prefix, hint, owner, name, scopes, metadata,
	rate_limit_rate, rate_limit_burst, rotation_period_ns,
	created_at, expires_at, revoked_at, last_used_at, rotation_due_at,
	rotated_from, rotated_to,
	credits_remaining, credits_refill_amount, credits_refill_interval,
	credits_refilled_at, credits_version, allowed_ips, credits_key_id, credits_exhausted_for`

// creditColumnsOnly are the credits_* columns scanCredits reads.
const creditColumnsOnly = `credits_remaining, credits_refill_amount, credits_refill_interval,
	credits_refilled_at, credits_version, credits_exhausted_for`

// querier is what reads need from *sql.DB (the read pool) and *sql.Tx (the
// writer, inside a transaction).
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type scanner interface {
	Scan(dest ...any) error
}

func scanKey(row scanner) (*auth.APIKey, error) {
	var (
		k                                       auth.APIKey
		scopes, metadata                        string
		period                                  int64
		created, expires, revoked, used, rotDue sql.NullInt64
		remaining, refilled                     sql.NullInt64
		credits                                 auth.Credits
		allowed                                 string
	)
	err := row.Scan(&k.ID, &k.Hash, &k.Prefix, &k.Hint, &k.Owner, &k.Name, &scopes, &metadata,
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
	if k.AllowedIPs, err = allowedIPsFrom(allowed); err != nil {
		return nil, err
	}
	if k.Scopes, err = scopesFrom(scopes); err != nil {
		return nil, err
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

// getKey returns the one key matching where (a condition on one
// placeholder), or auth.ENOTFOUND.
func getKey(ctx context.Context, q querier, where string, arg any) (*auth.APIKey, error) {
	k, err := scanKey(q.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
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
		remaining sql.NullInt64
		refilled  sql.NullInt64
	)
	err := q.QueryRowContext(ctx, "SELECT "+creditColumnsOnly+" FROM api_keys WHERE id = ?", k.CreditsKeyID).
		Scan(&remaining, &c.Refill.Amount, &c.Refill.Interval, &refilled, &c.Version, &c.ExhaustedFor)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !remaining.Valid) {
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

// keyJSON encodes the key's columns stored as JSON text: scopes, metadata
// and allowed networks.
func keyJSON(k *auth.APIKey) (scopes, metadata, allowed string, err error) {
	if scopes, err = scopesJSON(k.Scopes); err != nil {
		return "", "", "", err
	}
	if metadata, err = mapJSON(k.Metadata); err != nil {
		return "", "", "", err
	}
	if allowed, err = allowedIPsJSON(k.AllowedIPs); err != nil {
		return "", "", "", err
	}
	return scopes, metadata, allowed, nil
}

func insertKey(ctx context.Context, tx *sql.Tx, k *auth.APIKey) error {
	scopes, metadata, allowed, err := keyJSON(k)
	if err != nil {
		return err
	}
	c := creditColumns(k.Credits)
	_, err = tx.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Hash, k.Prefix, k.Hint, k.Owner, k.Name, scopes, metadata,
		k.RateLimit.Rate, k.RateLimit.Burst, int64(k.RotationPeriod),
		timeValue(k.CreatedAt), timeValue(k.ExpiresAt), timeValue(k.RevokedAt),
		timeValue(k.LastUsedAt), timeValue(k.RotationDueAt),
		k.RotatedFrom, k.RotatedTo,
		c.remaining, c.amount, c.interval, c.refilledAt, c.version, allowed, k.CreditsKeyID, c.exhausted)
	return err
}

// credits holds the credits_* column values of a key.
type credits struct {
	remaining, refilledAt sql.NullInt64
	amount, version       int64
	interval              string
	exhausted             string
}

func creditColumns(c *auth.Credits) credits {
	if c == nil {
		return credits{}
	}
	return credits{
		remaining:  sql.NullInt64{Int64: c.Remaining, Valid: true},
		refilledAt: timeValue(c.RefilledAt),
		amount:     c.Refill.Amount,
		version:    c.Version,
		interval:   c.Refill.Interval,
		exhausted:  c.ExhaustedFor,
	}
}

func allowedIPsJSON(list []netip.Prefix) (string, error) {
	return scopesJSON(auth.FormatAllowedIPs(list))
}

func allowedIPsFrom(text string) ([]netip.Prefix, error) {
	s, err := scopesFrom(text)
	if err != nil {
		return nil, err
	}
	return auth.ParseAllowedIPs(s)
}

// CreateAPIKey inserts k and appends the events in one transaction.
// ECONFLICT if the ID or hash exists; EINVALID if k has no ID or hash, or
// text no backend can store (NUL characters, invalid UTF-8).
func (db *DB) CreateAPIKey(ctx context.Context, k *auth.APIKey, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(k, events); err != nil {
		return err
	}
	return db.inTx(ctx, "create api key", func(tx *sql.Tx) error {
		if err := insertKey(ctx, tx, k); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}

// GetAPIKey returns the key with that ID, or ENOTFOUND.
func (db *DB) GetAPIKey(ctx context.Context, id string) (*auth.APIKey, error) {
	k, err := getKey(ctx, db.read, "id = ?", id)
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
	k, err := getKey(ctx, db.read, "hash = ?", hash)
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
	where := []string{"id > ?"}
	args := []any{f.After}
	if f.Owner != "" {
		where = append(where, "owner = ?")
		args = append(args, f.Owner)
	}
	if len(f.Owners) > 0 {
		where = append(where, "owner IN (?"+strings.Repeat(", ?", len(f.Owners)-1)+")")
		for _, o := range f.Owners {
			args = append(args, o)
		}
	}
	if f.Status != "" {
		cond, n := statusCondition(f.Status)
		where = append(where, cond)
		// At is compared as it is, even when zero, as Status compares it.
		for range n {
			args = append(args, f.At.UnixMicro())
		}
	}
	switch f.Environment {
	case auth.KeyEnvTest:
		where = append(where, testPrefix)
	case auth.KeyEnvLive:
		where = append(where, "NOT "+testPrefix)
	}
	if f.Search != "" {
		// SQLite's lower folds ASCII letters only, as ContainsPattern does.
		where = append(where, `(id = ? OR lower(name) LIKE ? ESCAPE '\')`)
		args = append(args, f.Search, auth.ContainsPattern(f.Search))
	}
	if !f.RotationDueBy.IsZero() {
		where = append(where, "rotation_due_at IS NOT NULL", "rotation_due_at <= ?",
			"revoked_at IS NULL", "rotated_to = ''", "(expires_at IS NULL OR expires_at > ?)")
		args = append(args, timeValue(f.RotationDueBy), timeValue(f.RotationDueBy))
	}
	// One row more than the page tells whether another page follows, so the
	// last page never comes with a cursor to an empty one.
	args = append(args, limit+1)
	rows, err := db.read.QueryContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE "+
		strings.Join(where, " AND ")+" ORDER BY id LIMIT ?", args...)
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
		if err := ledgerCredits(ctx, db.read, k); err != nil {
			return nil, "", translate("list api keys", err)
		}
	}
	keys, next := auth.Page(keys, limit, func(x *auth.APIKey) string { return x.ID })
	return keys, next, nil
}

// testPrefix holds for the keys of the test environment: those whose prefix
// ends in "_test_" (auth.KeyEnvironmentOf). It is written exactly as the
// condition of the partial index api_keys_test (migration 00013), so the
// planner finds that index; and it compares case-sensitively, as Go does
// (SQLite's LIKE would fold case).
const testPrefix = "substr(prefix, -6) = '_test_'"

// statusCondition returns the condition under which a key is in that state
// at a time, as auth.APIKey.Status decides it, and how many times it
// takes that time as an argument. NULL is the zero time ("never"). The
// states few keys are in name the conditions of their partial indexes
// (migration 00013) literally, so the planner finds them.
func statusCondition(status string) (string, int) {
	const (
		revoked    = "(revoked_at IS NOT NULL AND revoked_at <= ?)"
		notRevoked = "(revoked_at IS NULL OR revoked_at > ?)"
		expired    = "(expires_at IS NOT NULL AND expires_at <= ?)"
		notExpired = "(expires_at IS NULL OR expires_at > ?)"
	)
	switch status {
	case auth.KeyRevoked:
		return revoked, 1
	case auth.KeyExpired:
		return notRevoked + " AND " + expired, 2
	case auth.KeyRotating:
		return notRevoked + " AND " + notExpired + " AND rotated_to <> ''", 2
	default: // auth.KeyActive; CheckKeyFilter refused any other
		return notRevoked + " AND " + notExpired + " AND rotated_to = ''", 2
	}
}

// RotateAPIKey, in one transaction, sets the old key's RotatedTo to next.ID
// and its ExpiresAt to oldExpiresAt unless it already expires earlier (a
// zero oldExpiresAt means never, so it changes nothing), inserts next and
// appends the events. It returns the old key as updated. ENOTFOUND if the
// old key does not exist; ECONFLICT if it is revoked or already rotated, or
// if next's ID or hash exists; EINVALID as for CreateAPIKey.
func (db *DB) RotateAPIKey(ctx context.Context, oldID string, next *auth.APIKey, oldExpiresAt time.Time, events ...auth.AuditEvent) (*auth.APIKey, error) {
	if err := auth.CheckWrite(next, events); err != nil {
		return nil, err
	}
	var old *auth.APIKey
	err := db.inTx(ctx, "rotate api key", func(tx *sql.Tx) error {
		k, err := getKey(ctx, tx, "id = ?", oldID)
		if err != nil {
			return err
		}
		rotated, err := k.RotateTo(next.ID, oldExpiresAt)
		if err != nil {
			return err
		}
		k = &rotated
		k.ExpiresAt = timeFrom(timeValue(k.ExpiresAt)) // as stored
		// The old key is updated before the new one is inserted: if the
		// insert fails (its ID or hash exists), the rollback must undo a
		// write, which the contract suite checks.
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET rotated_to = ?, expires_at = ? WHERE id = ?`,
			k.RotatedTo, timeValue(k.ExpiresAt), k.ID); err != nil {
			return err
		}
		if err := insertKey(ctx, tx, next); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, events); err != nil {
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

// RevokeAPIKey sets RevokedAt to at and appends the events in one
// transaction, and returns the key as updated. Revoking a revoked key
// changes nothing, writes no event and returns the key as it is.
// ENOTFOUND if the key does not exist; EINVALID if at is zero (which would
// mean "not revoked") or an event holds text no backend can store.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time, events ...auth.AuditEvent) (*auth.APIKey, error) {
	if err := auth.CheckRevocation(at, events); err != nil {
		return nil, err
	}
	var key *auth.APIKey
	err := db.inTx(ctx, "revoke api key", func(tx *sql.Tx) error {
		k, err := getKey(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		key = k
		if !k.RevokedAt.IsZero() {
			return nil
		}
		k.RevokedAt = timeFrom(timeValue(at))
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ?`,
			timeValue(k.RevokedAt), k.ID); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// TouchAPIKeys sets each key's LastUsedAt to the later of its current value
// and the given time, in one transaction. Unknown IDs and zero times are
// ignored.
func (db *DB) TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	// A fixed order keeps the writes reproducible.
	ids := make([]string, 0, len(lastUsed))
	for id, t := range lastUsed {
		if !t.IsZero() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return db.inTx(ctx, "touch api keys", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE api_keys SET last_used_at = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			t := timeValue(lastUsed[id])
			if _, err := stmt.ExecContext(ctx, t, id, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateAPIKey reads the key, lets update change it and writes the fields
// it may change with update's events, in one transaction; see
// auth.APIKeyStore.
func (db *DB) UpdateAPIKey(ctx context.Context, id string, update func(k *auth.APIKey) ([]auth.AuditEvent, error)) (*auth.APIKey, error) {
	var key *auth.APIKey
	err := db.inTx(ctx, "update api key", func(tx *sql.Tx) error {
		k, err := getKey(ctx, tx, "id = ?", id)
		if err != nil {
			return err
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
		scopes, metadata, allowed, err := keyJSON(k)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET name = ?, scopes = ?, metadata = ?,
			rate_limit_rate = ?, rate_limit_burst = ?, expires_at = ?, allowed_ips = ?
			WHERE id = ?`,
			k.Name, scopes, metadata, k.RateLimit.Rate, k.RateLimit.Burst, timeValue(k.ExpiresAt),
			allowed, k.ID); err != nil {
			return err
		}
		// The credits are the ledger's: shared with the rest of the
		// rotation chain, reset for all of it.
		c := creditColumns(k.Credits)
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET
			credits_remaining = ?, credits_refill_amount = ?, credits_refill_interval = ?,
			credits_refilled_at = ?, credits_version = ?
			WHERE id = ?`,
			c.remaining, c.amount, c.interval, c.refilledAt, c.version, k.CreditsLedger()); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, events); err != nil {
			return err
		}
		// What a read returns now, at the stored precision.
		key, err = getKey(ctx, tx, "id = ?", id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// creditsDue and creditsBalance are SQL expressions, on an api_keys row,
// for auth.Credits.At: whether a refill is due (?1 the start of the
// current UTC day, ?2 of the month) and the credits after it.
const (
	creditsDue = `(credits_refill_amount > 0 AND coalesce(credits_refilled_at, 0) <
		CASE credits_refill_interval WHEN 'day' THEN ?1 ELSE ?2 END)`
	creditsBalance = `(CASE WHEN ` + creditsDue + ` THEN credits_refill_amount ELSE credits_remaining END)`
)

// SpendAPIKeyCredits takes cost credits in one conditional UPDATE (the
// refill computed in the same statement), so no two spends can both take
// the last credits; see auth.APIKeyStore.
func (db *DB) SpendAPIKeyCredits(ctx context.Context, id string, cost int64, now time.Time, exhausted ...auth.AuditEvent) (auth.CreditSpend, error) {
	if cost < 1 {
		return auth.CreditSpend{}, auth.Errorf(auth.EINVALID, "The cost must be at least 1.")
	}
	if err := auth.CheckStorableEvents(exhausted); err != nil {
		return auth.CreditSpend{}, err
	}
	day := timeValue(auth.PeriodStart(auth.RefillDaily, now)).Int64
	month := timeValue(auth.PeriodStart(auth.RefillMonthly, now)).Int64
	var out auth.CreditSpend
	err := db.inTx(ctx, "spend api key credits", func(tx *sql.Tx) error {
		var (
			c        auth.Credits
			refilled sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `UPDATE api_keys SET
				credits_remaining = `+creditsBalance+` - ?3,
				credits_refilled_at = CASE WHEN `+creditsDue+` THEN
					CASE credits_refill_interval WHEN 'day' THEN ?1 ELSE ?2 END
					ELSE credits_refilled_at END
			WHERE id = ?4 AND credits_remaining IS NOT NULL AND `+creditsBalance+` >= ?3
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
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Not enough, no credits, or no key: say which.
		k, err := getKey(ctx, tx, "id = ?", id)
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
// they were for the version and period of c already (one conditional
// UPDATE decides, so two spends never both write them).
func exhaust(ctx context.Context, tx *sql.Tx, id string, c auth.Credits, events []auth.AuditEvent) error {
	marker := auth.ExhaustedMarker(c)
	res, err := tx.ExecContext(ctx, `UPDATE api_keys SET credits_exhausted_for = ?1
		WHERE id = ?2 AND credits_exhausted_for <> ?1`, marker, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	return insertEvents(ctx, tx, events)
}

// SyncAPIKeyCredits writes credits counted elsewhere back, only forward;
// see auth.APIKeyStore.
func (db *DB) SyncAPIKeyCredits(ctx context.Context, id string, c auth.Credits) error {
	at := timeValue(c.RefilledAt)
	return db.inTx(ctx, "sync api key credits", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET credits_remaining = ?1, credits_refilled_at = ?2
		WHERE id = ?3 AND credits_remaining IS NOT NULL AND credits_version = ?4
		  AND (coalesce(credits_refilled_at, 0) < coalesce(?2, 0)
		    OR (coalesce(credits_refilled_at, 0) = coalesce(?2, 0) AND credits_remaining > ?1))`,
			c.Remaining, at, id, c.Version); err != nil {
			return err
		}
		if c.ExhaustedFor == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE api_keys SET credits_exhausted_for = ?1
			WHERE id = ?2 AND credits_remaining IS NOT NULL AND credits_version = ?3`, c.ExhaustedFor, id, c.Version)
		return err
	})
}

// MarkExpiredAPIKeys, in one transaction, finds the keys whose ExpiresAt is
// set and not after now, that are not revoked and were not reported before,
// appends a "key.expired" event for each (Actor "system", Time now) and
// remembers them as reported. It returns their IDs in ascending order.
func (db *DB) MarkExpiredAPIKeys(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	err := db.inTx(ctx, "mark expired api keys", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE api_keys SET expiry_reported_at = ?
			WHERE expires_at IS NOT NULL AND expires_at <= ?
			  AND revoked_at IS NULL AND expiry_reported_at IS NULL
			RETURNING id`, timeValue(now), timeValue(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// The statement must be finished before the next one runs on the
		// same connection.
		if err := rows.Close(); err != nil {
			return err
		}
		slices.Sort(ids)
		events := make([]auth.AuditEvent, len(ids))
		for i, id := range ids {
			events[i] = auth.AuditEvent{
				Time: now, Type: auth.EventKeyExpired, Actor: auth.ActorSystem, KeyID: id, Count: 1,
			}
		}
		return insertEvents(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
