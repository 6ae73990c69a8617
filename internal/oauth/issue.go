package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// Token types of the JWS typ header.
const (
	typAccessToken = "at+jwt" // RFC 9068 2.1
	typIDToken     = "JWT"
)

// Scopes with a meaning to the server itself.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
)

// grant is what a grant handler decided to issue: for whom, to which
// client, with which scopes and audiences.
type grant struct {
	client    *auth.Client
	userID    string // "" for client credentials
	scopes    []string
	audiences []string
	authTime  time.Time
	sessionID string
	nonce     string // for the ID token of a code exchange only
	familyID  string // "" for client credentials

	// For the ID token of a code exchange: the user and the standard
	// claims the claims parameter asked for (prompt.go).
	user          *auth.User
	idTokenClaims []string
	// amr are the authentication methods of the sign-in behind the grant
	// (RFC 8176), carried by its code and refresh tokens; the amr and acr
	// claims of both tokens say them. nil when unknown (a device grant, a
	// token exchange): then neither claim is written.
	amr []string
	jkt string // the DPoP key the access token is bound to (cnf.jkt); "" for a bearer token
}

// tokenResponse is the successful token response of RFC 6749 5.1 and
// OIDC Core 3.1.3.3.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	// IssuedTokenType is the type of a token exchange's token (RFC 8693 2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`

	userID string // whom the tokens were issued to, for usage counting
}

// issuedAccess is a signed access token and what must be recorded of it.
type issuedAccess struct {
	token   string
	jti     string
	expires time.Time
	ttl     time.Duration
}

// accessTokenTTL is the client's access-token lifetime or the server's.
func (s *Server) accessTokenTTL(c *auth.Client) time.Duration {
	if c.AccessTokenTTL > 0 {
		return c.AccessTokenTTL
	}
	return s.cfg.AccessTokenTTL
}

// issueAccessToken signs an RFC 9068 access token for g.
func (s *Server) issueAccessToken(g *grant, now time.Time) (*issuedAccess, error) {
	jti, err := newJTI()
	if err != nil {
		return nil, err
	}
	ttl := s.accessTokenTTL(g.client)
	exp := now.Add(ttl)
	sub := g.userID
	if sub == "" {
		sub = g.client.ID // RFC 9068 2.2: the client itself when no user is involved
	}
	claims := verify.Claims{
		Issuer:    s.issuer,
		Subject:   sub,
		Audience:  g.audiences,
		ExpiresAt: exp,
		IssuedAt:  now,
		ID:        jti,
		ClientID:  g.client.ID,
		Scopes:    g.scopes,
		JKT:       g.jkt,
	}
	if g.userID != "" {
		claims.AuthTime = g.authTime
	}
	tok, err := s.keys.Sign(typAccessToken, withSignIn(claims, g.amr))
	if err != nil {
		return nil, fmt.Errorf("oauth: sign access token: %w", err)
	}
	return &issuedAccess{token: tok, jti: jti, expires: exp, ttl: ttl}, nil
}

// idTokenClaims are the claims of an ID token (OIDC Core 2, 3.1.3.6).
type idTokenClaims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	Audience        string   `json:"aud"`
	Expiry          int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	AuthTime        int64    `json:"auth_time,omitempty"`
	Nonce           string   `json:"nonce,omitempty"`
	AccessTokenHash string   `json:"at_hash,omitempty"`
	AuthorizedParty string   `json:"azp"`
	SessionID       string   `json:"sid,omitempty"` // the browser session (Back-Channel Logout 2.1)
	ACR             string   `json:"acr,omitempty"`
	AMR             []string `json:"amr,omitempty"` // RFC 8176; OIDC Core 2

	// Standard claims asked for by the claims parameter (prompt.go).
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
}

// issueIDToken signs an ID token for g, bound to the access token by
// at_hash.
func (s *Server) issueIDToken(g *grant, accessToken string, now time.Time) (string, error) {
	claims := idTokenClaims{
		Issuer:          s.issuer,
		Subject:         g.userID,
		Audience:        g.client.ID,
		Expiry:          now.Add(s.cfg.IDTokenTTL).Unix(),
		IssuedAt:        now.Unix(),
		AuthTime:        unixOrZero(g.authTime),
		Nonce:           g.nonce,
		AuthorizedParty: g.client.ID,
		SessionID:       g.sessionID,
		ACR:             acrOf(g.amr),
		AMR:             g.amr,
	}
	userClaims(&claims, g.user, g.idTokenClaims, g.scopes)
	// at_hash depends on the algorithm of the ID token's own signature.
	// The same current key normally signs both tokens; if a rotation
	// happened in between, sign once more with the hash of the new key's
	// algorithm.
	alg := jwsAlgorithm(accessToken)
	for range 2 {
		h, err := accessTokenHash(alg, accessToken)
		if err != nil {
			return "", err
		}
		claims.AccessTokenHash = h
		tok, err := s.keys.Sign(typIDToken, claims)
		if err != nil {
			return "", fmt.Errorf("oauth: sign ID token: %w", err)
		}
		if got := jwsAlgorithm(tok); got == alg {
			return tok, nil
		} else {
			alg = got
		}
	}
	return "", errors.New("oauth: the signing algorithm changed twice while signing an ID token")
}

