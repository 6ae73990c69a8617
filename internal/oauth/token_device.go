package oauth

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Error codes of the device access token response (RFC 8628 3.5).
const (
	CodeAuthorizationPending = "authorization_pending"
	CodeSlowDown             = "slow_down"
	CodeExpiredToken         = "expired_token"
)

// grantDeviceCode is the device access token request (RFC 8628 3.4, 3.5).
// Each poll is recorded in the shared store (auth.DeviceGrant.Poll), so
// that every node answers a device alike: authorization_pending until the
// user decides, slow_down to a poll sooner than the interval after the
// previous one (the interval then grows by 5 seconds for good),
// access_denied once the user denied, expired_token after the codes'
// lifetime, and the tokens exactly once after approval. A device code
// presented again after that revokes every token issued from it, as a
// reused authorization code does (RFC 9700 4.5.3).
func (s *Server) grantDeviceCode(ctx context.Context, c *auth.Client, form url.Values) (*tokenResponse, error) {
	code := form.Get("device_code")
	if code == "" {
		return nil, errInvalidRequest("The device_code parameter is missing.")
	}
	hash, ok := s.parseSecret(PrefixDeviceCode, code)
	if !ok {
		return nil, errInvalidGrant("The device code is invalid.")
	}
	now := s.now()
	g, poll, err := s.store.PollDeviceGrant(ctx, hash, c.ID, now)
	switch auth.ErrorCode(err) {
	case "":
	case auth.ENOTFOUND:
		return nil, errInvalidGrant("The device code is invalid.")
	default:
		return nil, fmt.Errorf("oauth: poll device grant: %w", err)
	}
	switch poll {
	case auth.PollApproved:
		return s.issueDeviceTokens(ctx, c, g, form, now)
	case auth.PollPending:
		return nil, newError(CodeAuthorizationPending, "The user has not yet approved the request.")
	case auth.PollSlowDown:
		return nil, newError(CodeSlowDown, "Polling too fast: wait %d seconds between requests.", int64(g.Interval.Seconds()))
	case auth.PollDenied:
		return nil, errAccessDenied("The user denied the request.")
	case auth.PollExpired:
		return nil, newError(CodeExpiredToken, "The device code has expired; start again.")
	case auth.PollWrongClient:
		return nil, errInvalidGrant("The device code was issued to another client.")
	case auth.PollReused:
		if g.FamilyID != "" {
			ev := familyRevokedEvent(now, auth.ActorSystem, g.ClientID, g.FamilyID, "device_code_reused")
			if _, err := s.store.RevokeFamily(ctx, g.FamilyID, now, ev); err != nil {
				return nil, fmt.Errorf("oauth: revoke the family of a reused device code: %w", err)
			}
		}
		return nil, errInvalidGrant("The device code has already been used.")
	}
	return nil, fmt.Errorf("oauth: unknown device poll outcome %q", poll)
}

// issueDeviceTokens issues the tokens of an approved device grant, as the
// code grant does: a refresh token when the client may refresh and the
// user granted offline_access, an ID token when openid was granted. The
// resource parameter may narrow the audiences (RFC 8707 2.2).
func (s *Server) issueDeviceTokens(ctx context.Context, c *auth.Client, dg *auth.DeviceGrant, form url.Values, now time.Time) (*tokenResponse, error) {
	auds, err := narrowAudiences(dg.Audiences, form["resource"])
	if err != nil {
		return nil, err
	}
	if _, err := s.activeUser(ctx, dg.UserID); err != nil {
		return nil, err
	}
	g := &grant{
		client: c, userID: dg.UserID, scopes: dg.Scopes, audiences: auds,
		authTime: dg.AuthTime, sessionID: dg.SessionID, familyID: dg.FamilyID,
		amr: dg.AMR,       // the approving sign-in's: amr and acr in the tokens
		jkt: dpopJKT(ctx), // RFC 9449 5: a proof with the poll binds the tokens
	}
	var storeRefresh func([]byte, *auth.IssuedToken) error
	if wantsRefreshToken(c, dg.Scopes) {
		storeRefresh = s.storeFirstRefresh(ctx, g, dg.Audiences, now)
	}
	resp, err := s.issueUserTokens(ctx, g, now, storeRefresh)
	if e, ok := err.(*Error); ok && e.Code == CodeInvalidGrant {
		// The family was revoked between the approval and now: the
		// client deleted, the consent withdrawn.
		return nil, errInvalidGrant("The device authorization was revoked.")
	}
	return resp, err
}
