package auth

import (
	"context"
	"time"
)

// DeviceStatus is the state of a device authorization (RFC 8628).
type DeviceStatus string

// The states of a device authorization: pending until the user decides on
// the verification page, then approved or denied; approved becomes used
// when the device collects its tokens, exactly once.
const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproved DeviceStatus = "approved"
	DeviceDenied   DeviceStatus = "denied"
	DeviceUsed     DeviceStatus = "used"
)

// DeviceSlowDownStep is what a poll that comes too early adds to the
// interval of its device code, for it and every later poll (RFC 8628 3.5).
const DeviceSlowDownStep = 5 * time.Second

// MaxDeviceInterval caps the polling interval slow_down can grow to, so a
// misbehaving device is told to wait at most this long between polls.
const MaxDeviceInterval = 5 * time.Minute

// DeviceGrant is a device authorization request (RFC 8628 3.1): the
// device code the device polls with and the user code a person types on
// the verification page, both stored as keyed hashes only.
type DeviceGrant struct {
	DeviceCodeHash []byte
	UserCodeHash   []byte
	ClientID       string
	Scopes         []string
	Audiences      []string
	Status         DeviceStatus

	// Set when the user decides: who, when they signed in, the session
	// they decided in, and the token family the tokens will belong to.
	UserID    string
	AuthTime  time.Time
	SessionID string
	FamilyID  string
	// AMR are the authentication methods of the user's sign-in (RFC
	// 8176), normalised, for the device's tokens' amr and acr.
	AMR []string

	Interval   time.Duration // the device's minimum polling interval
	LastPollAt time.Time     // zero before the first poll
	CreatedAt  time.Time
	ExpiresAt  time.Time
	DecidedAt  time.Time // zero while pending
	UsedAt     time.Time // zero until the tokens are collected
}

// ExpiredAt reports whether the device and user codes are dead at now.
func (g *DeviceGrant) ExpiredAt(now time.Time) bool { return Expired(g.ExpiresAt, now) }

// DevicePoll is what one poll of the token endpoint finds (RFC 8628 3.5).
type DevicePoll string

const (
	PollPending     DevicePoll = "authorization_pending"
	PollSlowDown    DevicePoll = "slow_down"
	PollDenied      DevicePoll = "access_denied"
	PollExpired     DevicePoll = "expired_token"
	PollApproved    DevicePoll = "approved"     // the tokens are issued now, once
	PollReused      DevicePoll = "reused"       // the tokens were collected before
	PollWrongClient DevicePoll = "wrong_client" // another client's device code
)

// Poll is the transition of one poll at now by the client clientID: it
// returns g as it must be stored afterwards and what the poll found,
// checked in this order:
//
//   - a grant of another client is wrong_client, and stays as it is;
//   - a used grant is reuse, and stays as it is;
//   - an expired one is expired, and stays as it is;
//   - a poll sooner than Interval after the previous one, less a tenth
//     for network jitter (a device polling on a ticker at exactly the
//     interval must not be told off), is slow_down: the interval grows by
//     DeviceSlowDownStep (up to MaxDeviceInterval) and the poll counts as
//     the previous one;
//   - otherwise the poll is recorded and the status decides: pending,
//     denied, or approved, which marks the grant used at now.
func (g DeviceGrant) Poll(now time.Time, clientID string) (DeviceGrant, DevicePoll) {
	switch {
	case g.ClientID != clientID:
		return g, PollWrongClient
	case g.Status == DeviceUsed:
		return g, PollReused
	case g.ExpiredAt(now):
		return g, PollExpired
	case !g.LastPollAt.IsZero() && now.Before(g.LastPollAt.Add(g.Interval-g.Interval/10)):
		g.Interval = min(g.Interval+DeviceSlowDownStep, MaxDeviceInterval)
		g.LastPollAt = now
		return g, PollSlowDown
	}
	g.LastPollAt = now
	switch g.Status {
	case DeviceApproved:
		g.Status, g.UsedAt = DeviceUsed, now
		return g, PollApproved
	case DeviceDenied:
		return g, PollDenied
	}
	return g, PollPending
}

// DeviceDecision is a user's answer on the verification page.
type DeviceDecision struct {
	Approve   bool
	UserID    string
	AuthTime  time.Time
	SessionID string
	FamilyID  string   // of the tokens to come; approvals only
	AMR       []string // how the user signed in (the session's amr)
}

// Decide is the transition of the user's decision at now: a pending,
// unexpired grant becomes approved (with the user, sign-in and family) or
// denied. Anything else comes back unchanged with ECONFLICT: a code is
// decided on once.
func (g DeviceGrant) Decide(d DeviceDecision, now time.Time) (DeviceGrant, error) {
	if g.Status != DevicePending || g.ExpiredAt(now) {
		return g, Errorf(ECONFLICT, "The device code has already been decided on or has expired.")
	}
	if d.UserID == "" {
		return g, Errorf(EINVALID, "The deciding user is required.")
	}
	g.Status, g.DecidedAt = DeviceDenied, now
	g.UserID, g.AuthTime, g.SessionID = d.UserID, d.AuthTime, d.SessionID
	if g.AMR = NormalizeAMR(d.AMR); g.AMR == nil {
		g.AMR = []string{}
	}
	if d.Approve {
		g.Status, g.FamilyID = DeviceApproved, d.FamilyID
	}
	return g, nil
}

// CheckNewDeviceGrant refuses (EINVALID) a grant a store must not create:
// without both hashes, client, expiry or interval, or not pending.
func CheckNewDeviceGrant(g *DeviceGrant) error {
	switch {
	case g == nil || len(g.DeviceCodeHash) == 0 || len(g.UserCodeHash) == 0:
		return Errorf(EINVALID, "Device grant needs both code hashes.")
	case g.ClientID == "" || g.ExpiresAt.IsZero() || g.CreatedAt.IsZero() || g.Interval <= 0:
		return Errorf(EINVALID, "Device grant needs a client, creation and expiry times, and an interval.")
	case g.Status != DevicePending:
		return Errorf(EINVALID, "A new device grant is pending.")
	}
	return CheckLists("Device grant", []string{g.ClientID}, g.Scopes, g.Audiences)
}

// DeviceGrantStore keeps device authorizations, shared by every node.
type DeviceGrantStore interface {
	// CreateDeviceGrant inserts g (CheckNewDeviceGrant, EINVALID).
	// ECONFLICT if either hash exists (the caller draws a new user code).
	CreateDeviceGrant(ctx context.Context, g *DeviceGrant) error
	// GetDeviceGrantByUserCode returns the grant of a user code hash, or
	// ENOTFOUND.
	GetDeviceGrantByUserCode(ctx context.Context, userCodeHash []byte) (*DeviceGrant, error)
	// DecideDeviceGrant applies DeviceGrant.Decide at time at to the grant
	// of the user code hash, in one transaction, and returns it as stored
	// afterwards. ENOTFOUND if there is none; Decide's ECONFLICT if it was
	// decided before or has expired (then nothing changes).
	DecideDeviceGrant(ctx context.Context, userCodeHash []byte, d DeviceDecision, at time.Time) (*DeviceGrant, error)
	// PollDeviceGrant applies DeviceGrant.Poll at time at by clientID to
	// the grant of the device code hash, in one transaction (concurrent polls on any
	// node take turns), stores the result and returns the grant as stored
	// afterwards with what the poll found. ENOTFOUND if there is none.
	PollDeviceGrant(ctx context.Context, deviceCodeHash []byte, clientID string, at time.Time) (*DeviceGrant, DevicePoll, error)
}
