// Package accesstoken builds and signs the access tokens Gatehouse issues
// in exchange for another credential (RFC 8693): those of the token
// endpoint's token-exchange grant and the internal JWTs the gateway sends
// its upstreams. Both go through Sign, so an upstream sees one kind of
// exchanged token whoever issued it: an RFC 9068 access token for the
// subject, with an act claim naming who acts for it.
package accesstoken

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/verify"
)

// Type is the typ header of the tokens (RFC 9068 2.1).
const Type = "at+jwt"

// InternalJTIPrefix starts the jti of every internal token the gateway
// mints for its upstreams. The authorization server's jtis are base32,
// which has no '.', so the prefix tells the two apart: the gateway refuses
// an internal token an upstream replays to it, and the authorization
// server refuses one at userinfo, introspection and the token exchange,
// instead of taking it for an access token of its own.
const InternalJTIPrefix = "gw."

// SubjectID is the sub_id claim (RFC 9493 4.1) in the iss_sub format (RFC
// 9493 3.2.3): the issuer and subject a token exchanged for another
// issuer's token was issued for, whose own sub is a name of this server's
// derived from both.
type SubjectID struct {
	Format  string `json:"format"` // always "iss_sub"
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
}

// Signer signs a JWT with Gatehouse's current key; *signing.Keyring
// implements it.
type Signer interface {
	Sign(typ string, claims any) (string, error)
}

// Exchange describes a token to issue for a subject.
type Exchange struct {
	Issuer   string
	Subject  string // sub of the subject token (or the caller's identity at the gateway)
	ClientID string
	Audience []string
	Scope    string    // space-separated
	AuthTime time.Time // when the subject's user signed in; zero if unknown
	// Actor is the act claim: who acts for Subject, with whoever acted
	// before nested in it (see Delegate). nil only for impersonation,
	// where the subject token had no act of its own.
	Actor     *verify.Actor
	IssuedAt  time.Time
	ExpiresAt time.Time
	// JTIPrefix starts the jti, which is otherwise 128 random bits in
	// base32: the gateway marks its internal tokens with one so that it
	// can refuse them when an upstream replays one.
	JTIPrefix string
	// The gateway's: how the caller authenticated (gatehouse_auth) and
	// which API key it used (gatehouse_key_id).
	Auth, KeyID string
	// JKT binds the token to a DPoP key (cnf.jkt, RFC 9449 6.1); "" for a
	// bearer token.
	JKT string
	// SubjectID is the sub_id claim: the original issuer and subject of a
	// subject of another issuer; nil otherwise.
	SubjectID *SubjectID
	// AMR and ACR say how the subject's user signed in (amr, RFC 8176;
	// acr), carried over from the subject's own token so that an upstream
	// requiring a second factor (verify.RequireMFA) sees it; empty when
	// that token said nothing of a sign-in.
	AMR []string
	ACR string
}

// Token is a signed exchanged token.
type Token struct {
	Value     string
	ID        string // jti
	ExpiresAt time.Time
}

// claims is the claims set on the wire. aud is always an array, which
// every verifier accepts (RFC 7519 4.1.3).
type claims struct {
	Issuer   string        `json:"iss"`
	Subject  string        `json:"sub,omitempty"`
	Audience []string      `json:"aud"`
	ClientID string        `json:"client_id,omitempty"`
	Scope    string        `json:"scope,omitempty"`
	IssuedAt int64         `json:"iat"`
	Expiry   int64         `json:"exp"`
	AuthTime int64         `json:"auth_time,omitempty"`
	ID       string        `json:"jti"`
	Act      *verify.Actor `json:"act,omitempty"`
	Auth     string        `json:"gatehouse_auth,omitempty"`
	KeyID    string        `json:"gatehouse_key_id,omitempty"`
	Cnf      *cnf          `json:"cnf,omitempty"`
	SubID    *SubjectID    `json:"sub_id,omitempty"`
	AMR      []string      `json:"amr,omitempty"`
	ACR      string        `json:"acr,omitempty"`
}

// cnf is the confirmation claim of a DPoP-bound token (RFC 9449 6.1).
type cnf struct {
	JKT string `json:"jkt"`
}

// Sign signs the token x describes.
func Sign(s Signer, x *Exchange) (Token, error) {
	if x.Issuer == "" || len(x.Audience) == 0 || !x.ExpiresAt.After(x.IssuedAt) {
		return Token{}, errors.New("accesstoken: an exchanged token needs an issuer, an audience and a lifetime")
	}
	if x.Actor.Depth() > verify.MaxActorDepth {
		return Token{}, fmt.Errorf("accesstoken: the act chain is longer than %d actors", verify.MaxActorDepth)
	}
	c := claims{
		Issuer:   x.Issuer,
		Subject:  x.Subject,
		Audience: x.Audience,
		ClientID: x.ClientID,
		Scope:    x.Scope,
		IssuedAt: x.IssuedAt.Unix(),
		Expiry:   x.ExpiresAt.Unix(),
		ID:       x.JTIPrefix + rand.Text(),
		Act:      x.Actor,
		Auth:     x.Auth,
		KeyID:    x.KeyID,
		SubID:    x.SubjectID,
		AMR:      x.AMR,
		ACR:      x.ACR,
	}
	if !x.AuthTime.IsZero() {
		c.AuthTime = x.AuthTime.Unix()
	}
	if x.JKT != "" {
		c.Cnf = &cnf{JKT: x.JKT}
	}
	tok, err := s.Sign(Type, c)
	if err != nil {
		return Token{}, fmt.Errorf("accesstoken: sign: %w", err)
	}
	return Token{Value: tok, ID: c.ID, ExpiresAt: time.Unix(c.Expiry, 0)}, nil
}

// Delegate is the act claim of a token issued with actor acting for a
// subject whose own token said prior acted for it: actor on top, the
// prior chain nested below it (RFC 8693 4.1). It returns the chain
// unchanged when actor already heads it (the same party exchanging its
// own exchanged token again), so that repeated exchanges do not grow it.
func Delegate(actor verify.Actor, prior *verify.Actor) *verify.Actor {
	if prior != nil && prior.Subject == actor.Subject && prior.Issuer == actor.Issuer {
		return prior
	}
	actor.Actor = prior
	return &actor
}
