package mfa

import (
	"crypto/rand"
	"strings"
)

// CodeKind is what ParseCode recognised.
type CodeKind int

// Kinds of code a user may type.
const (
	CodeInvalid  CodeKind = iota
	CodeTOTP              // six digits from an authenticator app
	CodeRecovery          // one of the ten recovery codes
)

// maxCodeInput bounds what ParseCode reads: longer input is no code.
const maxCodeInput = 64

// recoveryAlphabet is Crockford's base32: digits and lower-case letters
// without i, l, o and u, so a code read from paper is not misread.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// RecoveryCodeLen is the length of a recovery code without its hyphen:
// 50 bits, single use, behind the throttle.
const RecoveryCodeLen = 10

// RecoveryCodeCount is how many recovery codes a user gets at once.
const RecoveryCodeCount = 10

// ParseCode reads a code as a user types it: spaces and hyphens anywhere
// are ignored, and so is letter case. Six digits are a TOTP code; ten
// characters of the recovery alphabet (where i and l read as 1 and o as
// 0) are a recovery code. It returns the kind and the code's canonical
// form (the digits, or the ten lower-case characters); CodeInvalid and ""
// for anything else, including input over 64 bytes.
func ParseCode(s string) (CodeKind, string) {
	if len(s) > maxCodeInput {
		return CodeInvalid, ""
	}
	var b strings.Builder
	b.Grow(len(s))
	digits := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '\t':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		switch c {
		case 'i', 'l':
			c = '1'
			digits = false // a TOTP code is typed as digits
		case 'o':
			c = '0'
			digits = false
		}
		if strings.IndexByte(recoveryAlphabet, c) < 0 {
			return CodeInvalid, ""
		}
		if c > '9' {
			digits = false
		}
		if b.Len() >= RecoveryCodeLen {
			return CodeInvalid, ""
		}
		b.WriteByte(c)
	}
	norm := b.String()
	switch {
	case len(norm) == Digits && digits:
		return CodeTOTP, norm
	case len(norm) == RecoveryCodeLen:
		return CodeRecovery, norm
	}
	return CodeInvalid, ""
}

// FormatRecoveryCode shows a canonical recovery code as it is printed:
// two groups of five, "abcde-fghjk".
func FormatRecoveryCode(norm string) string {
	if len(norm) != RecoveryCodeLen {
		return norm
	}
	return norm[:5] + "-" + norm[5:]
}

// newRecoveryCode returns a random canonical recovery code.
func newRecoveryCode() (string, error) {
	var b [RecoveryCodeLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = recoveryAlphabet[b[i]&31] // 256 is a multiple of 32: no bias
	}
	return string(b[:]), nil
}
