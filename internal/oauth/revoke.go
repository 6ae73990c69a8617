package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
)

// handleRevoke is the revocation endpoint (RFC 7009). A refresh token
// revokes its whole family (its refresh tokens die, its access tokens go
// on the revocation list); an access token we signed goes on the list
// until it expires. Tokens of other clients, unknown tokens and garbage
// are left alone and answered 200 all the same (RFC 7009 2.2), so the
// endpoint tells nobody whether a token exists.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	if err := s.revoke(r.Context(), r, form); err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) revoke(ctx context.Context, r *http.Request, form url.Values) error {
	c, err := s.authenticateClient(ctx, r, form)
	if err != nil {
		return err
	}
	allowCORS(r, c)
	token := form.Get("token")
	if token == "" {
		return errInvalidRequest("The token parameter is missing.")
	}
	// token_type_hint only orders the search (RFC 7009 2.1); the token's
	// own shape decides: refresh tokens carry their prefix, access tokens
	// are JWTs.
	if strings.HasPrefix(token, PrefixRefreshToken) {
		return s.revokeRefreshToken(ctx, c, token)
	}
	return s.revokeAccessToken(ctx, c, token)
}

func (s *Server) revokeRefreshToken(ctx context.Context, c *auth.Client, token string) error {
	hash, ok := s.parseSecret(PrefixRefreshToken, token)
	if !ok {
		return nil
	}
	rt, err := s.store.GetRefreshToken(ctx, hash)
	switch {
	case auth.ErrorCode(err) == auth.ENOTFOUND:
		return nil
	case err != nil:
		return fmt.Errorf("oauth: get refresh token: %w", err)
	case rt.ClientID != c.ID || !rt.RevokedAt.IsZero():
		return nil
	}
	now := s.now()
	ev := familyRevokedEvent(now, auth.ActorSystem, c.ID, rt.FamilyID, "revoked_by_client")
	if _, err := s.store.RevokeFamily(ctx, rt.FamilyID, now, ev); err != nil {
		return fmt.Errorf("oauth: revoke family: %w", err)
	}
	return nil
}

// revokeLeeway is how long past its exp a revoked access token stays on
// the list: verifiers accept a token for a little while after its exp
// (clock skew), and it must stay refused that long.
const revokeLeeway = signing.DefaultLeeway + signing.DefaultReloadInterval

func (s *Server) revokeAccessToken(ctx context.Context, c *auth.Client, token string) error {
	// An expired token still gets revoked: verifiers allow some leeway
	// past exp. The revocation verifier accepts access tokens that expired
	// up to a day ago (the longest access-token lifetime) and checks the
	// signature and issuer all the same.
	claims, err := s.verifiers.revoke.Verify(ctx, token)
	if err != nil {
		if isTokenInvalid(err) {
			return nil
		}
		return fmt.Errorf("oauth: verify access token: %w", err)
	}
	if claims.ClientID != c.ID || claims.ID == "" {
		return nil
	}
	now := s.now()
	exp := claims.ExpiresAt.Add(revokeLeeway)
	if !exp.After(now) {
		return nil // refused everywhere already
	}
	err = s.store.RevokeToken(ctx, auth.RevokedToken{JTI: claims.ID, ExpiresAt: exp, RevokedAt: now}, auth.AuditEvent{
		Time: now, Type: auth.EventTokenRevoked, Actor: auth.ActorSystem, KeyID: c.ID, Reason: "revoked_by_client", Count: 1,
		Details: map[string]string{"client_id": c.ID, "jti": claims.ID},
	})
	if err != nil {
		return fmt.Errorf("oauth: revoke access token: %w", err)
	}
	return nil
}
