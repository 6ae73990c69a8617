package auth

import (
	"context"
	"time"
)

// PushedRequest is an authorization request that a client pushed to the
// server (RFC 9126 2), kept under a keyed hash of the request_uri that
// stands for it. Its life has three steps:
//
//   - pushed: ExpiresAt is a minute ahead, the time the browser has to
//     bring the request_uri to the authorization endpoint;
//   - started (Start) by the first authorization request that presents it:
//     no other may start it again (RFC 9126 4, one-time use), and ExpiresAt
//     becomes the deadline of the sign-in and consent that follow;
//   - used (Consume) when the authorization code is issued: at most one
//     code per pushed request.
type PushedRequest struct {
	Hash      []byte // keyed hash of the request_uri
	ClientID  string
	Params    string // the validated authorization request, form-encoded
	CreatedAt time.Time
	ExpiresAt time.Time
	StartedAt time.Time // zero until the authorization endpoint takes it up
	UsedAt    time.Time // zero until a code is issued for it
}

// ExpiredAt reports whether the request can no longer be taken further at
// now.
func (p *PushedRequest) ExpiredAt(now time.Time) bool { return Expired(p.ExpiresAt, now) }

// Start is the transition of the authorization endpoint taking the request
// up at now for the client clientID: it returns p started, with until as
// its new deadline, or p unchanged with ECONFLICT if it was pushed by
// another client, was started before or has expired.
func (p PushedRequest) Start(clientID string, now, until time.Time) (PushedRequest, error) {
	switch {
	case p.ClientID != clientID:
		return p, Errorf(ECONFLICT, "The request_uri belongs to another client.")
	case !p.StartedAt.IsZero():
		return p, Errorf(ECONFLICT, "The request_uri has been used before.")
	case p.ExpiredAt(now):
		return p, Errorf(ECONFLICT, "The request_uri has expired.")
	}
	p.StartedAt = now
	p.ExpiresAt = until
	return p, nil
}

// Consume is the transition of issuing the request's code at now: it
// returns p used, or p unchanged with ECONFLICT if it was never started,
// was used before, or has expired.
func (p PushedRequest) Consume(now time.Time) (PushedRequest, error) {
	switch {
	case p.StartedAt.IsZero():
		return p, Errorf(ECONFLICT, "The request_uri was not presented at the authorization endpoint.")
	case !p.UsedAt.IsZero():
		return p, Errorf(ECONFLICT, "The request_uri has been used before.")
	case p.ExpiredAt(now):
		return p, Errorf(ECONFLICT, "The request_uri has expired.")
	}
	p.UsedAt = now
	return p, nil
}

// CheckStorable returns EINVALID if p has no hash, client or expiry, or
// holds text no backend can store.
func (p *PushedRequest) CheckStorable() error {
	switch {
	case p == nil:
		return Errorf(EINVALID, "Pushed request is missing.")
	case p.ExpiresAt.IsZero():
		return Errorf(EINVALID, "Pushed request expiry is required.")
	case p.ClientID == "":
		return Errorf(EINVALID, "Pushed request client is required.")
	}
	if err := CheckHash("Pushed request", p.Hash); err != nil {
		return err
	}
	return CheckText("Pushed request", p.ClientID, p.Params)
}

// PushedRequestStore keeps pushed authorization requests, shared by every
// node so that a request pushed to one can be used at another. The
// transitions are PushedRequest's; the stores apply them atomically, so of
// concurrent calls on one request (on any node) exactly one succeeds.
type PushedRequestStore interface {
	// CreatePushedRequest inserts p. ECONFLICT if the hash exists; EINVALID
	// if CheckStorable refuses it.
	CreatePushedRequest(ctx context.Context, p *PushedRequest) error
	// GetPushedRequest returns the request with that hash, or ENOTFOUND.
	GetPushedRequest(ctx context.Context, hash []byte) (*PushedRequest, error)
	// StartPushedRequest applies PushedRequest.Start for clientID at now
	// with the new deadline until, stores the result and returns it. ENOTFOUND if there
	// is no such request; Start's ECONFLICT, changing nothing, if it
	// refuses.
	StartPushedRequest(ctx context.Context, hash []byte, clientID string, now, until time.Time) (*PushedRequest, error)
	// ConsumePushedRequest applies PushedRequest.Consume at now, stores the
	// result and returns it. ENOTFOUND if there is no such request;
	// Consume's ECONFLICT, changing nothing, if it refuses.
	ConsumePushedRequest(ctx context.Context, hash []byte, now time.Time) (*PushedRequest, error)
}
