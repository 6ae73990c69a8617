package auth

import (
	"context"
	"time"
)

// DashboardSession is a browser signed in to the dashboard. The cookie holds
// a random token; the store keeps only its keyed hash, so a copy of the
// database opens no session.
type DashboardSession struct {
	Hash   []byte // keyed hash of the cookie's token (32 bytes)
	UserID string
	// IDToken is the ID token the dashboard received at sign-in: the
	// id_token_hint that lets signing out end the Gatehouse session too.
	IDToken    string
	CreatedAt  time.Time
	LastSeenAt time.Time // idle timeout counts from here
	ExpiresAt  time.Time // absolute timeout
}

// DashboardSessionStore keeps dashboard sessions.
type DashboardSessionStore interface {
	// CreateDashboardSession inserts s. ECONFLICT if its hash exists.
	CreateDashboardSession(ctx context.Context, s *DashboardSession) error
	// GetDashboardSession returns the session with that hash, or
	// ENOTFOUND (also once ExpiresAt is not after now).
	GetDashboardSession(ctx context.Context, hash []byte, now time.Time) (*DashboardSession, error)
	// TouchDashboardSession sets LastSeenAt; touching an unknown session
	// is not an error.
	TouchDashboardSession(ctx context.Context, hash []byte, seen time.Time) error
	// DeleteDashboardSession removes it; deleting an unknown session is
	// not an error.
	DeleteDashboardSession(ctx context.Context, hash []byte) error
	// DeleteUserDashboardSessions removes every session of a user.
	DeleteUserDashboardSessions(ctx context.Context, userID string) error
	// DeleteExpiredDashboardSessions removes the sessions that expired
	// (absolutely, or idle since before idleBefore) and says how many.
	DeleteExpiredDashboardSessions(ctx context.Context, now, idleBefore time.Time) (int64, error)
}

// CheckStorable returns EINVALID if s lacks its hash or user, or holds
// text no backend can store.
func (s *DashboardSession) CheckStorable() error {
	switch {
	case s == nil:
		return Errorf(EINVALID, "Dashboard session is missing.")
	case s.UserID == "":
		return Errorf(EINVALID, "Dashboard session user is required.")
	}
	if err := CheckHash("Dashboard session", s.Hash); err != nil {
		return err
	}
	return CheckText("Dashboard session", s.UserID, s.IDToken)
}
