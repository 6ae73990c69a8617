package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"hash/crc32"
	"strings"
	"unsafe"
)

// The body comes from crypto/rand (32 × log2(62) ≈ 190.5 bits); the
// checksum is the CRC-32 (IEEE) of prefix+body, written as a 6-digit base62
// number. The checksum is public: it does not protect the secret, it lets a
// reader reject typos and garbage without touching the database and lets
// secret scanners confirm a match offline.
const (
	// BodyLength is the number of random base62 characters of a secret.
	BodyLength = 32
	// ChecksumLength is the number of base62 characters of the checksum.
	ChecksumLength = 6
	// TailLength is what follows the prefix: the body and the checksum.
	TailLength = BodyLength + ChecksumLength
)

// EntropyBits is the entropy of a secret's random body, rounded down.
const EntropyBits = 190 // 32 * log2(62) = 190.53

// base62 is in ASCII order, so that the checksum digits sort like numbers.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Generate returns prefix followed by BodyLength characters drawn uniformly
// from base62 with crypto/rand, then the checksum. The prefix is the
// caller's to choose and check; it fails only when the system's random
// source fails.
func Generate(prefix string) (string, error) {
	buf := make([]byte, 0, len(prefix)+TailLength)
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
			return out, fmt.Errorf("secret: read random bytes: %w", err)
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

// Valid reports whether s is a well-formed secret of the kind that prefix
// starts: the prefix, then TailLength base62 characters ending in the
// checksum of the rest. It does no I/O and allocates nothing, so garbage is
// refused before any store is asked.
func Valid(prefix, s string) bool {
	return len(s) == len(prefix)+TailLength && strings.HasPrefix(s, prefix) &&
		IsBase62(s[len(prefix):]) && ChecksumValid(s)
}

// IsBase62 reports whether every byte of s is a base62 digit.
func IsBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// ChecksumValid reports whether the last ChecksumLength characters of s are
// the checksum of the rest. Comparing the encoded checksum (rather than
// decoding the digits) also rejects non-canonical spellings, so exactly one
// secret maps to each body.
func ChecksumValid(s string) bool {
	n := len(s)
	if n < ChecksumLength {
		return false
	}
	var want [ChecksumLength]byte
	appendChecksum(want[:0], crc32Of(s[:n-ChecksumLength]))
	// The checksum is not secret; comparing it in constant time costs
	// nothing here and spares every reader the argument about timing.
	return subtle.ConstantTimeCompare(want[:], []byte(s[n-ChecksumLength:])) == 1
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
