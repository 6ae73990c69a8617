package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// People use the admin API with an access token of their own, beside admin
// API keys: `gatehouse login` signs a person in to the CLI through the
// device authorization grant (RFC 8628) of the CLI's first-party client,
// and the CLI sends the access token it got as a bearer token.
//
// Such a token is accepted when it is an RFC 9068 access token this server
// signed (package verify's one verification path, over the keyring's own
// JWKS), for the audience of the admin API (Audience), issued to the CLI's
// client, not on the revocation list, of a user who exists, is not
// disabled and has not changed their password since signing in. An admin
// then has every power an admin key has; a developer is refused (403):
// the admin API has no notion of owners, so the owner-scoped rights the
// dashboard gives developers are the dashboard's alone. The audit log
// names the user (their ID) as the actor.

// The CLI's first-party OAuth client. Every node creates it at start, or
// brings it up to date with the issuer.
const (
	CLIClientID   = "cli_gatehouse-cli"
	CLIClientName = "Gatehouse CLI"
	// CLIScopes are what the CLI asks for: a refresh token, so that a
	// sign-in lasts beyond one access token. What a person may do comes
	// from their role, read on each request.
	CLIScopes = oauth.ScopeOfflineAccess
)

// Audience is the audience (RFC 8707 resource indicator) of the admin API
// of the authorization server with that issuer: the tokens the admin API
// accepts carry it, and no other API's tokens do.
func Audience(issuer string) string { return strings.TrimSuffix(issuer, "/") + "/admin" }

// CLIClient is the CLI's client registration for an issuer: public (a CLI
// keeps no secret), the device and refresh grants only, no redirect URI,
// and the admin API as its one audience, so that its tokens are good for
// the admin API and nothing else.
func CLIClient(issuer string) client.Input {
	return client.Input{
		Name:       CLIClientName,
		Public:     true,
		AuthMethod: auth.AuthMethodNone,
		GrantTypes: []string{auth.GrantDeviceCode, auth.GrantRefreshToken},
		Scopes:     strings.Fields(CLIScopes),
		Audiences:  []string{Audience(issuer)},
	}
}

// TokenConfig lets the admin API accept people's access tokens (see
// above). All fields are required.
type TokenConfig struct {
	// Issuer is the authorization server's issuer URL: the tokens' iss,
	// and the base of their audience.
	Issuer string
	// JWKS supplies the keys that verify the tokens: the keyring's.
	JWKS func() (doc []byte, version string)
	// Leeway is the clock skew allowed on exp (the keyring's).
	Leeway time.Duration
	// Revocations is the revocation list (auth.TokenStore), read on every
	// request: the admin API is no hot path, and the store is the list
	// every node shares.
	Revocations RevocationChecker
}

// RevocationChecker reads the revocation list of access tokens.
type RevocationChecker interface {
	IsTokenRevoked(ctx context.Context, jti string) (bool, error)
}

var _ RevocationChecker = auth.TokenStore(nil)

// userTokens verifies people's tokens for a Server.
type userTokens struct {
	verifier *verify.Verifier
	revoked  RevocationChecker
}

func newUserTokens(cfg *TokenConfig, now auth.Now) (*userTokens, error) {
	if cfg.Issuer == "" || cfg.JWKS == nil || cfg.Revocations == nil {
		return nil, errors.New("admin: Config.Tokens needs Issuer, JWKS and Revocations")
	}
	v, err := verify.New(verify.Config{
		Issuer:     cfg.Issuer,
		Audience:   Audience(cfg.Issuer),
		Types:      []string{"at+jwt"},
		Algorithms: signing.SupportedAlgorithms(),
		Leeway:     cfg.Leeway,
		JWKS:       cfg.JWKS,
		Now:        now,
		// Every request reads the user anyway: a cache would save a
		// signature check and hold tokens in memory for nothing.
		CacheSize: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("admin: token verifier: %w", err)
	}
	return &userTokens{verifier: v, revoked: cfg.Revocations}, nil
}

// userBearer returns the bearer token of r when it is a JWT meant for
// authenticateUser: sent as Authorization: Bearer, without an X-API-Key
// header (which names an admin key), and shaped as a JWS (API keys hold
// no dot).
func userBearer(r *http.Request) (string, bool) {
	if len(r.Header.Values(apikey.HeaderAPIKey)) > 0 {
		return "", false
	}
	tok, ok := verify.BearerToken(r)
	if !ok || strings.Count(tok, ".") != 2 {
		return "", false
	}
	return tok, true
}

// tokenChallenge is the challenge of a refused access token (RFC 6750 3.1).
const tokenChallenge = bearerChallenge + `, error="invalid_token"`

// errBadToken is the one answer to every token that is not good: bad
// signature, expired, revoked, another audience or client, an unknown or
// disabled user. Which of them is not said.
func errBadToken() error {
	return auth.Errorf(auth.EUNAUTHORIZED, "The access token is not valid for the admin API: expired, revoked, or not issued to the Gatehouse CLI for an active user; sign in again with `gatehouse login`.")
}

// authenticateUser verifies a person's access token and returns their user
// ID, the actor of what the request changes. EUNAUTHORIZED for a token
// that is not good, EFORBIDDEN for a user who is not an admin.
func (s *Server) authenticateUser(w http.ResponseWriter, r *http.Request, token string) (string, error) {
	ctx := r.Context()
	refuse := func() (string, error) {
		w.Header().Set("WWW-Authenticate", tokenChallenge)
		return "", errBadToken()
	}
	claims, err := s.tokens.verifier.Verify(ctx, token)
	if err != nil {
		if verify.ReasonOf(err) == verify.ReasonKeysUnavailable {
			return "", fmt.Errorf("admin: verify access token: %w", err)
		}
		return refuse()
	}
	// A token without a jti could not be revoked; one of another client
	// (any client may be given the admin audience by an admin) is not the
	// CLI's sign-in.
	if claims.ID == "" || claims.ClientID != CLIClientID || claims.Subject == "" {
		return refuse()
	}
	// A DPoP-bound token (RFC 9449) is worth nothing without a proof of
	// its key, which the admin API does not take: presented as a bearer
	// token, it may have been stolen.
	if claims.JKT != "" {
		return refuse()
	}
	revoked, err := s.tokens.revoked.IsTokenRevoked(ctx, claims.ID)
	if err != nil {
		return "", fmt.Errorf("admin: check revocation list: %w", err)
	}
	if revoked {
		return refuse()
	}
	u, err := s.users.Get(ctx, claims.Subject)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return refuse()
	}
	if err != nil {
		return "", fmt.Errorf("admin: read the token's user: %w", err)
	}
	infoOf(r).userID = u.ID
	// A disabled account, or a password changed since the sign-in (the
	// dashboard's rule for its sessions), ends what the token could do.
	// auth_time has whole seconds: a change within the sign-in's second
	// counts as before it.
	if u.Disabled() || (!claims.AuthTime.IsZero() && u.PasswordChangedAt.Truncate(time.Second).After(claims.AuthTime)) {
		return refuse()
	}
	if u.Role != auth.RoleAdmin {
		return "", auth.Errorf(auth.EFORBIDDEN, "Your account has the %s role: the admin API is for administrators. Developers manage their owners' keys and clients in the dashboard.", u.Role)
	}
	return u.ID, nil
}
