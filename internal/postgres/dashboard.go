package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var _ auth.DashboardSessionStore = (*DB)(nil)

// CreateDashboardSession inserts s. ECONFLICT if its hash exists; EINVALID
// if s has no hash or user, or holds text no backend can store.
func (db *DB) CreateDashboardSession(ctx context.Context, s *auth.DashboardSession) error {
	if err := s.CheckStorable(); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO dashboard_sessions
		(hash, user_id, id_token, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.Hash, s.UserID, s.IDToken, timeValue(s.CreatedAt), timeValue(s.LastSeenAt), timeValue(s.ExpiresAt))
	return translate("create dashboard session", err)
}

// GetDashboardSession returns the session with that hash, or ENOTFOUND
// (also once its ExpiresAt is not after now).
func (db *DB) GetDashboardSession(ctx context.Context, hash []byte, now time.Time) (*auth.DashboardSession, error) {
	notFound := auth.Errorf(auth.ENOTFOUND, "Dashboard session not found.")
	if len(hash) == 0 {
		return nil, notFound
	}
	var (
		s                      auth.DashboardSession
		created, seen, expires pgtype.Timestamptz
	)
	err := db.pool.QueryRow(ctx, `SELECT hash, user_id, id_token, created_at, last_seen_at, expires_at
		FROM dashboard_sessions WHERE hash = $1`, hash).Scan(&s.Hash, &s.UserID, &s.IDToken, &created, &seen, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, translate("get dashboard session", err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = timeFrom(created), timeFrom(seen), timeFrom(expires)
	if auth.Expired(s.ExpiresAt, now) {
		return nil, notFound
	}
	return &s, nil
}

// TouchDashboardSession sets LastSeenAt; touching an unknown session is
// not an error.
func (db *DB) TouchDashboardSession(ctx context.Context, hash []byte, seen time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE dashboard_sessions SET last_seen_at = $2 WHERE hash = $1`, hash, timeValue(seen))
	return translate("touch dashboard session", err)
}

// DeleteDashboardSession removes it; deleting an unknown session is not an
// error.
func (db *DB) DeleteDashboardSession(ctx context.Context, hash []byte) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM dashboard_sessions WHERE hash = $1`, hash)
	return translate("delete dashboard session", err)
}

// DeleteUserDashboardSessions removes every session of a user.
func (db *DB) DeleteUserDashboardSessions(ctx context.Context, userID string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM dashboard_sessions WHERE user_id = $1`, userID)
	return translate("delete user dashboard sessions", err)
}

// DeleteExpiredDashboardSessions removes the sessions whose ExpiresAt is
// not after now, or whose LastSeenAt is before idleBefore (a zero
// LastSeenAt is before any), and says how many. A zero idleBefore removes
// no session for being idle.
func (db *DB) DeleteExpiredDashboardSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	query := `DELETE FROM dashboard_sessions WHERE (expires_at IS NOT NULL AND expires_at <= $1)`
	args := []any{now}
	if !idleBefore.IsZero() {
		// pgx truncates to microseconds; rounding up keeps "before" exact.
		query += ` OR last_seen_at IS NULL OR last_seen_at < $2`
		args = append(args, auth.CeilMicro(idleBefore))
	}
	tag, err := db.pool.Exec(ctx, query, args...)
	if err != nil {
		return 0, translate("delete expired dashboard sessions", err)
	}
	return tag.RowsAffected(), nil
}
