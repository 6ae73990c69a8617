package apikey

import (
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// A key is a secret of package secret with an API-key prefix:
//
//	<prefix><body: 32 base62 characters><checksum: 6 base62 characters>
//
// for example sk_live_2bQ7...Wm0p3Zq1 (the body and checksum are described
// in package secret). What this file adds is the prefix grammar, and Parse,
// which finds the prefix of a key it is not told.
const (
	// BodyLength is the number of random base62 characters in a key.
	BodyLength = secret.BodyLength
	// ChecksumLength is the number of base62 characters of the checksum.
	ChecksumLength = secret.ChecksumLength
	// MinPrefixLength and MaxPrefixLength bound a valid prefix ("a_" to
	// 16+1+16+1 characters).
	MinPrefixLength = 2
	MaxPrefixLength = 34
	// MinKeyLength and MaxKeyLength bound the length of any valid key.
	MinKeyLength = MinPrefixLength + BodyLength + ChecksumLength
	MaxKeyLength = MaxPrefixLength + BodyLength + ChecksumLength
)

// ScannerRegexp matches keys of every valid prefix, for secret scanners
// (RE2 syntax, as in Go's regexp, GitHub secret scanning and gitleaks). A
// scanner should confirm each match with Parse (the checksum), which
// removes nearly all false positives. To match only one deployment's keys,
// replace the prefix part by the quoted prefix, e.g.
// `sk_live_[0-9A-Za-z]{38}\b`.
//
// It has no leading \b, so that a key glued to a word by an underscore
// (MY_sk_live_...) is still found; Parse then rejects matches that took
// part of that word into the prefix.
const ScannerRegexp = `[a-z][a-z0-9]{0,15}_(?:[a-z0-9]{1,16}_)?[0-9A-Za-z]{38}\b`

// ErrMalformed is the sentinel that every Parse error wraps. The errors never
// contain the key, or any part of it.
var ErrMalformed = errors.New("malformed API key")

// Parse errors: fixed values, so that rejecting garbage costs no allocation.
var (
	errLength   = fmt.Errorf("%w: wrong length", ErrMalformed)
	errPrefix   = fmt.Errorf("%w: invalid prefix", ErrMalformed)
	errCharset  = fmt.Errorf("%w: invalid character", ErrMalformed)
	errChecksum = fmt.Errorf("%w: checksum mismatch", ErrMalformed)
)

// Generate returns a new key with the given prefix: BodyLength characters
// drawn uniformly from base62 with crypto/rand, then the checksum. It fails
// only for an invalid prefix (wrapping ErrInvalidPrefix) or when the system's
// random source fails.
func Generate(prefix string) (string, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return "", err
	}
	key, err := secret.Generate(prefix)
	if err != nil {
		return "", fmt.Errorf("apikey: %w", err)
	}
	return key, nil
}

// Parse checks the structure of key — length, prefix syntax, character set
// and checksum, in that order and without any I/O — and returns its prefix.
// Every error wraps ErrMalformed and none contains the key. Parse does not
// say whether the key exists: only the Service can.
func Parse(key string) (prefix string, err error) {
	n := len(key)
	if n < MinKeyLength || n > MaxKeyLength {
		return "", errLength
	}
	prefix = key[:n-secret.TailLength]
	if !validPrefix(prefix) {
		return "", errPrefix
	}
	if !secret.IsBase62(key[len(prefix):]) {
		return "", errCharset
	}
	if !secret.ChecksumValid(key) {
		return "", errChecksum
	}
	return prefix, nil
}

// ErrInvalidPrefix is returned (wrapped) by ValidatePrefix and Generate.
var ErrInvalidPrefix = errors.New("invalid API key prefix")

var errInvalidPrefix = fmt.Errorf("%w: want lowercase letters and digits ending in _, like sk_live_ (^[a-z][a-z0-9]{0,15}_([a-z0-9]{1,16}_)?$)", ErrInvalidPrefix)

// ValidatePrefix reports whether p is a valid key prefix: it must match
// ^[a-z][a-z0-9]{0,15}_([a-z0-9]{1,16}_)?$ (sk_live_, sk_test_, gh_, ...).
// Because a prefix ends in _ and base62 has no _, the prefix of a key is
// never ambiguous.
func ValidatePrefix(p string) error {
	if !validPrefix(p) {
		return errInvalidPrefix
	}
	return nil
}

// validPrefix is ValidatePrefix's grammar written out by hand: it runs on
// every verification, where a regexp would cost more than the rest of Parse.
func validPrefix(p string) bool {
	if len(p) < MinPrefixLength || len(p) > MaxPrefixLength || p[len(p)-1] != '_' || !isLower(p[0]) {
		return false
	}
	segments, run := 0, 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '_':
			if run == 0 {
				return false
			}
			segments++
			run = 0
		case isLower(c) || ('0' <= c && c <= '9'):
			if run++; run > 16 {
				return false
			}
		default:
			return false
		}
	}
	return segments <= 2
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
