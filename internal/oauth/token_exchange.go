package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/gatehouse-dev/gatehouse/internal/accesstoken"
	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// Token type identifiers of RFC 8693 3 that the token exchange takes and
// issues. Both name a JWT access token here: Gatehouse's access tokens
// are JWTs, and so must a trusted issuer's be.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// maxExchangeTokenBytes bounds a subject or actor token: far more than any
// JWT access token, far less than the form allows.
const maxExchangeTokenBytes = 8 << 10

// issuerKeysWait bounds the wait for another issuer's keys when its
// verifier has none yet.
const issuerKeysWait = 5 * time.Second

// exchangeRequest is a token exchange request (RFC 8693 2.1), checked for
// form only.
type exchangeRequest struct {
	subjectToken, subjectTokenType string
	actorToken, actorTokenType     string
	requestedTokenType             string // TokenTypeAccessToken or TokenTypeJWT
	targets                        []string
	scope                          string
}

// parseExchangeRequest reads the parameters of RFC 8693 2.1 from the form.
// Everything wrong with them is invalid_request, save an over-long target
// list, which is invalid_target; what the tokens hold is checked later.
func parseExchangeRequest(form url.Values) (*exchangeRequest, error) {
	get := form.Get
	req := &exchangeRequest{
		subjectToken: get("subject_token"), subjectTokenType: get("subject_token_type"),
		actorToken: get("actor_token"), actorTokenType: get("actor_token_type"),
		requestedTokenType: get("requested_token_type"), scope: get("scope"),
	}
	switch {
	case req.subjectToken == "":
		return nil, errInvalidRequest("The subject_token parameter is missing.")
	case req.subjectTokenType == "":
		return nil, errInvalidRequest("The subject_token_type parameter is missing.")
	case !exchangeableType(req.subjectTokenType):
		return nil, errInvalidRequest("The subject_token_type is not supported: use %s or %s.", TokenTypeAccessToken, TokenTypeJWT)
	case req.actorToken == "" && req.actorTokenType != "":
		return nil, errInvalidRequest("The actor_token_type parameter needs an actor_token.")
	case req.actorToken != "" && req.actorTokenType == "":
		return nil, errInvalidRequest("The actor_token parameter needs an actor_token_type.") // RFC 8693 2.1
	case req.actorToken != "" && !exchangeableType(req.actorTokenType):
		return nil, errInvalidRequest("The actor_token_type is not supported: use %s or %s.", TokenTypeAccessToken, TokenTypeJWT)
	case len(req.subjectToken) > maxExchangeTokenBytes || len(req.actorToken) > maxExchangeTokenBytes:
		return nil, errInvalidRequest("A token is too long.")
	}
	switch req.requestedTokenType {
	case "":
		req.requestedTokenType = TokenTypeAccessToken
	case TokenTypeAccessToken, TokenTypeJWT:
	default:
		return nil, errInvalidRequest("The requested_token_type is not supported: use %s or %s.", TokenTypeAccessToken, TokenTypeJWT)
	}
	req.targets = append(slices.Clone(form["resource"]), form["audience"]...)
	if len(req.targets) > maxResources {
		return nil, errInvalidTarget("Too many resource and audience parameters.")
	}
	return req, nil
}

func exchangeableType(t string) bool { return t == TokenTypeAccessToken || t == TokenTypeJWT }

