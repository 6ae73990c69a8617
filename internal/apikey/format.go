package apikey

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"unsafe"
)

// A key is
//
//	<prefix><body: 32 base62 characters><checksum: 6 base62 characters>
//
// for example sk_live_2bQ7...Wm0p3Zq1. The body comes from crypto/rand
// (32 × log2(62) ≈ 190.5 bits); the checksum is the CRC-32 (IEEE) of
// prefix+body, written as a 6-digit base62 number. The checksum is public: it
// does not protect the key, it lets Parse reject typos and garbage without
// touching the database and lets secret scanners confirm a match offline.
const (
	// BodyLength is the number of random base62 characters in a key.
	BodyLength = 32
	// ChecksumLength is the number of base62 characters of the checksum.
	ChecksumLength = 6
	// MinPrefixLength and MaxPrefixLength bound a valid prefix ("a_" to
	// 16+1+16+1 characters).
	MinPrefixLength = 2
	MaxPrefixLength = 34
	// MinKeyLength and MaxKeyLength bound the length of any valid key.
	MinKeyLength = MinPrefixLength + BodyLength + ChecksumLength
	MaxKeyLength = MaxPrefixLength + BodyLength + ChecksumLength
)

// EntropyBits is the entropy of a key's random body, rounded down.
const EntropyBits = 190 // 32 * log2(62) = 190.53

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

// base62 is in ASCII order, so that the checksum digits sort like numbers.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Generate returns a new key with the given prefix: BodyLength characters
// drawn uniformly from base62 with crypto/rand, then the checksum. It fails
// only for an invalid prefix (wrapping ErrInvalidPrefix) or when the system's
// random source fails.
func Generate(prefix string) (string, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return "", err
	}
	buf := make([]byte, 0, len(prefix)+BodyLength+ChecksumLength)
	buf = append(buf, prefix...)
	body, err := randomBody()
	if err != nil {
		return "", err
	}
	buf = append(buf, body[:]...)
	buf = appendChecksum(buf, crc32.ChecksumIEEE(buf))
	return string(buf), nil
}

// randomBody returns BodyLength characters uniformly distributed over
// base62. It takes 6 random bits per character and rejects the values 62 and
// 63: a plain modulo would make '0' and '1' more likely than the rest.
func randomBody() ([BodyLength]byte, error) {
	var out [BodyLength]byte
	var pool [BodyLength + 8]byte // 62/64 of draws are kept: one read nearly always suffices
	for i := 0; i < BodyLength; {
		if _, err := rand.Read(pool[:]); err != nil {
			return out, fmt.Errorf("apikey: read random bytes: %w", err)
		}
		for _, b := range pool {
			if v := b & 63; v < 62 {
				out[i] = base62[v]
				if i++; i == BodyLength {
					break
				}
			}
		}
	}
	return out, nil
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
	prefix = key[:n-BodyLength-ChecksumLength]
	if !validPrefix(prefix) {
		return "", errPrefix
	}
	for i := len(prefix); i < n; i++ {
		if !isBase62(key[i]) {
			return "", errCharset
		}
	}
	// Comparing the encoded checksum (rather than decoding the digits) also
	// rejects non-canonical spellings, so exactly one key maps to each body.
	var want [ChecksumLength]byte
	appendChecksum(want[:0], crc32Of(key[:n-ChecksumLength]))
	// The checksum is not secret; comparing it in constant time costs
	// nothing here and spares every reader the argument about timing.
	if subtle.ConstantTimeCompare(want[:], []byte(key[n-ChecksumLength:])) != 1 {
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

func isBase62(c byte) bool {
	return ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

// crc32Of is crc32.ChecksumIEEE over a string. It hands the string's bytes
// to hash/crc32 without a copy: converting with []byte(s) allocates (the
// slice escapes through crc32's function table), and a byte-at-a-time loop
// here is three times slower than crc32's slicing-by-8 and CLMUL code. This
// is sound because crc32 only reads its input and keeps no reference to it.
func crc32Of(s string) uint32 {
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// appendChecksum appends c as ChecksumLength base62 digits, most significant
// first, padded with zeros (62^6 > 2^32, so every value fits).
func appendChecksum(dst []byte, c uint32) []byte {
	var digits [ChecksumLength]byte
	for i := ChecksumLength - 1; i >= 0; i-- {
		digits[i] = base62[c%62]
		c /= 62
	}
	return append(dst, digits[:]...)
}
