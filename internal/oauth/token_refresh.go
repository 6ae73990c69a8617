package oauth

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// grantRefreshToken is the refresh token grant (RFC 6749 6, OAuth 2.1
// 4.3) with rotation on every use (RFC 9700 4.14.2): the presented token
// is marked used and a new one of the same family is returned. Presenting
// a used token again is taken as theft and revokes the whole family,
// unless it comes within the configured grace window (a client that lost
// the response to its first attempt), and then only once:
// auth.RefreshToken.Refusal and Rotate hold these rules, and the store
// counts the presentations on the token. The scope may be narrowed, never
// widened; the new refresh token keeps the family's full scope.
func (s *Server) grantRefreshToken(ctx context.Context, c *auth.Client, form url.Values) (*tokenResponse, error) {
	secret := form.Get("refresh_token")
	if secret == "" {
		return nil, errInvalidRequest("The refresh_token parameter is missing.")
	}
	hash, ok := s.parseSecret(PrefixRefreshToken, secret)
	if !ok {
		return nil, errInvalidGrant("The refresh token is invalid.")
	}
	rt, err := s.store.GetRefreshToken(ctx, hash)
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return nil, errInvalidGrant("The refresh token is invalid.")
		}
		return nil, fmt.Errorf("oauth: get refresh token: %w", err)
	}
	if rt.ClientID != c.ID {
		return nil, errInvalidGrant("The refresh token was issued to another client.")
	}
	// A public client's family is bound to its DPoP key (RFC 9449 5).
	jkt := dpopJKT(ctx)
	if err := checkBoundTo(rt.DPoPJKT, jkt, "refresh token"); err != nil {
		return nil, err
	}
	now := s.now()
	// The store applies the same rule again inside its transaction, where
	// it decides for concurrent presentations; this early check tells the
	// client why before any work, and revokes the family of a reused token.
	switch rt.Refusal(now, s.cfg.RefreshGrace) {
	case auth.RefreshRevoked:
		return nil, errInvalidGrant("The refresh token has been revoked.")
	case auth.RefreshReused:
		return nil, s.refreshReused(ctx, rt, now)
	case auth.RefreshExpired:
		return nil, errInvalidGrant("The refresh token has expired.")
	}

	scopes := rt.Scopes
	if req := form.Get("scope"); req != "" {
		asked, err := parseScope(req)
		if err != nil {
			return nil, err
		}
		for _, sc := range asked {
			if !slices.Contains(rt.Scopes, sc) {
				return nil, errInvalidScope("The scope %q was not granted; a refresh may only narrow the scope.", sc)
			}
		}
		scopes = asked
	}
	// A scope the client has lost since the sign-in is no longer issued.
	scopes = slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool { return !slices.Contains(c.Scopes, sc) })
	auds, err := narrowAudiences(rt.Audiences, form["resource"])
	if err != nil {
		return nil, err
	}
	if rt.UserID != "" {
		if _, err := s.activeUser(ctx, rt.UserID); err != nil {
			return nil, err
		}
	}

	idle, _ := s.refreshTTLs(c)
	g := &grant{
		client: c, userID: rt.UserID, scopes: scopes, audiences: auds,
		authTime: rt.AuthTime, sessionID: rt.SessionID, familyID: rt.FamilyID, jkt: jkt,
		amr: rt.AMR,
	}
	return s.issueUserTokens(ctx, g, now, func(next []byte, issued *auth.IssuedToken) error {
		nt := &auth.RefreshToken{
			Hash: next, FamilyID: rt.FamilyID, ClientID: c.ID, UserID: rt.UserID,
			Scopes: rt.Scopes, Audiences: rt.Audiences, AuthTime: rt.AuthTime, SessionID: rt.SessionID,
			DPoPJKT:   rt.DPoPJKT,
			AMR:       rt.AMR,
			CreatedAt: now, ExpiresAt: minTime(now.Add(idle), rt.FamilyExpiresAt), FamilyExpiresAt: rt.FamilyExpiresAt,
		}
		err := s.store.RotateRefreshToken(ctx, hash, now, s.cfg.RefreshGrace, nt, issued)
		switch auth.ErrorCode(err) {
		case "":
			return nil
		case auth.ENOTFOUND:
			return errInvalidGrant("The refresh token is invalid.")
		case auth.ECONFLICT:
			// Another request rotated (or revoked) it since we read it, or
			// took the one retry of the grace window: the same token was
			// presented more often than it may be.
			return s.refreshReused(ctx, rt, now)
		}
		return fmt.Errorf("oauth: rotate refresh token: %w", err)
	})
}

// refreshReused revokes the family of a reused refresh token and returns
// the invalid_grant to answer with.
func (s *Server) refreshReused(ctx context.Context, rt *auth.RefreshToken, now time.Time) error {
	ev := familyRevokedEvent(now, auth.ActorSystem, rt.ClientID, rt.FamilyID, "refresh_token_reused")
	if _, err := s.store.RevokeFamily(ctx, rt.FamilyID, now, ev); err != nil {
		return fmt.Errorf("oauth: revoke the family of a reused refresh token: %w", err)
	}
	return errInvalidGrant("The refresh token has already been used.")
}