// grantTokenExchange is the token exchange grant (RFC 8693 2): a client
// trades a subject token (a user's access token, usually) for one scoped
// down to an audience of its own (resource or audience, RFC 8693 2.1 and
// RFC 8707) and to scopes both the subject token and the client hold.
//
// The subject token is this server's own access token, checked as
// introspection checks it (signature, lifetime, revocation list, client
// and user still active), or one of an issuer the client lists in
// ExchangeIssuers, checked against that issuer's JWKS and addressed to the
// client or to this server. A foreign subject gets a sub of this server's
// derived from its issuer and subject (foreignSubject), and a sub_id
// naming both. A DPoP-bound subject or actor token is taken only with a
// proof of its key.
//
// Delegation (RFC 8693 1.1) is the rule: the token carries act naming the
// client as the actor, the subject token's own act chain nested below it
// (4.1). An actor_token of this server must be the client's own token: it
// names the client again. One of a trusted issuer names a party that
// called the client: it nests below the client, above the subject token's
// chain, so the client is never left out of it. A client allowed
// impersonation that sends no actor_token gets a token without a new act.
// The issued token lives at most as long as the subject token, and comes
// without a refresh token (2.2.1).
func (s *Server) grantTokenExchange(ctx context.Context, c *auth.Client, form url.Values) (*tokenResponse, error) {
	if c.Public {
		// Its act claim would name a party nobody authenticated.
		return nil, errUnauthorizedClient("The token exchange grant is only for confidential clients.")
	}
	req, err := parseExchangeRequest(form)
	if err != nil {
		return nil, err
	}
	now := s.now()
	subject, foreign, err := s.exchangedToken(ctx, c, req.subjectToken, "subject")
	if err != nil {
		return nil, err
	}
	// A bound token is worth nothing without its key (RFC 9449): the
	// exchange must not turn a stolen one into a token that is not.
	if err := checkBoundTo(subject.JKT, dpopJKT(ctx), "subject token"); err != nil {
		return nil, err
	}
	sub, subID := subject.Subject, (*accesstoken.SubjectID)(nil)
	switch {
	case foreign:
		sub = foreignSubject(subject.Issuer, subject.Subject)
		subID = &accesstoken.SubjectID{Format: subjectIDFormat, Issuer: subject.Issuer, Subject: subject.Subject}
	case isForeignSubject(subject.Subject):
		// Exchanged for a foreign subject before: keep saying whose it is.
		subID = tokenSubjectID(req.subjectToken, subject.Subject)
	}
	act := subject.Actor // impersonation keeps the subject token's own chain
	if req.actorToken != "" {
		actor, actorForeign, err := s.exchangedToken(ctx, c, req.actorToken, "actor")
		if err != nil {
			return nil, err
		}
		if err := checkBoundTo(actor.JKT, dpopJKT(ctx), "actor token"); err != nil {
			return nil, err
		}
		if actorForeign {
			// act.sub is carried as is (act.iss says whose it is): it must
			// not pass for one of ours with a reader that skips act.iss.
			if looksLocal(actor.Subject) {
				return nil, errInvalidGrant("The actor token's subject looks like one of this server's own.")
			}
			// The party that called the client, below the client itself.
			act = accesstoken.Delegate(verify.Actor{Subject: actor.Subject, Issuer: actor.Issuer}, subject.Actor)
			act = accesstoken.Delegate(verify.Actor{Subject: c.ID}, act)
		} else {
			// Any other token of ours would let the client name someone
			// else (another client, the user) as the actor, and drop itself.
			if actor.Subject != c.ID || actor.ClientID != c.ID {
				return nil, errInvalidGrant("An actor token of this server must be the client's own token.")
			}
			act = accesstoken.Delegate(verify.Actor{Subject: c.ID}, subject.Actor)
		}
	} else if !c.AllowImpersonation {
		act = accesstoken.Delegate(verify.Actor{Subject: c.ID}, subject.Actor)
	}
	if act.Depth() > verify.MaxActorDepth {
		return nil, errInvalidGrant("The subject token's chain of actors is too long to extend.")
	}
	scopes, err := exchangeScopes(c, subject, foreign || isForeignSubject(subject.Subject), req.scope)
	if err != nil {
		return nil, err
	}
	auds, err := s.resolveAudiences(c, req.targets)
	if err != nil {
		return nil, err
	}
	exp := now.Add(s.accessTokenTTL(c))
	if subject.ExpiresAt.Before(exp) {
		exp = subject.ExpiresAt
	}
	var authTime time.Time
	userID := ""
	if !foreign && isUserToken(subject) {
		authTime, userID = subject.AuthTime, subject.Subject
	}
	tok, err := accesstoken.Sign(s.keys, &accesstoken.Exchange{
		Issuer:    s.issuer,
		Subject:   sub,
		SubjectID: subID,
		ClientID:  c.ID,
		Audience:  auds,
		Scope:     strings.Join(scopes, " "),
		AuthTime:  authTime,
		Actor:     act,
		JKT:       dpopJKT(ctx),
		IssuedAt:  now,
		ExpiresAt: exp,
	})
	if err != nil {
		return nil, err
	}
	return &tokenResponse{
		AccessToken:     tok.Value,
		IssuedTokenType: req.requestedTokenType,
		TokenType:       tokenType(dpopJKT(ctx)),
		ExpiresIn:       int64(tok.ExpiresAt.Sub(now) / time.Second),
		Scope:           strings.Join(scopes, " "),
		userID:          userID,
	}, nil
}

