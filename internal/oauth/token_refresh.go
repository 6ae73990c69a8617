package oauth

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// grantRefreshToken is the refresh token grant (RFC 6749 6, OAuth 2.1
// 4.3) with rotation on every use (RFC 9700 4.14.2): the presented token
// is marked used and a new one of the same family is returned. Presenting
// a used token again is taken as theft and revokes the whole family,
// unless it comes within the configured grace window (a client that lost
// the response to its first attempt). The scope may be narrowed, never
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
	now := s.now()
	if !rt.RevokedAt.IsZero() {
		return nil, errInvalidGrant("The refresh token has been revoked.")
	}
	// usedNotBefore is the earliest UsedAt still inside the grace window;
	// with no grace, any earlier use is reuse.
	usedNotBefore := now.Add(-s.cfg.RefreshGrace)
	if s.cfg.RefreshGrace == 0 {
		usedNotBefore = now
	}
	if !rt.UsedAt.IsZero() && (s.cfg.RefreshGrace == 0 || rt.UsedAt.Before(usedNotBefore)) {
		return nil, s.refreshReused(ctx, rt, now)
	}
	if !now.Before(rt.ExpiresAt) || !now.Before(rt.FamilyExpiresAt) {
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
		authTime: rt.AuthTime, sessionID: rt.SessionID, familyID: rt.FamilyID,
	}
	return s.issueUserTokens(ctx, g, now, func(next []byte, issued *auth.IssuedToken) error {
		if err := s.claimRefreshPresentation(ctx, hash, rt, now); err != nil {
			return err
		}
		nt := &auth.RefreshToken{
			Hash: next, FamilyID: rt.FamilyID, ClientID: c.ID, UserID: rt.UserID,
			Scopes: rt.Scopes, Audiences: rt.Audiences, AuthTime: rt.AuthTime, SessionID: rt.SessionID,
			CreatedAt: now, ExpiresAt: minTime(now.Add(idle), rt.FamilyExpiresAt), FamilyExpiresAt: rt.FamilyExpiresAt,
		}
		err := s.store.RotateRefreshToken(ctx, hash, now, usedNotBefore, nt, issued)
		switch auth.ErrorCode(err) {
		case "":
			return nil
		case auth.ENOTFOUND:
			return errInvalidGrant("The refresh token is invalid.")
		case auth.ECONFLICT:
			// Another request rotated (or revoked) it since we read it:
			// the same token was presented twice at once.
			return s.refreshReused(ctx, rt, now)
		}
		return fmt.Errorf("oauth: rotate refresh token: %w", err)
	})
}

// refreshPresentations is how many times a refresh token may be redeemed
// when a grace window is configured: its rotation and one retry.
const refreshPresentations = 2

// claimRefreshPresentation takes one of the refreshPresentations slots of
// a refresh token when a grace window is configured. The store's rotation
// only checks that an earlier use falls inside the window, which lets the
// spent token be redeemed any number of times within it; the grace
// promised is one retry for a client that lost a response, so a further
// presentation is reuse and revokes the family. The slots are one-time
// records (UseJTI), so two presentations at once cannot both take the
// last one. Without grace the store's rotation alone allows one use.
func (s *Server) claimRefreshPresentation(ctx context.Context, hash []byte, rt *auth.RefreshToken, now time.Time) error {
	if s.cfg.RefreshGrace == 0 {
		return nil
	}
	// The token cannot be redeemed after it dies, so its slots need not
	// outlive it.
	until := minTime(rt.ExpiresAt, rt.FamilyExpiresAt)
	for n := 1; n <= refreshPresentations; n++ {
		err := s.store.UseJTI(ctx, "refresh:"+hex.EncodeToString(hash)+":"+strconv.Itoa(n), until, now)
		switch auth.ErrorCode(err) {
		case "":
			return nil
		case auth.ECONFLICT:
			continue
		}
		return fmt.Errorf("oauth: record refresh token use: %w", err)
	}
	return s.refreshReused(ctx, rt, now)
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
