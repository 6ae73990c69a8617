package auth

import "time"

// RefreshPresentationsInGrace is how many times a refresh token may be
// presented for rotation when a grace window is configured: its rotation
// and one retry, for a client that lost the response to its first
// attempt. Without a grace window a token is presented once.
const RefreshPresentationsInGrace = 2

// RefreshRefusal says why a refresh token may not be rotated; "" means it
// may. Each reason gets its own answer from the token endpoint, and only
// RefreshReused revokes the family (RFC 9700 4.14.2).
type RefreshRefusal string

const (
	RefreshRevoked RefreshRefusal = "revoked" // its family was revoked
	RefreshReused  RefreshRefusal = "reused"  // presented again after its grace was spent
	RefreshExpired RefreshRefusal = "expired" // idle or family lifetime over
)

// Err returns the ECONFLICT error a store returns for the refusal, nil for
// none.
func (r RefreshRefusal) Err() error {
	switch r {
	case "":
		return nil
	case RefreshRevoked:
		return Errorf(ECONFLICT, "Refresh token is revoked.")
	case RefreshExpired:
		return Errorf(ECONFLICT, "Refresh token has expired.")
	}
	return Errorf(ECONFLICT, "Refresh token has already been used.")
}

// presented is how many times t has been presented for rotation. A token
// marked used before presentations were counted has been presented once.
func (t *RefreshToken) presented() int {
	if t.Presentations == 0 && !t.UsedAt.IsZero() {
		return 1
	}
	return t.Presentations
}

// Refusal says whether t may be rotated at now with the given grace
// window, checked in this order: a revoked token is refused as revoked; a
// token presented before is reuse unless grace is positive, its first use
// is no earlier than now minus grace, and it has been presented fewer than
// RefreshPresentationsInGrace times; an unrevoked, unused token past its
// ExpiresAt or FamilyExpiresAt (the zero time is no deadline) is expired.
func (t *RefreshToken) Refusal(now time.Time, grace time.Duration) RefreshRefusal {
	n := t.presented()
	switch {
	case !t.RevokedAt.IsZero():
		return RefreshRevoked
	case n > 0 && (grace <= 0 || t.UsedAt.Before(now.Add(-grace)) || n >= RefreshPresentationsInGrace):
		return RefreshReused
	case Expired(t.ExpiresAt, now) || Expired(t.FamilyExpiresAt, now):
		return RefreshExpired
	}
	return ""
}

// Rotate is the transition of one presentation at now: it returns t as it
// must be stored afterwards, used at its first presentation (a retry
// within the grace window keeps the first UsedAt, so the window does not
// slide) and with one more presentation counted. If Refusal refuses the
// presentation, t comes back unchanged with the refusal's ECONFLICT error.
func (t RefreshToken) Rotate(now time.Time, grace time.Duration) (RefreshToken, error) {
	if r := t.Refusal(now, grace); r != "" {
		return t, r.Err()
	}
	t.Presentations = t.presented() + 1
	if t.UsedAt.IsZero() {
		t.UsedAt = now
	}
	return t, nil
}

// Consume is the transition of redeeming the code at at: it returns c
// marked used, or c unchanged with ECONFLICT if it was used before (the
// caller then revokes the code's family, RFC 6749 4.1.2). Expiry is the
// caller's to check, after the code is spent, so that an expired code is
// still tried only once.
func (c AuthCode) Consume(at time.Time) (AuthCode, error) {
	if !c.UsedAt.IsZero() {
		return c, Errorf(ECONFLICT, "Authorization code has already been used.")
	}
	c.UsedAt = at
	return c, nil
}

// ExpiredAt reports whether the code can no longer be redeemed at now.
func (c *AuthCode) ExpiredAt(now time.Time) bool { return Expired(c.ExpiresAt, now) }
