package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.DashboardSessionStore = (*DB)(nil)

// CreateDashboardSession inserts s. ECONFLICT if its hash exists; EINVALID
// if s has no hash or user, or holds text no backend can store.
func (db *DB) CreateDashboardSession(ctx context.Context, s *auth.DashboardSession) error {
	if err := s.CheckStorable(); err != nil {
		return err
	}
	return db.inTx(ctx, "create dashboard session", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO dashboard_sessions
			(hash, user_id, id_token, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			s.Hash, s.UserID, s.IDToken, timeValue(s.CreatedAt), timeValue(s.LastSeenAt), timeValue(s.ExpiresAt))
		return err
	})
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
		created, seen, expires sql.NullInt64
	)
	err := db.read.QueryRowContext(ctx, `SELECT hash, user_id, id_token, created_at, last_seen_at, expires_at
		FROM dashboard_sessions WHERE hash = ?`, hash).Scan(&s.Hash, &s.UserID, &s.IDToken, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
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
	return db.inTx(ctx, "touch dashboard session", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE dashboard_sessions SET last_seen_at = ? WHERE hash = ?`, timeValue(seen), hash)
		return err
	})
}

// DeleteDashboardSession removes it; deleting an unknown session is not an
// error.
func (db *DB) DeleteDashboardSession(ctx context.Context, hash []byte) error {
	return db.inTx(ctx, "delete dashboard session", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE hash = ?`, hash)
		return err
	})
}

// DeleteUserDashboardSessions removes every session of a user.
func (db *DB) DeleteUserDashboardSessions(ctx context.Context, userID string) error {
	return db.inTx(ctx, "delete user dashboard sessions", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE user_id = ?`, userID)
		return err
	})
}

// DeleteExpiredDashboardSessions removes the sessions whose ExpiresAt is
// not after now, or whose LastSeenAt is before idleBefore (a zero
// LastSeenAt is before any), and says how many. A zero idleBefore removes
// no session for being idle.
func (db *DB) DeleteExpiredDashboardSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	query := `DELETE FROM dashboard_sessions WHERE (expires_at IS NOT NULL AND expires_at <= ?)`
	args := []any{now.UnixMicro()}
	if !idleBefore.IsZero() {
		query += ` OR last_seen_at IS NULL OR last_seen_at < ?`
		args = append(args, auth.CeilMicro(idleBefore).UnixMicro())
	}
	var n int64
	err := db.inTx(ctx, "delete expired dashboard sessions", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
