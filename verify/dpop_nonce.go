package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// HMACNonces is a NonceSource that needs no shared state: a nonce is the
// number of the period it was issued in with an HMAC of it, so that every
// node holding the same key issues and accepts the same nonces. A nonce is
// accepted during the period it was issued in and the next one; a server
// hands out the current one with every answer, so a client that keeps
// using the last nonce it was given stays within them.
type HMACNonces struct {
	key    []byte
	period time.Duration
}

// DefaultNoncePeriod is HMACNonces' period when none is given.
const DefaultNoncePeriod = 5 * time.Minute

// nonceMACSize is the bytes of HMAC a nonce keeps: 128 bits.
const nonceMACSize = 16

// NewHMACNonces returns a source keyed with a copy of key (at least 32
// bytes, secret, the same on every node), rotating every period (default
// DefaultNoncePeriod).
func NewHMACNonces(key []byte, period time.Duration) (*HMACNonces, error) {
	if len(key) < 32 {
		return nil, errors.New("verify: the nonce key must have at least 32 bytes")
	}
	if period < 0 {
		return nil, errors.New("verify: the nonce period is negative")
	}
	if period == 0 {
		period = DefaultNoncePeriod
	}
	return &HMACNonces{key: append([]byte(nil), key...), period: period}, nil
}

func (n *HMACNonces) epoch(now time.Time) uint64 {
	return uint64(now.UnixNano() / int64(n.period))
}

func (n *HMACNonces) raw(epoch uint64) [8 + nonceMACSize]byte {
	var out [8 + nonceMACSize]byte
	binary.BigEndian.PutUint64(out[:8], epoch)
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("gatehouse dpop nonce\x00"))
	m.Write(out[:8])
	var sum [sha256.Size]byte
	copy(out[8:], m.Sum(sum[:0]))
	return out
}

// Nonce returns the nonce of now's period.
func (n *HMACNonces) Nonce(now time.Time) string {
	r := n.raw(n.epoch(now))
	return base64.RawURLEncoding.EncodeToString(r[:])
}

// Valid reports whether nonce was issued in now's period or the one
// before.
func (n *HMACNonces) Valid(nonce string, now time.Time) bool {
	var got [8 + nonceMACSize]byte
	if base64.RawURLEncoding.EncodedLen(len(got)) != len(nonce) {
		return false
	}
	if _, err := b64.Decode(got[:], []byte(nonce)); err != nil {
		return false
	}
	e, cur := binary.BigEndian.Uint64(got[:8]), n.epoch(now)
	if e != cur && e+1 != cur {
		return false
	}
	want := n.raw(e)
	return hmac.Equal(got[:], want[:])
}
