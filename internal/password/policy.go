package password

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Policy bounds new passwords, after NIST SP 800-63B 5.1.1.2: a length
// range counted in Unicode code points after NFKC normalisation, no
// composition rules (no "one digit, one symbol"), and no password that is
// known to be common (the embedded breached list, see breached.go) or that
// is the account's own username. The zero Policy has the defaults.
type Policy struct {
	MinLength int // code points; 0: DefaultMinLength
	MaxLength int // code points; 0: DefaultMaxLength
}

// Policy defaults: NIST's minimum of 8 and room for passphrases well past
// its "at least 64".
const (
	DefaultMinLength = MinLength
	DefaultMaxLength = 128
)

// Messages of the policy, each naming what to do.
const (
	MessageBreached = "This password is on a list of passwords exposed in data breaches; choose another."
	MessageUsername = "The password must not be your username; choose another."
)

// Normalize returns the form of pw that is counted, compared and hashed:
// its Unicode NFKC normalisation (NIST SP 800-63B 5.1.1.2), so that the
// same password typed on two keyboards that compose characters
// differently is the same password.
func Normalize(pw string) string { return norm.NFKC.String(pw) }

// fold is the form compared with the breached list and the username:
// normalised and in lower case, so that "Password1" is refused with
// "password1".
func fold(pw string) string { return strings.ToLower(Normalize(pw)) }

// CheckPolicy returns an EINVALID *auth.Error, whose message tells the
// user what to change, if password may not be set for the account named
// username ("" when it has none yet to compare): not valid UTF-8, longer
// than MaxLength bytes, outside p's length range in code points after
// NFKC normalisation, equal to the username (ignoring case), or on the
// embedded list of breached passwords (ignoring case). It never refuses a
// password for what it is composed of.
func CheckPolicy(p Policy, username, password string) error {
	minLen, maxLen := p.MinLength, p.MaxLength
	if minLen <= 0 {
		minLen = DefaultMinLength
	}
	if maxLen <= 0 {
		maxLen = DefaultMaxLength
	}
	if len(password) > MaxLength {
		return auth.Errorf(auth.EINVALID, "The password must be at most %d characters long.", maxLen)
	}
	if !utf8.ValidString(password) {
		return auth.Errorf(auth.EINVALID, "The password must be valid UTF-8 text.")
	}
	n := Normalize(password)
	switch count := utf8.RuneCountInString(n); {
	case count < minLen:
		return auth.Errorf(auth.EINVALID, "The password must be at least %d characters long.", minLen)
	case count > maxLen || len(n) > MaxLength:
		return auth.Errorf(auth.EINVALID, "The password must be at most %d characters long.", maxLen)
	}
	folded := strings.ToLower(n)
	if username != "" && folded == fold(username) {
		return auth.Errorf(auth.EINVALID, MessageUsername)
	}
	if breached(folded) {
		return auth.Errorf(auth.EINVALID, MessageBreached)
	}
	return nil
}
