package verify

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// Claims of a verified access token (RFC 9068). Shared and read-only when
// served from the cache: the same *Claims is returned to every caller that
// presents the same token, so callers must not modify it.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ExpiresAt time.Time
	NotBefore time.Time // zero if absent
	IssuedAt  time.Time // zero if absent
	ID        string    // jti
	ClientID  string    // client_id
	Scopes    []string  // the space-separated "scope" claim, split
	KeyID     string    // kid of the key that signed it
	AuthTime  time.Time // auth_time: when the user authenticated; zero if absent (no user)
	// JKT is cnf.jkt (RFC 9449 6.1): the SHA-256 JWK thumbprint of the
	// DPoP key the token is bound to; "" for a bearer token. A cnf claim
	// of another method (mTLS's x5t#S256, which this package cannot check)
	// gives UnsupportedConfirmation, which no proof matches: such a token
	// is never taken for a bearer token.
	JKT string
	// Actor is the act claim of a token issued by token exchange (RFC
	// 8693 4.1): the party acting for Subject, and nested in it whoever
	// acted before; nil when no one acts for the subject.
	Actor *Actor
	// AMR are the authentication methods of the user's sign-in (the amr
	// claim, RFC 8176: "pwd", "otp", "hwk", "mfa", ...) and ACR its
	// authentication context class (acr, OIDC Core 2); both empty when
	// the token says nothing of a sign-in (a client's own token). HasMFA
	// reads them.
	AMR []string
	ACR string
}

// Actor is an act claim (RFC 8693 4.1): who acts, and in Actor whoever
// acted before them (the chain of delegation, most recent first). Only
// the identity claims are kept; the rest of an act object is ignored.
type Actor struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"` // the actor's issuer, when not the token's
	Actor   *Actor `json:"act,omitempty"`
}

// MaxActorDepth bounds the chain of an act claim: a token whose act nests
// deeper is refused as malformed.
const MaxActorDepth = 8

// valid reports whether every actor of the chain names its subject.
func (a *Actor) valid() bool {
	for ; a != nil; a = a.Actor {
		if a.Subject == "" {
			return false
		}
	}
	return true
}

// Depth is the number of actors in the chain (0 for nil).
func (a *Actor) Depth() int {
	n := 0
	for ; a != nil; a = a.Actor {
		n++
	}
	return n
}

// MarshalJSON writes the claims as a JWT claims set (RFC 7519 §4.1, RFC
// 9068 §2.2): the names on the wire, dates as whole seconds, one audience
// as a string, scopes space-separated, empty claims left out. KeyID is a
// header parameter, not a claim, and is not written. Gatehouse's issuer
// signs its access tokens from this encoding, so that the claims it issues
// and the claims Verify reads are one type.
func (c Claims) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireClaims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Audience:  audience(c.Audience),
		Expiry:    wireDate(c.ExpiresAt),
		NotBefore: wireDate(c.NotBefore),
		IssuedAt:  wireDate(c.IssuedAt),
		ID:        c.ID,
		ClientID:  c.ClientID,
		Scope:     strings.Join(c.Scopes, " "),
		AuthTime:  wireDate(c.AuthTime),
		Act:       c.Actor,
		Cnf:       ConfirmationOf(c.JKT),
		AMR:       c.AMR,
		ACR:       c.ACR,
	})
}

