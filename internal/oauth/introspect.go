package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/accesstoken"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// introspection is the response of RFC 7662 2.2. Only active is set for
// an inactive token, so nothing is told about it.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Subject   string `json:"sub,omitempty"`
	Audience  any    `json:"aud,omitempty"` // a string for one audience, else an array (RFC 7519 §4.1.3)
	Issuer    string `json:"iss,omitempty"`
	Expiry    int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	JTI       string `json:"jti,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	AuthTime  int64  `json:"auth_time,omitempty"`
	// Cnf is the DPoP key an access token is bound to (RFC 9449 6.2).
	Cnf *verify.Confirmation `json:"cnf,omitempty"`
	// SubID is the original issuer and subject of a token exchanged for
	// another issuer's (RFC 9493 sub_id, iss_sub format).
	SubID *accesstoken.SubjectID `json:"sub_id,omitempty"`
}

// handleIntrospect is the introspection endpoint (RFC 7662). Only
// confidential clients may call it: a public client's "authentication" is
// a client_id anyone can send. Access tokens are described to any of
// them; refresh tokens only to the client they were issued to (RFC 7662
// 4). Revoked, expired, unknown, malformed and foreign tokens are all
// just {"active":false}.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	resp, err := s.introspect(r.Context(), r, form)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) introspect(ctx context.Context, r *http.Request, form url.Values) (*introspection, error) {
	c, err := s.authenticateClient(ctx, r, form)
	if err != nil {
		return nil, err
	}
	if c.Public {
		return nil, errInvalidClient()
	}
	token := form.Get("token")
	if token == "" {
		return nil, errInvalidRequest("The token parameter is missing.")
	}
	if strings.HasPrefix(token, PrefixRefreshToken) {
		return s.introspectRefreshToken(ctx, c, token)
	}
	claims, err := s.verifyAccessToken(ctx, token)
	if err != nil || claims == nil {
		return &introspection{}, err
	}
	// A user's token is active only while the user is; a token exchanged
	// for a client's, while that client exists.
	if ok, err := s.subjectActive(ctx, claims); !ok || err != nil {
		return &introspection{}, err
	}
	return &introspection{
		Active: true, Scope: strings.Join(claims.Scopes, " "), ClientID: claims.ClientID, Subject: claims.Subject,
		Audience: audienceClaim(claims.Audience), Issuer: claims.Issuer, Expiry: claims.ExpiresAt.Unix(),
		IssuedAt: unixOrZero(claims.IssuedAt), JTI: claims.ID, TokenType: tokenType(claims.JKT), AuthTime: unixOrZero(claims.AuthTime),
		Cnf: verify.ConfirmationOf(claims.JKT), SubID: introspectedSubjectID(token, claims.Subject),
	}, nil
}

func introspectedSubjectID(token, sub string) *accesstoken.SubjectID {
	if !isForeignSubject(sub) {
		return nil
	}
	return tokenSubjectID(token, sub)
}

func (s *Server) introspectRefreshToken(ctx context.Context, c *auth.Client, token string) (*introspection, error) {
	hash, ok := s.parseSecret(PrefixRefreshToken, token)
	if !ok {
		return &introspection{}, nil
	}
	rt, err := s.store.GetRefreshToken(ctx, hash)
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return &introspection{}, nil
		}
		return nil, fmt.Errorf("oauth: get refresh token: %w", err)
	}
	now := s.now()
	exp := minTime(rt.ExpiresAt, rt.FamilyExpiresAt)
	// Active is what a rotation without grace would accept: a token spent
	// within a grace window is not active, though it may still be retried.
	if rt.ClientID != c.ID || rt.Refusal(now, 0) != "" {
		return &introspection{}, nil
	}
	if rt.UserID != "" {
		if ok, err := s.userActive(ctx, rt.UserID); !ok || err != nil {
			return &introspection{}, err
		}
	}
	return &introspection{
		Active: true, Scope: strings.Join(rt.Scopes, " "), ClientID: rt.ClientID, Subject: rt.UserID,
		Issuer: s.issuer, Expiry: exp.Unix(), IssuedAt: rt.CreatedAt.Unix(), TokenType: "refresh_token",
		AuthTime: unixOrZero(rt.AuthTime),
	}, nil
}

// verifyAccessToken checks an access token we signed: signature, typ,
// issuer, lifetime, the revocation list, and that its client still exists. It returns nil claims and a
// nil error for a token that is simply not valid, and for one of the
// gateway's internal tokens: those share the issuer and keys but are
// meant for the upstream they were minted for, which must not take them
// to userinfo, introspection or the token exchange as its own.
func (s *Server) verifyAccessToken(ctx context.Context, token string) (*verify.Claims, error) {
	claims, err := s.verifiers.access.Verify(ctx, token)
	if err != nil {
		if isTokenInvalid(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("oauth: verify access token: %w", err)
	}
	if claims.ID == "" || strings.HasPrefix(claims.ID, accesstoken.InternalJTIPrefix) {
		return nil, nil
	}
	revoked, err := s.store.IsTokenRevoked(ctx, claims.ID)
	if err != nil {
		return nil, fmt.Errorf("oauth: check revocation list: %w", err)
	}
	if revoked {
		return nil, nil
	}
	// Deleting a client revokes the access tokens recorded in its token
	// families, but client-credentials tokens are recorded nowhere (that
	// grant issues without a database write): a token whose client is gone
	// is inactive all the same.
	if _, err := s.clients.Lookup(ctx, claims.ClientID); err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return nil, nil
		}
		return nil, fmt.Errorf("oauth: look up the client of an access token: %w", err)
	}
	return claims, nil
}

// userActive reports whether the user exists and is not disabled.
func (s *Server) userActive(ctx context.Context, id string) (bool, error) {
	u, err := s.accounts.Get(ctx, id)
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return false, nil
		}
		return false, err
	}
	return !u.Disabled(), nil
}

// audienceClaim is aud as the token carried it: one audience as a string,
// several as an array, none left out.
func audienceClaim(aud []string) any {
	switch len(aud) {
	case 0:
		return nil
	case 1:
		return aud[0]
	}
	return aud
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
