package auth

import (
	"context"
	"time"
)

// PasswordResetLink is an administrator's one-time link that lets a user
// choose a new password. The token in the link is kept only as its keyed
// hash; a link works once, until ExpiresAt, and only while it is the
// user's newest (a new link voids the older ones).
type PasswordResetLink struct {
	Hash      []byte // keyed hash of the token (secret.Hasher)
	UserID    string
	CreatedBy string // the actor who made it
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
}

// Usable reports whether the link may still be redeemed at now.
func (l *PasswordResetLink) Usable(now time.Time) bool {
	return l.UsedAt.IsZero() && !Expired(l.ExpiresAt, now)
}

// CheckStorable returns EINVALID if l lacks its hash, user or expiry, or
// holds text no backend can store.
func (l *PasswordResetLink) CheckStorable() error {
	switch {
	case l == nil || len(l.Hash) == 0 || l.UserID == "" || l.ExpiresAt.IsZero():
		return Errorf(EINVALID, "A password reset link needs its hash, user and expiry.")
	case !storable(l.UserID, l.CreatedBy):
		return Errorf(EINVALID, "Password reset link text must be valid UTF-8 without NUL characters.")
	}
	return nil
}

// PasswordReset is the change a redeemed link makes, in one transaction.
type PasswordReset struct {
	PasswordHash string    // the new password's hash
	At           time.Time // when: UsedAt, the user's PasswordChangedAt and UpdatedAt
}

// PasswordResetStore keeps password-reset links.
type PasswordResetStore interface {
	// CreatePasswordResetLink inserts l, deletes the user's other links
	// (a new link voids the older ones) and appends the events, in one
	// transaction. ECONFLICT if the hash exists; ENOTFOUND if the user
	// does not.
	CreatePasswordResetLink(ctx context.Context, l *PasswordResetLink, events ...AuditEvent) error
	// GetPasswordResetLink returns the link with that hash, used or not,
	// or ENOTFOUND.
	GetPasswordResetLink(ctx context.Context, hash []byte) (*PasswordResetLink, error)
	// RedeemPasswordResetLink, in one transaction: marks the link used,
	// provided it is unused and not expired at r.At (else ENOTFOUND, and
	// nothing changes); sets its user's PasswordHash, PasswordChangedAt
	// and UpdatedAt; deletes the user's browser sessions (queueing their
	// back-channel logouts, as DeleteUserSessions does), dashboard
	// sessions and remaining reset links; and appends the events. It
	// returns the user's ID. Of concurrent redemptions exactly one
	// succeeds.
	RedeemPasswordResetLink(ctx context.Context, hash []byte, r PasswordReset, events ...AuditEvent) (userID string, err error)
	// (TokenStore.PurgeExpired deletes the links that expired, used or
	// not.)
}
