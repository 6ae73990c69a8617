package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// grantAuthorizationCode redeems an authorization code (RFC 6749 4.1.3,
// OAuth 2.1 4.1.3, RFC 7636 4.6). The code is marked used before anything
// else, so it can be tried once; a code presented a second time revokes
// every token issued from it (RFC 6749 4.1.2, RFC 9700 4.5.3). It must
// have been issued to this client, for this redirect URI, and the PKCE
// verifier must match its S256 challenge.
func (s *Server) grantAuthorizationCode(ctx context.Context, c *auth.Client, form url.Values) (*tokenResponse, error) {
	code := form.Get("code")
	if code == "" {
		return nil, errInvalidRequest("The code parameter is missing.")
	}
	hash, ok := s.parseSecret(PrefixAuthCode, code)
	if !ok {
		return nil, errInvalidGrant("The authorization code is invalid.")
	}
	now := s.now()
	ac, err := s.store.ConsumeAuthCode(ctx, hash, now)
	switch auth.ErrorCode(err) {
	case "":
	case auth.ENOTFOUND:
		return nil, errInvalidGrant("The authorization code is invalid.")
	case auth.ECONFLICT:
		// Reuse: whoever holds the code may have stolen it; every token
		// issued from it is revoked.
		if ac != nil && ac.FamilyID != "" {
			ev := familyRevokedEvent(now, auth.ActorSystem, ac.ClientID, ac.FamilyID, "authorization_code_reused")
			if _, rerr := s.store.RevokeFamily(ctx, ac.FamilyID, now, ev); rerr != nil {
				return nil, fmt.Errorf("oauth: revoke the family of a reused code: %w", rerr)
			}
		}
		return nil, errInvalidGrant("The authorization code has already been used.")
	default:
		return nil, fmt.Errorf("oauth: consume authorization code: %w", err)
	}
	switch {
	case ac.ClientID != c.ID:
		return nil, errInvalidGrant("The authorization code was issued to another client.")
	case ac.ExpiredAt(now):
		return nil, errInvalidGrant("The authorization code has expired.")
	case form.Get("redirect_uri") != ac.RedirectURI:
		// RFC 6749 4.1.3: identical to the authorization request's.
		return nil, errInvalidGrant("The redirect_uri does not match the authorization request.")
	}
	if err := checkPKCE(ac.CodeChallenge, form.Get("code_verifier")); err != nil {
		return nil, err
	}
	jkt := dpopJKT(ctx)
	if err := checkBoundTo(ac.DPoPJKT, jkt, "authorization code"); err != nil {
		return nil, err
	}
	auds, err := narrowAudiences(ac.Audiences, form["resource"])
	if err != nil {
		return nil, err
	}
	u, err := s.activeUser(ctx, ac.UserID)
	if err != nil {
		return nil, err
	}
	g := &grant{
		client: c, userID: ac.UserID, scopes: ac.Scopes, audiences: auds,
		authTime: ac.AuthTime, sessionID: ac.SessionID, nonce: ac.Nonce, familyID: ac.FamilyID, jkt: jkt,
		user: u, idTokenClaims: ac.IDTokenClaims, amr: ac.AMR,
	}
	var storeRefresh func([]byte, *auth.IssuedToken) error
	if wantsRefreshToken(c, ac.Scopes) {
		storeRefresh = s.storeFirstRefresh(ctx, g, ac.Audiences, now)
	}
	return s.issueUserTokens(ctx, g, now, storeRefresh)
}

// storeFirstRefresh returns the function that stores the first refresh
// token of g's family (a code or device grant redeemed at now): with the
// grant's scopes, every audience granted (the access token's may have been
// narrowed), the client's idle lifetime and an absolute one counted from
// the sign-in. A family revoked meanwhile (the code presented twice, the
// client deleted, the consent revoked) refuses it.
func (s *Server) storeFirstRefresh(ctx context.Context, g *grant, audiences []string, now time.Time) func([]byte, *auth.IssuedToken) error {
	c := g.client
	idle, absolute := s.refreshTTLs(c)
	start := g.authTime
	if start.IsZero() || start.After(now) {
		start = now
	}
	familyExp := start.Add(absolute) // absolute lifetime from the sign-in
	return func(hash []byte, issued *auth.IssuedToken) error {
		rt := &auth.RefreshToken{
			Hash: hash, FamilyID: g.familyID, ClientID: c.ID, UserID: g.userID,
			Scopes: g.scopes, Audiences: audiences, AuthTime: g.authTime, SessionID: g.sessionID,
			DPoPJKT:   refreshJKT(c, g.jkt),
			AMR:       g.amr,
			CreatedAt: now, ExpiresAt: minTime(now.Add(idle), familyExp), FamilyExpiresAt: familyExp,
		}
		if err := s.store.CreateRefreshToken(ctx, rt, issued); err != nil {
			if auth.ErrorCode(err) == auth.ECONFLICT {
				return errCodeRevokedMeanwhile()
			}
			return fmt.Errorf("oauth: create refresh token: %w", err)
		}
		return nil
	}
}

// PKCE verifier bounds (RFC 7636 4.1).
const (
	minVerifierLength = 43
	maxVerifierLength = 128
)

// checkPKCE checks a code_verifier against the code's S256 challenge
// (RFC 7636 4.6). The plain method is not supported, and a code without a
// challenge is refused: PKCE is required for every client (OAuth 2.1).
func checkPKCE(challenge, verifier string) error {
	if verifier == "" {
		return errInvalidGrant("The code_verifier parameter is missing.")
	}
	if len(verifier) < minVerifierLength || len(verifier) > maxVerifierLength {
		return errInvalidGrant("The code_verifier must have 43 to 128 characters.")
	}
	for i := 0; i < len(verifier); i++ {
		if !unreserved(verifier[i]) {
			return errInvalidGrant("The code_verifier has a character RFC 7636 does not allow.")
		}
	}
	if challenge == "" {
		return errInvalidGrant("The authorization code has no PKCE challenge.")
	}
	sum := sha256.Sum256([]byte(verifier))
	var got [43]byte // base64url of 32 bytes without padding
	base64.RawURLEncoding.Encode(got[:], sum[:])
	if subtle.ConstantTimeCompare(got[:], []byte(challenge)) != 1 {
		return errInvalidGrant("The code_verifier does not match the code challenge.")
	}
	return nil
}

// unreserved reports whether c is in RFC 3986's unreserved set.
func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// narrowAudiences applies the resource parameters of a token request to
// the audiences of a grant: each must be one of them (RFC 8707 2.2:
// invalid_target otherwise); none keeps them all.
func narrowAudiences(granted, resources []string) ([]string, error) {
	if len(resources) == 0 {
		return granted, nil
	}
	if len(resources) > maxResources {
		return nil, errInvalidTarget("Too many resource parameters.")
	}
	var out []string
	for _, r := range resources {
		if !slices.Contains(granted, r) {
			return nil, errInvalidTarget("The resource %q was not granted.", truncate(r, 100))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// errCodeRevokedMeanwhile answers a redemption whose family was revoked
// while it was issuing: the same code was presented again at that moment,
// and the replay revoked everything issued from it, these tokens included.
func errCodeRevokedMeanwhile() *Error {
	return errInvalidGrant("The authorization code was presented twice; every token issued from it is revoked.")
}