// subjectIDFormat is the format of the sub_id claims of exchanged tokens
// (RFC 9493 3.2.3).
const subjectIDFormat = "iss_sub"

// foreignSubjectPrefix starts the sub of a token exchanged for another
// issuer's: no ID of this server's users (account.IDPrefix) or clients
// (client.IDPrefix) starts so.
const foreignSubjectPrefix = "ext_"

// foreignSubject is the sub of a token exchanged for a subject token of
// issuer iss naming sub: the same for the same pair, different for equal
// subjects of two issuers, never one of this server's own. 192 bits of
// SHA-256 keep collisions out of reach; sub_id carries the pair itself.
func foreignSubject(iss, sub string) string {
	h := sha256.Sum256([]byte(iss + "\x00" + sub))
	return foreignSubjectPrefix + base64.RawURLEncoding.EncodeToString(h[:24])
}

// isForeignSubject reports whether sub is that of a foreign subject
// (foreignSubject).
func isForeignSubject(sub string) bool { return strings.HasPrefix(sub, foreignSubjectPrefix) }

// looksLocal reports whether sub could be taken for one of this server's
// users or clients.
func looksLocal(sub string) bool {
	return strings.HasPrefix(sub, account.IDPrefix) || strings.HasPrefix(sub, client.IDPrefix)
}

// tokenSubjectID is the sub_id claim of a token of ours whose signature
// has been checked, nil if it has none or one that does not match its
// sub.
func tokenSubjectID(token, sub string) *accesstoken.SubjectID {
	_, rest, _ := strings.Cut(token, ".")
	payload, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var c struct {
		SubID *accesstoken.SubjectID `json:"sub_id"`
	}
	if jsonv2.Unmarshal(raw, &c, jsonv2.RejectUnknownMembers(false)) != nil || c.SubID == nil ||
		c.SubID.Format != subjectIDFormat || foreignSubject(c.SubID.Issuer, c.SubID.Subject) != sub {
		return nil
	}
	return c.SubID
}

// isUserToken reports whether an access token of ours was issued for a
// user rather than for a client: a client's own token (client
// credentials: sub is its client_id), or one exchanged for a client's
// token, whose sub is that client's ID and which, having no sign-in, has
// no auth_time. A token exchanged for a foreign subject is no user's
// either.
func isUserToken(c *verify.Claims) bool {
	if isForeignSubject(c.Subject) {
		return false
	}
	if c.Subject == c.ClientID {
		return !c.AuthTime.IsZero()
	}
	return !c.AuthTime.IsZero() || !client.ValidID(c.Subject)
}

