package auth

import (
	"context"
	"time"
)

// Audit event of a back-channel logout given up (OpenID Connect
// Back-Channel Logout 1.0): the client's receiver refused or could not be
// reached for every attempt.
const EventBackchannelLogoutFailed = "oauth.backchannel_logout_failed"

// SessionClient records that a client was issued an authorization code in
// a browser session: when the session ends, the clients recorded in it
// that have a BackchannelLogoutURI get a logout token (OpenID Connect
// Back-Channel Logout 1.0, 2.5).
type SessionClient struct {
	SessionHash []byte // the session's keyed hash (Session.Hash)
	SID         string // the session's public identifier, the sid claim
	ClientID    string
	UserID      string
	CreatedAt   time.Time
	ExpiresAt   time.Time // the session's: the record is purged after it
}

// LogoutDelivery is a logout token owed to a client: queued, in the
// transaction that ends a session, for every client recorded in it with a
// BackchannelLogoutURI. The token itself is signed at each attempt (it
// lives a couple of minutes); the delivery holds what it says.
type LogoutDelivery struct {
	ID            string // "bcl_..."
	ClientID      string
	UserID        string // the sub claim
	SID           string // the sid claim
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	LastError     string // a short excerpt of the last failure
}

// LogoutStore keeps which clients were issued codes in which sessions, and
// the queue of logout tokens to deliver. Ending a session
// (SessionStore.DeleteSession, DeleteUserSessions) fills the queue in its
// own transaction; the delivering node takes the store's webhook lease
// under its own name, so one node at a time delivers.
type LogoutStore interface {
	// RecordSessionClient notes that c.ClientID was issued a code in the
	// session c.SessionHash. Recording the same pair again only extends
	// ExpiresAt. EINVALID for text no backend can store.
	RecordSessionClient(ctx context.Context, c *SessionClient) error
	// DueLogoutDeliveries returns up to limit deliveries whose
	// NextAttemptAt is not after now, the earliest first.
	DueLogoutDeliveries(ctx context.Context, now time.Time, limit int) ([]*LogoutDelivery, error)
	// FinishLogoutDelivery deletes the delivery, if it still has attempts
	// attempts (as read before the attempt), appends the events, and
	// reports whether it did: false, nothing written, when another node
	// recorded an attempt meanwhile or it is gone.
	FinishLogoutDelivery(ctx context.Context, id string, attempts int, events ...AuditEvent) (bool, error)
	// RetryLogoutDelivery writes Attempts, NextAttemptAt and LastError of
	// d, if the stored delivery still has attempts attempts, and reports
	// whether it did.
	RetryLogoutDelivery(ctx context.Context, d *LogoutDelivery, attempts int) (bool, error)
}

// CheckStorable returns EINVALID if c cannot be stored exactly as it is.
func (c *SessionClient) CheckStorable() error {
	switch {
	case c == nil || len(c.SessionHash) == 0 || c.ClientID == "" || c.SID == "":
		return Errorf(EINVALID, "A session client needs a session, a sid and a client.")
	case !storable(c.SID, c.ClientID, c.UserID):
		return Errorf(EINVALID, "Session client text must be valid UTF-8 without NUL characters.")
	}
	return nil
}
