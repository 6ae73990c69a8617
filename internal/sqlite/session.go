package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// CreateSession inserts s. ECONFLICT if the hash exists; EINVALID if s has
// no hash or user, or holds text no backend can store.
func (db *DB) CreateSession(ctx context.Context, s *auth.Session) error {
	if err := s.CheckStorable(); err != nil {
		return err
	}
	amr, err := scopesJSON(s.AMR)
	if err != nil {
		return translate("create session", err)
	}
	return db.inTx(ctx, "create session", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_sessions (hash, user_id, auth_time, created_at, expires_at, user_agent, address, amr)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.Hash, s.UserID, timeValue(s.AuthTime), timeValue(s.CreatedAt), timeValue(s.ExpiresAt),
			s.UserAgent, s.Address, amr)
		return err
	})
}

// GetSession returns the session with that hash, or ENOTFOUND (also when
// it has expired at now: its ExpiresAt is not after now).
func (db *DB) GetSession(ctx context.Context, hash []byte, now time.Time) (*auth.Session, error) {
	notFound := auth.Errorf(auth.ENOTFOUND, "Session not found.")
	if len(hash) == 0 {
		return nil, notFound
	}
	var (
		s                          auth.Session
		authTime, created, expires sql.NullInt64
		amr                        string
	)
	err := db.read.QueryRowContext(ctx, `SELECT hash, user_id, auth_time, created_at, expires_at, user_agent, address, amr
		FROM oauth_sessions WHERE hash = ?`, hash).Scan(&s.Hash, &s.UserID, &authTime, &created, &expires, &s.UserAgent, &s.Address, &amr)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, translate("get session", err)
	}
	if s.AMR, err = scopesFrom(amr); err != nil {
		return nil, translate("get session", err)
	}
	s.AuthTime = timeFrom(authTime)
	s.CreatedAt = timeFrom(created)
	s.ExpiresAt = timeFrom(expires)
	if auth.Expired(s.ExpiresAt, now) {
		return nil, notFound
	}
	return &s, nil
}

// DeleteSession removes the session and queues the logout deliveries of
// its clients; deleting an unknown session is not an error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	return db.inTx(ctx, "delete session", func(tx *sql.Tx) error {
		if err := queueLogouts(ctx, tx, `sc.session_hash = ?`, hash); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM oauth_sessions WHERE hash = ?`, hash)
		return err
	})
}

// DeleteUserSessions removes every session of a user and queues the
// logout deliveries of their clients.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	return db.inTx(ctx, "delete user sessions", func(tx *sql.Tx) error {
		if err := queueLogouts(ctx, tx, `sc.user_id = ?`, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM oauth_sessions WHERE user_id = ?`, userID)
		return err
	})
}

// UpgradeSession replaces the authentication methods and time of the
// session with that hash. ENOTFOUND if there is none; EINVALID if amr holds
// text no backend can store.
func (db *DB) UpgradeSession(ctx context.Context, hash []byte, amr []string, authTime time.Time) error {
	if err := auth.CheckText("Session", amr...); err != nil {
		return err
	}
	doc, err := scopesJSON(amr)
	if err != nil {
		return translate("upgrade session", err)
	}
	return db.inTx(ctx, "upgrade session", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oauth_sessions SET amr = ?, auth_time = ? WHERE hash = ?`, doc, timeValue(authTime), hash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return auth.Errorf(auth.ENOTFOUND, "Session not found.")
		}
		return nil
	})
}