// subjectActive reports whether the subject of an access token of ours is
// still there: a user that exists and is enabled, or a client that exists
// (verifyAccessToken has already checked the token's own client). A
// foreign subject is not this server's to check: its token is active
// while it is valid and not revoked, which verifyAccessToken has checked.
func (s *Server) subjectActive(ctx context.Context, c *verify.Claims) (bool, error) {
	switch {
	case isForeignSubject(c.Subject):
		return true, nil
	case isUserToken(c):
		return s.userActive(ctx, c.Subject)
	case c.Subject == c.ClientID:
		return true, nil
	}
	if _, err := s.clients.Lookup(ctx, c.Subject); err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// exchangedToken verifies a subject or actor token (what names which in
// the errors): this server's own access token, checked as introspection
// checks it, or a token of an issuer the client may exchange tokens of.
// foreign says which. Any token it cannot accept is invalid_grant.
func (s *Server) exchangedToken(ctx context.Context, c *auth.Client, token, what string) (claims *verify.Claims, foreign bool, err error) {
	iss, ok := tokenIssuer(token)
	if !ok {
		return nil, false, errInvalidGrant("The %s token is not a JWT.", what)
	}
	if iss == s.issuer {
		claims, err := s.verifyAccessToken(ctx, token)
		if err != nil {
			return nil, false, err
		}
		if claims == nil {
			return nil, false, errInvalidGrant("The %s token is invalid, expired or revoked.", what)
		}
		if ok, err := s.subjectActive(ctx, claims); err != nil {
			return nil, false, err
		} else if !ok {
			return nil, false, errInvalidGrant("The subject of the %s token no longer exists or is disabled.", what)
		}
		return claims, false, nil
	}
	if !slices.Contains(c.ExchangeIssuers, iss) {
		return nil, false, errInvalidGrant("The client may not exchange tokens of the %s token's issuer.", what)
	}
	v, err := s.issuers.verifier(iss)
	if err != nil {
		return nil, false, err
	}
	// A verifier made just now has no keys yet: wait for them a little,
	// rather than refuse the first exchange after a start.
	wait, cancel := context.WithTimeout(ctx, issuerKeysWait)
	err = v.Ready(wait)
	cancel()
	if err != nil {
		return nil, false, errTemporarilyUnavailable(err)
	}
	claims, err = v.Verify(ctx, token)
	if err != nil {
		if verify.ReasonOf(err) == verify.ReasonKeysUnavailable {
			return nil, false, errTemporarilyUnavailable(err)
		}
		return nil, false, errInvalidGrant("The %s token is invalid or expired.", what)
	}
	// Another issuer's token is exchanged only by the party it was meant
	// for: a token addressed to some other service, replayed here, is not.
	if !claims.HasAudience(c.ID) && !claims.HasAudience(s.issuer) {
		return nil, false, errInvalidGrant("The %s token is addressed neither to the client nor to this server.", what)
	}
	if claims.Subject == "" {
		return nil, false, errInvalidGrant("The %s token names no subject.", what)
	}
	return claims, true, nil
}

// exchangeScopes are the scopes of an exchanged token: those requested,
// each of which the subject token and the client must both hold
// (invalid_scope otherwise), or without a request every scope they both
// hold. A foreign subject is no user of this server: the scopes of OpenID
// Connect, which open its userinfo, are not for it.
func exchangeScopes(c *auth.Client, subject *verify.Claims, foreign bool, requested string) ([]string, error) {
	allowed := func(sc string) bool {
		return slices.Contains(subject.Scopes, sc) && slices.Contains(c.Scopes, sc) && !(foreign && oidcScope(sc))
	}
	if requested == "" {
		var out []string
		for _, sc := range subject.Scopes {
			if allowed(sc) && !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
		return out, nil
	}
	scopes, err := parseScope(requested)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		if !allowed(sc) {
			return nil, errInvalidScope("The scope %q is not held by both the subject token and the client.", sc)
		}
	}
	return scopes, nil
}

func oidcScope(sc string) bool {
	return sc == ScopeOpenID || sc == ScopeProfile || sc == ScopeEmail || sc == ScopeOfflineAccess
}

// tokenIssuer reads the iss claim of a compact JWS without verifying it,
// only to choose the verifier that will. ok is false for anything that is
// not three base64url parts with a JSON object as the payload.
func tokenIssuer(token string) (iss string, ok bool) {
	if len(token) > maxExchangeTokenBytes || strings.Count(token, ".") != 2 {
		return "", false
	}
	_, rest, _ := strings.Cut(token, ".")
	payload, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", false
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if jsonv2.Unmarshal(raw, &c) != nil || c.Issuer == "" {
		return "", false
	}
	return c.Issuer, true
}
