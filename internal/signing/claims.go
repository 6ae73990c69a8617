package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// Claims are the registered JWT claims (RFC 7519 §4.1) and the ones RFC
// 9068 and OpenID Connect Core add that Gatehouse issues. Verify fills one
// from a verified token; issuers may also pass one to Sign. Dates carry
// omitzero as well as omitempty so that encoding/json and json/v2 both
// leave an absent date out.
type Claims struct {
	Issuer    string      `json:"iss,omitempty"`
	Subject   string      `json:"sub,omitempty"`
	Audience  Audience    `json:"aud,omitempty"`
	Expiry    NumericDate `json:"exp,omitempty,omitzero"`
	NotBefore NumericDate `json:"nbf,omitempty,omitzero"`
	IssuedAt  NumericDate `json:"iat,omitempty,omitzero"`
	ID        string      `json:"jti,omitempty"`
	ClientID  string      `json:"client_id,omitempty"`
	Scope     string      `json:"scope,omitempty"` // space-separated (RFC 9068 §2.2.3)
	AuthTime  NumericDate `json:"auth_time,omitempty,omitzero"`
	Nonce     string      `json:"nonce,omitempty"`
	SessionID string      `json:"sid,omitempty"`
}

// Audience is the aud claim: a single string or an array of strings on the
// wire (RFC 7519 §4.1.3). It marshals a single audience as a string.
type Audience []string

// Contains reports whether aud is one of the audiences.
func (a Audience) Contains(aud string) bool {
	for _, s := range a {
		if s == aud {
			return true
		}
	}
	return false
}

// MarshalJSON writes one audience as a string and several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

var errAudience = errors.New("aud is neither a string nor an array of strings")

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return errAudience
		}
		*a = Audience{s}
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var ss []string
		if err := json.Unmarshal(b, &ss); err != nil {
			return errAudience
		}
		*a = ss
		return nil
	}
	if string(b) == "null" {
		*a = nil
		return nil
	}
	return errAudience
}

// UnmarshalJSONFrom is UnmarshalJSON for json/v2, reading tokens in place.
func (a *Audience) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 'n':
		*a = nil
		return nil
	case '"':
		*a = Audience{tok.String()}
		return nil
	case '[':
	default:
		return errAudience
	}
	out := Audience{}
	for dec.PeekKind() != ']' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if tok.Kind() != '"' {
			return errAudience
		}
		out = append(out, tok.String())
	}
	if _, err := dec.ReadToken(); err != nil { // the closing ]
		return err
	}
	*a = out
	return nil
}

// NumericDate is a JWT time: seconds since the Unix epoch (RFC 7519 §2).
// Zero means absent.
type NumericDate int64

// NewNumericDate returns t in whole seconds (rounded down); the zero time
// gives 0, which marshals as an absent claim.
func NewNumericDate(t time.Time) NumericDate {
	if t.IsZero() {
		return 0
	}
	return NumericDate(t.Unix())
}

// Time returns the date as a time.Time in UTC; the zero time for 0.
func (d NumericDate) Time() time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(int64(d), 0).UTC()
}

// maxNumericDate bounds accepted dates to the year 9999 or so, keeping
// every arithmetic on them far from overflow.
const maxNumericDate = 253402300799

var errNumericDate = errors.New("a date claim is not a number of seconds in range")

// UnmarshalJSON accepts an integer or a decimal number of seconds (RFC 7519
// allows fractions; they are dropped).
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		*d = 0
		return nil
	}
	return d.parse(s)
}

// UnmarshalJSONFrom is UnmarshalJSON for json/v2, which Verify decodes
// with: reading the token in place spares a copy and a second scan.
func (d *NumericDate) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 'n':
		*d = 0
		return nil
	case '0':
		return d.parse(tok.String())
	}
	return errNumericDate
}

// parse reads the text of a JSON number.
func (d *NumericDate) parse(s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > maxNumericDate {
			return errNumericDate
		}
		*d = NumericDate(n)
		return nil
	}
	// Only a JSON number gets here: encoding/json has checked the syntax.
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return errNumericDate
	}
	*d = NumericDate(math.Floor(f))
	return nil
}