// wireDate is t as a NumericDate in whole seconds (rounded down); 0, which
// is left out, for the zero time.
func wireDate(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

// HasScope reports whether s is one of the token's scopes.
func (c *Claims) HasScope(s string) bool {
	return c != nil && slices.Contains(c.Scopes, s)
}

// HasScopes reports whether the token holds every scope of all (true for
// an empty list).
func (c *Claims) HasScopes(all []string) bool {
	return c != nil && hasAll(c.Scopes, all)
}

// The amr value (RFC 8176 2) and the acr of Gatehouse (urn:gatehouse:acr:mfa)
// that say a sign-in used two factors.
const (
	AMRMFA = "mfa"
	ACRMFA = "urn:gatehouse:acr:mfa"
)

// HasMFA reports whether the token comes from a sign-in with two factors:
// its amr holds "mfa" (RFC 8176 2, what Gatehouse and most providers
// write for a second factor) or its acr is ACRMFA. A token that says
// nothing of a sign-in (a client's own, by client credentials) has
// neither. It is the one rule: CheckMFA, Middleware with
// Config.RequireMFA, RequireMFA and the Gatehouse gateway's require_mfa
// routes all ask it.
func (c *Claims) HasMFA() bool {
	return c != nil && (slices.Contains(c.AMR, AMRMFA) || c.ACR == ACRMFA)
}

// CheckMFA is nil for a token of a sign-in with two factors (HasMFA), and
// otherwise the refusal that asks for one: ReasonInsufficientUserAuthentication,
// which WriteError answers 401 with RFC 9470's challenge
// (error="insufficient_user_authentication", acr_values="urn:gatehouse:acr:mfa").
func (c *Claims) CheckMFA() error {
	if c.HasMFA() {
		return nil
	}
	return refuse(ReasonInsufficientUserAuthentication, "the sign-in did not use a second factor")
}

// HasAudience reports whether aud is one of the token's audiences.
func (c *Claims) HasAudience(aud string) bool {
	return c != nil && slices.Contains(c.Audience, aud)
}

func hasAll(held, want []string) bool {
	for _, s := range want {
		if !slices.Contains(held, s) {
			return false
		}
	}
	return true
}

// wireClaims is the JSON form of Claims, both ways: Verify decodes it and
// MarshalJSON encodes it. Other claims are ignored. Dates are NumericDate
// (RFC 7519 §2), which may have a fraction; zero stands for absent, which
// for exp is refused. omitempty applies to the encoding only.
type wireClaims struct {
	Issuer    string        `json:"iss,omitempty"`
	Subject   string        `json:"sub,omitempty"`
	Audience  audience      `json:"aud,omitempty"`
	Expiry    float64       `json:"exp,omitempty"`
	NotBefore float64       `json:"nbf,omitempty"`
	IssuedAt  float64       `json:"iat,omitempty"`
	ID        string        `json:"jti,omitempty"`
	ClientID  string        `json:"client_id,omitempty"`
	Scope     string        `json:"scope,omitempty"`
	AuthTime  float64       `json:"auth_time,omitempty"`
	Cnf       *Confirmation `json:"cnf,omitempty"`
	Act       *Actor        `json:"act,omitempty"`
	AMR       []string      `json:"amr,omitempty"`
	ACR       string        `json:"acr,omitempty"`
}

// Confirmation is the cnf claim (RFC 7800 3.1) as DPoP uses it (RFC 9449
// 6.1), and the cnf member of an introspection answer (RFC 9449 6.2);
// other confirmation methods are ignored.
type Confirmation struct {
	JKT string `json:"jkt,omitempty"`
}

// ConfirmationOf is the cnf of a token bound to the key of thumbprint jkt
// (Claims.JKT); nil, which is left out, for a bearer token ("").
func ConfirmationOf(jkt string) *Confirmation {
	if jkt == "" {
		return nil
	}
	return &Confirmation{JKT: jkt}
}

// audience is aud: one string or an array of strings (RFC 7519 §4.1.3).
type audience []string

// MarshalJSON writes one audience as a string and several as an array.
func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := jsonv2.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var ss []string
	if err := jsonv2.Unmarshal(b, &ss); err != nil {
		return err
	}
	*a = ss
	return nil
}

// maxNumericDate is the last second of year 9999: a later date, a negative
// one or a non-finite one is refused as malformed rather than overflowing
// time.Time arithmetic.
const maxNumericDate = 253402300799

func numericDate(f float64) (time.Time, bool) {
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false
	}
	if f == 0 {
		return time.Time{}, true
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// decodeClaims decodes the payload strictly: json v2 matches names
// case-sensitively and refuses duplicate names, so no claim can be given
// twice with the second one winning, nor as "ISS" to slip past a check.
func decodeClaims(payload []byte, kid string) (*Claims, error) {
	var w wireClaims
	if err := jsonv2.Unmarshal(payload, &w); err != nil {
		return nil, refuse(ReasonMalformed, "claims are not a JSON object of the expected types")
	}
	if w.Expiry == 0 {
		return nil, refuse(ReasonMalformed, "no exp claim")
	}
	exp, ok1 := numericDate(w.Expiry)
	nbf, ok2 := numericDate(w.NotBefore)
	iat, ok3 := numericDate(w.IssuedAt)
	authTime, ok4 := numericDate(w.AuthTime)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, refuse(ReasonMalformed, "a date claim is out of range")
	}
	if w.Act.Depth() > MaxActorDepth || !w.Act.valid() {
		return nil, refuse(ReasonMalformed, "the act claim is malformed or nests too deep")
	}
	return &Claims{
		Issuer:    w.Issuer,
		Subject:   w.Subject,
		Audience:  []string(w.Audience),
		ExpiresAt: exp,
		NotBefore: nbf,
		IssuedAt:  iat,
		ID:        w.ID,
		ClientID:  w.ClientID,
		Scopes:    strings.Fields(w.Scope),
		KeyID:     kid,
		AuthTime:  authTime,
		Actor:     w.Act,
		JKT:       jktOf(w.Cnf),
		AMR:       w.AMR,
		ACR:       w.ACR,
	}, nil
}

// UnsupportedConfirmation is Claims.JKT for a cnf claim without jkt.
const UnsupportedConfirmation = "unsupported"

func jktOf(c *Confirmation) string {
	switch {
	case c == nil:
		return ""
	case c.JKT == "":
		return UnsupportedConfirmation
	}
	return c.JKT
}

// check applies the time, issuer and audience rules of RFC 9068 §4.
func (c *Claims) check(now time.Time, cfg *Config) error {
	if !now.Before(c.ExpiresAt.Add(cfg.Leeway)) {
		return refuse(ReasonExpired, "exp has passed")
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(cfg.Leeway)) {
		return refuse(ReasonNotYetValid, "nbf is in the future")
	}
	if !c.IssuedAt.IsZero() && c.IssuedAt.After(now.Add(cfg.Leeway)) {
		return refuse(ReasonNotYetValid, "iat is in the future")
	}
	if c.Issuer != cfg.Issuer {
		return refuse(ReasonWrongIssuer, "iss is not the configured issuer")
	}
	if cfg.Audience != "" && !c.HasAudience(cfg.Audience) {
		return refuse(ReasonWrongAudience, "aud does not hold the configured audience")
	}
	return nil
}
