package oauth

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// User codes of the device grant (RFC 8628 6.1): 8 characters from 20
// consonants without the easily confused or vowel-forming ones (no A E I
// O U, no Y, so no words), shown as XXXX-XXXX. 20^8 ≈ 2.56 × 10^10 codes,
// 34.6 bits: see docs/oauth.md "Device grant" for why that is enough with
// the attempt limits of the verification page (device_page.go).
const (
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
	// maxUserCodeInput bounds what the normaliser reads: the code with
	// a dash and generous spaces.
	maxUserCodeInput = 32
)

// userCodeHashPrefix keeps the keyed hashes of user codes apart from those
// of other secrets with the same text.
const userCodeHashPrefix = "gate_uc_"

// newUserCode returns a random user code in its canonical form (8 letters,
// no dash). Each character is drawn without modulo bias.
func newUserCode() (string, error) {
	var out [userCodeLength]byte
	var buf [1]byte
	for i := 0; i < userCodeLength; {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("oauth: read random bytes: %w", err)
		}
		// 240 = 12 × 20: bytes from 240 up would favour the first letters.
		if buf[0] >= 240 {
			continue
		}
		out[i] = userCodeAlphabet[buf[0]%20]
		i++
	}
	return string(out[:]), nil
}

// normalizeUserCode turns what a person typed into the canonical code:
// letters upper-cased, dashes and spaces (any Unicode white space) dropped.
// ok is false unless exactly 8 letters of the alphabet remain, so nothing
// else ever reaches the store or the rate limiter's per-code key.
func normalizeUserCode(typed string) (code string, ok bool) {
	if len(typed) > maxUserCodeInput {
		return "", false
	}
	var b strings.Builder
	for _, r := range typed {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\u00a0' || r == '\u2010' || r == '\u2011' || r == '\u2012' || r == '\u2013' || r == '\u2212':
			continue // dashes as keyboards and phones type them, spaces
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 'Z' || !strings.ContainsRune(userCodeAlphabet, r) {
			return "", false
		}
		if b.Len() == userCodeLength {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != userCodeLength {
		return "", false
	}
	return b.String(), true
}

// displayUserCode formats a canonical code as XXXX-XXXX.
func displayUserCode(code string) string {
	if len(code) != userCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// userCodeHash is the keyed hash a canonical user code is stored under.
func (s *Server) userCodeHash(code string) []byte {
	sum := s.hasher.Sum(userCodeHashPrefix + code)
	return sum[:]
}
