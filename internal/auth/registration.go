package auth

import (
	"context"
	"time"
)

// Audit event types of initial access tokens. A registration made with one
// is recorded as client.created, with the token's ID as its actor.
const (
	EventRegistrationTokenCreated = "registration_token.created"
	EventRegistrationTokenRevoked = "registration_token.revoked"
)

// InitialAccessToken authorizes dynamic client registrations (RFC 7591 3):
// an admin issues it, a developer presents it as a bearer token at the
// registration endpoint. It allows Uses registrations until ExpiresAt,
// unless revoked. The token itself is shown once; the store keeps its
// keyed hash.
type InitialAccessToken struct {
	ID        string // "iat_..."; public, names the token in lists and audit events
	Hash      []byte // keyed hash of the token
	Hint      string // last 4 characters of the token
	CreatedBy string // the actor that issued it
	Uses      int    // registrations allowed in all, at least 1
	Used      int    // registrations made with it

	CreatedAt  time.Time
	ExpiresAt  time.Time // required: an initial access token always expires
	LastUsedAt time.Time // zero until used
	RevokedAt  time.Time // zero unless revoked
}

// Usable returns nil if t may authorize a registration at now, and
// EUNAUTHORIZED (with one message for every reason, so a caller learns
// nothing about a token it holds) if it is revoked, expired or used up.
func (t *InitialAccessToken) Usable(now time.Time) error {
	if !t.RevokedAt.IsZero() || Expired(t.ExpiresAt, now) || t.Used >= t.Uses {
		return Errorf(EUNAUTHORIZED, "The initial access token is not valid: unknown, expired, used up or revoked.")
	}
	return nil
}

// Use is the transition of registering a client with t at time at: one
// use more, or Usable's EUNAUTHORIZED. The caller stores the result.
func (t InitialAccessToken) Use(at time.Time) (InitialAccessToken, error) {
	if err := t.Usable(at); err != nil {
		return t, err
	}
	t.Used++
	t.LastUsedAt = at
	return t, nil
}

// CheckStorable returns EINVALID if t lacks its ID, hash, uses or expiry,
// or holds text no backend can store.
func (t *InitialAccessToken) CheckStorable() error {
	switch {
	case t == nil:
		return Errorf(EINVALID, "Initial access token is missing.")
	case t.ID == "" || len(t.Hash) == 0:
		return Errorf(EINVALID, "Initial access token ID and hash are required.")
	case t.Uses < 1 || t.Used < 0:
		return Errorf(EINVALID, "Initial access token uses must be at least 1.")
	case t.ExpiresAt.IsZero():
		return Errorf(EINVALID, "Initial access token expiry is required.")
	}
	return CheckText("Initial access token", t.ID, t.Hint, t.CreatedBy)
}

// InitialAccessTokenFilter selects tokens in ListInitialAccessTokens, in
// ascending ID order.
type InitialAccessTokenFilter struct {
	After string
	Limit int
}

// RegistrationStore keeps the initial access tokens of dynamic client
// registration and registers clients with them.
type RegistrationStore interface {
	// CreateInitialAccessToken inserts t. ECONFLICT if the ID or hash
	// exists.
	CreateInitialAccessToken(ctx context.Context, t *InitialAccessToken, events ...AuditEvent) error
	// GetInitialAccessToken returns the token with that hash, or ENOTFOUND.
	GetInitialAccessToken(ctx context.Context, hash []byte) (*InitialAccessToken, error)
	// ListInitialAccessTokens returns one page of tokens and the cursor of
	// the next page ("" on the last).
	ListInitialAccessTokens(ctx context.Context, f InitialAccessTokenFilter) ([]*InitialAccessToken, string, error)
	// RevokeInitialAccessToken sets RevokedAt to at and appends the events,
	// in one transaction, and returns the token. A revoked token is
	// returned as it is, and nothing is written. ENOTFOUND if there is no
	// such token.
	RevokeInitialAccessToken(ctx context.Context, id string, at time.Time, events ...AuditEvent) (*InitialAccessToken, error)
	// RegisterClient, in one transaction, applies InitialAccessToken.Use at
	// time at to the token with hash tokenHash, stores the result, inserts
	// c and appends the events: of concurrent registrations competing for
	// the last use, exactly one succeeds. ENOTFOUND if there is no such
	// token; Use's EUNAUTHORIZED if it is revoked, expired or used up;
	// ECONFLICT if the client ID exists. On any error nothing is written.
	RegisterClient(ctx context.Context, c *Client, tokenHash []byte, at time.Time, events ...AuditEvent) error
}
