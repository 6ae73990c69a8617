package postgres

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5/pgtype"
)

// ListUserSessions returns the user's sessions unexpired at now, newest
// first.
func (db *DB) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]*auth.Session, error) {
	rows, err := db.pool.Query(ctx, `SELECT hash, user_id, auth_time, created_at, expires_at, user_agent, address, amr
		FROM oauth_sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, hash`, userID, timeValue(now))
	if err != nil {
		return nil, translate("list user sessions", err)
	}
	defer rows.Close()
	var out []*auth.Session
	for rows.Next() {
		var (
			s                          auth.Session
			authTime, created, expires pgtype.Timestamptz
		)
		if err := rows.Scan(&s.Hash, &s.UserID, &authTime, &created, &expires, &s.UserAgent, &s.Address, &s.AMR); err != nil {
			return nil, translate("list user sessions", err)
		}
		nonNil(&s.AMR)
		s.AuthTime, s.CreatedAt, s.ExpiresAt = timeFrom(authTime), timeFrom(created), timeFrom(expires)
		out = append(out, &s)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list user sessions", err)
	}
	return out, nil
}