// accessTokenHash is at_hash (OIDC Core 3.1.3.6): the base64url left half
// of the hash of the access token, with the hash of the ID token's
// algorithm: SHA-256 for ES256 and RS256; SHA-512 for EdDSA with Ed25519
// (OIDC Core errata set 2).
func accessTokenHash(alg, accessToken string) (string, error) {
	var h hash.Hash
	switch alg {
	case "ES256", "RS256":
		h = sha256.New()
	case "EdDSA":
		h = sha512.New()
	default:
		return "", fmt.Errorf("oauth: no at_hash for the algorithm %q", alg)
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

// jwsAlgorithm reads the alg of a JWS we signed ourselves ("" if it
// cannot).
func jwsAlgorithm(token string) string {
	header, _, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.Alg
}

// newJTI returns 128 random bits, base64url-encoded.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("oauth: read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// newFamilyID returns the ID of a new token family.
func newFamilyID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("oauth: read random bytes: %w", err)
	}
	return "fam_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// refreshTTLs returns the idle and absolute refresh-token lifetimes of a
// client.
func (s *Server) refreshTTLs(c *auth.Client) (idle, absolute time.Duration) {
	idle, absolute = s.cfg.RefreshTokenTTL, s.cfg.RefreshTokenMaxTTL
	if c.RefreshTokenTTL > 0 {
		idle = c.RefreshTokenTTL
	}
	if c.RefreshTokenMaxTTL > 0 {
		absolute = c.RefreshTokenMaxTTL
	}
	return idle, absolute
}

// wantsRefreshToken reports whether a code exchange gets a refresh token:
// the client must be allowed the refresh_token grant and the user must
// have granted offline_access (OIDC Core 11).
func wantsRefreshToken(c *auth.Client, scopes []string) bool {
	return slices.Contains(c.GrantTypes, auth.GrantRefreshToken) && slices.Contains(scopes, ScopeOfflineAccess)
}

// issueUserTokens issues the tokens of a grant with a user (code exchange
// and refresh): the access token, recorded in its family; a refresh token
// when asked to (the first of a family, or the next one in a rotation,
// stored by store); and an ID token when openid was granted.
func (s *Server) issueUserTokens(ctx context.Context, g *grant, now time.Time, storeRefresh func(hash []byte, issued *auth.IssuedToken) error) (*tokenResponse, error) {
	at, err := s.issueAccessToken(g, now)
	if err != nil {
		return nil, err
	}
	issued := &auth.IssuedToken{JTI: at.jti, FamilyID: g.familyID, ExpiresAt: at.expires}
	resp := &tokenResponse{
		AccessToken: at.token,
		TokenType:   tokenType(g.jkt),
		ExpiresIn:   int64(at.ttl / time.Second),
		Scope:       strings.Join(g.scopes, " "),
		userID:      g.userID,
	}
	if storeRefresh != nil {
		secret, hash, err := s.hasher.New(PrefixRefreshToken)
		if err != nil {
			return nil, err
		}
		if err := storeRefresh(hash, issued); err != nil {
			return nil, err
		}
		resp.RefreshToken = secret
	} else if err := s.store.RecordIssuedToken(ctx, issued); err != nil {
		if auth.ErrorCode(err) == auth.ECONFLICT {
			return nil, errCodeRevokedMeanwhile()
		}
		return nil, fmt.Errorf("oauth: record issued token: %w", err)
	}
	if slices.Contains(g.scopes, ScopeOpenID) {
		if resp.IDToken, err = s.issueIDToken(g, at.token, now); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// activeUser returns the user of a grant, or invalid_grant if the account
// is gone or disabled.
func (s *Server) activeUser(ctx context.Context, id string) (*auth.User, error) {
	u, err := s.accounts.Get(ctx, id)
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return nil, errInvalidGrant("The user of this grant no longer exists.")
		}
		return nil, err
	}
	if u.Disabled() {
		return nil, errInvalidGrant("The user of this grant is disabled.")
	}
	return u, nil
}

// familyRevokedEvent is the audit event of revoking a token family.
func familyRevokedEvent(now time.Time, actor, clientID, familyID, reason string) auth.AuditEvent {
	return auth.AuditEvent{
		Time: now, Type: auth.EventFamilyRevoked, Actor: actor, KeyID: clientID, Reason: reason, Count: 1,
		Details: map[string]string{"client_id": clientID, "family_id": familyID},
	}
}
