package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// ListUserSessions returns the user's sessions unexpired at now, newest
// first.
func (db *DB) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]*auth.Session, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT hash, user_id, auth_time, created_at, expires_at, user_agent, address, amr
		FROM oauth_sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC, hash`, userID, timeValue(now))
	if err != nil {
		return nil, translate("list user sessions", err)
	}
	defer rows.Close()
	var out []*auth.Session
	for rows.Next() {
		var (
			s                          auth.Session
			authTime, created, expires sql.NullInt64
			amr                        string
		)
		if err := rows.Scan(&s.Hash, &s.UserID, &authTime, &created, &expires, &s.UserAgent, &s.Address, &amr); err != nil {
			return nil, translate("list user sessions", err)
		}
		if s.AMR, err = scopesFrom(amr); err != nil {
			return nil, translate("list user sessions", err)
		}
		s.AuthTime, s.CreatedAt, s.ExpiresAt = timeFrom(authTime), timeFrom(created), timeFrom(expires)
		out = append(out, &s)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list user sessions", err)
	}
	return out, nil
}
