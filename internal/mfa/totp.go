package mfa

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"hash"
	"time"
)

// The TOTP parameters every authenticator app supports (RFC 6238 with the
// defaults of its section 4 and RFC 4226's six digits). They are also
// what the otpauth:// URI states, so an app that reads them agrees.
const (
	Period    = 30 * time.Second
	Digits    = 6
	SecretLen = 20 // bytes: RFC 4226 4 recommends 160 bits
	// Skew is how many steps before and after the current one are
	// accepted (RFC 6238 5.2 recommends at most one), for clocks that
	// drift and codes typed as they change.
	Skew = 1
)

// secretEncoding is how the secret is shown and put in the URI: base32
// without padding (the Key URI Format).
var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// step returns the RFC 6238 time step of t: the number of whole periods
// since the Unix epoch (T0 = 0).
func step(t time.Time) int64 {
	return t.Unix() / int64(Period/time.Second)
}

// hotp is RFC 4226 5.3 (HOTP with dynamic truncation) over the hash h,
// as RFC 6238 1.2 generalises it, returning digits decimal digits.
func hotp(h func() hash.Hash, key []byte, counter uint64, digits int) string {
	mac := hmac.New(h, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	v := bin % mod
	out := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return string(out)
}

// codeAt is the six-digit SHA-1 code of secret at time step s.
func codeAt(secret []byte, s int64) string {
	return hotp(sha1.New, secret, uint64(s), Digits)
}

// matchStep returns the latest step within Skew of now, and later than
// last, whose code is code; ok is false when there is none. Every
// candidate is compared, in constant time, so the time taken says nothing
// about which one matched.
func matchStep(secret []byte, code string, now time.Time, last int64) (int64, bool) {
	cur := step(now)
	var found int64
	ok := 0
	for s := cur - Skew; s <= cur+Skew; s++ {
		eq := subtle.ConstantTimeCompare([]byte(codeAt(secret, s)), []byte(code))
		if eq == 1 && s > last {
			found, ok = s, 1
		}
	}
	return found, ok == 1
}
