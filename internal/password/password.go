// Package password hashes user passwords with argon2id (RFC 9106) and
// stores them in the PHC string format:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt, base64 without padding>$<hash, base64 without padding>
//
// The parameters travel with each hash, so raising the defaults later keeps
// every old hash verifying; NeedsRehash tells the caller to replace an old
// hash at the next successful login. Parameters read from a stored hash are
// capped, so a crafted hash in the database cannot make one login allocate
// gigabytes or run for minutes.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters of a hash.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// Default is the cost of new hashes: OWASP's first argon2id configuration
// (m=19 MiB, t=2, p=1), which gives the same protection per second of an
// attacker's time as RFC 9106's 64 MiB / t=3 suggestion while keeping one
// login well under 50 ms on a small 2-core machine (BenchmarkVerify: 55 ms
// with the machine's load average at 10, i.e. five times oversubscribed). The larger profile
// costs 3-4 times more CPU and memory per login, and a login endpoint that
// takes 150 ms is itself an easier denial-of-service target. One lane: the
// server handles many logins in parallel, so per-hash parallelism would
// only make concurrent logins compete. 16-byte salt and 32-byte output are
// RFC 9106's recommendation.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Caps on parameters read from a stored hash. A hash beyond them is refused
// as malformed rather than computed.
const (
	MaxMemory  = 256 * 1024 // KiB: 256 MiB
	MaxTime    = 16
	MaxThreads = 16
	MinSaltLen = 8
	MaxSaltLen = 64
	MinKeyLen  = 16
	MaxKeyLen  = 64
	// maxEncodedLen bounds the whole PHC string before it is parsed.
	maxEncodedLen = 256
)

// Length limits. MinLength is NIST SP 800-63B 5.1.1.2's minimum, below
// which no Policy goes. MaxLength bounds the bytes of any password that is
// hashed, so a login never hashes megabytes (Policy counts characters
// within it).
const (
	MinLength = 8    // characters (Unicode code points)
	MaxLength = 1024 // bytes
)

// ErrMalformed is wrapped by every error about a stored hash that is not a
// well-formed argon2id PHC string within the caps.
var ErrMalformed = errors.New("password: malformed hash")

// Hash returns the PHC string of password, NFKC-normalised (Normalize),
// under the Default parameters and a fresh random salt. It does not check
// the policy (see CheckPolicy).
func Hash(password string) (string, error) {
	return HashWith(Default, password)
}

// HashWith is Hash with explicit parameters, which must be within the caps.
func HashWith(p Params, password string) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: read random salt: %w", err)
	}
	key := rawKey(p, salt, Normalize(password))
	return encode(p, salt, key), nil
}

// Verify reports whether password matches the encoded hash, comparing the
// derived keys in constant time; password is NFKC-normalised as Hash does. err is non-nil (wrapping ErrMalformed) only
// when encoded is not a usable hash; a wrong password is ok == false with a
// nil error. A password over MaxLength bytes never matches and is not
// hashed.
func Verify(encoded, password string) (ok bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > MaxLength {
		return false, nil
	}
	n := Normalize(password)
	if derive(p, salt, n, want) {
		return true, nil
	}
	// Hashes written before passwords were normalised hold the password as
	// typed. Only a password that NFKC changes (never ASCII) costs a
	// second hash.
	return n != password && derive(p, salt, password, want), nil
}

func derive(p Params, salt []byte, password string, want []byte) bool {
	return subtle.ConstantTimeCompare(rawKey(p, salt, password), want) == 1
}

// rawKey is the argon2id key of password exactly as given.
func rawKey(p Params, salt []byte, password string) []byte {
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// NeedsRehash reports whether encoded should be replaced by a hash under
// the Default parameters: it is malformed, or any of its parameters differ
// from the defaults.
func NeedsRehash(encoded string) bool {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return true
	}
	return p.Memory != Default.Memory || p.Time != Default.Time || p.Threads != Default.Threads ||
		uint32(len(salt)) != Default.SaltLen || uint32(len(key)) != Default.KeyLen
}

func (p Params) check() error {
	switch {
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxMemory:
		return fmt.Errorf("%w: memory %d KiB out of range", ErrMalformed, p.Memory)
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("%w: time %d out of range", ErrMalformed, p.Time)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("%w: parallelism %d out of range", ErrMalformed, p.Threads)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return fmt.Errorf("%w: salt length %d out of range", ErrMalformed, p.SaltLen)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return fmt.Errorf("%w: hash length %d out of range", ErrMalformed, p.KeyLen)
	}
	return nil
}

var b64 = base64.RawStdEncoding.Strict()

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC string strictly: only argon2id, version 19, the
// parameters m, t, p in that order (the form every argon2 implementation
// writes), canonical decimal numbers, unpadded base64, every value within
// the caps.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	if len(encoded) > maxEncodedLen {
		return p, nil, nil, fmt.Errorf("%w: too long", ErrMalformed)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: wrong number of fields", ErrMalformed)
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not argon2id", ErrMalformed)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version", ErrMalformed)
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, fmt.Errorf("%w: parameters", ErrMalformed)
	}
	var vals [3]uint32
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		if !ok {
			return p, nil, nil, fmt.Errorf("%w: parameters", ErrMalformed)
		}
		if vals[i], ok = parseUint(v); !ok {
			return p, nil, nil, fmt.Errorf("%w: parameter %s", ErrMalformed, name[:1])
		}
	}
	if vals[2] > MaxThreads {
		return p, nil, nil, fmt.Errorf("%w: parallelism out of range", ErrMalformed)
	}
	// The decoder skips CR and LF; comparing the re-encoding refuses them
	// and any other non-canonical spelling.
	if salt, err = b64.DecodeString(parts[4]); err != nil || b64.EncodeToString(salt) != parts[4] {
		return p, nil, nil, fmt.Errorf("%w: salt encoding", ErrMalformed)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || b64.EncodeToString(key) != parts[5] {
		return p, nil, nil, fmt.Errorf("%w: hash encoding", ErrMalformed)
	}
	p = Params{Memory: vals[0], Time: vals[1], Threads: uint8(vals[2]), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := p.check(); err != nil {
		return Params{}, nil, nil, err
	}
	return p, salt, key, nil
}

// parseUint accepts a canonical decimal (no sign, no leading zero) of at
// most 9 digits, so it always fits in a uint32.
func parseUint(s string) (uint32, bool) {
	if s == "" || len(s) > 9 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint32(c-'0')
	}
	return n, true
}
