package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// CreateSession inserts s. ECONFLICT if the hash exists; EINVALID if s has
// no hash or user, or holds text no backend can store.
func (db *DB) CreateSession(ctx context.Context, s *auth.Session) error {
	if err := s.CheckStorable(); err != nil {
		return err
	}
	return db.inTx(ctx, "create session", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO oauth_sessions (hash, user_id, auth_time, created_at, expires_at, user_agent, address, amr)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, s.Hash, s.UserID, timeValue(s.AuthTime), timeValue(s.CreatedAt), timeValue(s.ExpiresAt),
			s.UserAgent, s.Address, list(s.AMR))
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
		authTime, created, expires pgtype.Timestamptz
	)
	err := db.pool.QueryRow(ctx, `SELECT hash, user_id, auth_time, created_at, expires_at, user_agent, address, amr
		FROM oauth_sessions WHERE hash = $1`, hash).Scan(&s.Hash, &s.UserID, &authTime, &created, &expires, &s.UserAgent, &s.Address, &s.AMR)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, translate("get session", err)
	}
	nonNil(&s.AMR)
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
	return db.inTx(ctx, "delete session", func(tx pgx.Tx) error {
		if err := queueLogouts(ctx, tx, `sc.session_hash = $1`, hash); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM oauth_sessions WHERE hash = $1`, hash)
		return err
	})
}

// DeleteUserSessions removes every session of a user and queues the
// logout deliveries of their clients.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	return db.inTx(ctx, "delete user sessions", func(tx pgx.Tx) error {
		if err := queueLogouts(ctx, tx, `sc.user_id = $1`, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM oauth_sessions WHERE user_id = $1`, userID)
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
	return db.inTx(ctx, "upgrade session", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE oauth_sessions SET amr = $1, auth_time = $2 WHERE hash = $3`, list(amr), timeValue(authTime), hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auth.Errorf(auth.ENOTFOUND, "Session not found.")
		}
		return nil
	})
}
