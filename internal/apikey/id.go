package apikey

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
)

// IDPrefix starts every key ID.
const IDPrefix = "key_"

// idAlphabet is base32hex (RFC 4648 §7) in lower case: its characters are
// in ASCII order, so IDs sort as their timestamps do.
const idAlphabet = "0123456789abcdefghijklmnopqrstuv"

// idLength is the length of an ID: the prefix and 16 characters of 5 bits.
const idLength = len(IDPrefix) + 16

// newID returns "key_" followed by 80 bits in 16 base32hex characters: a
// 48-bit millisecond timestamp, then 32 random bits. IDs thus sort by
// creation time (to the millisecond), which the stores' cursors rely on,
// and two nodes creating keys in the same millisecond almost never collide
// (the store reports a collision as ECONFLICT and Create tries again).
// An ID is not secret.
func newID(now time.Time) (string, error) {
	var b [10]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16) // the low 48 bits, in b[0:6]
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("apikey: read random bytes: %w", err)
	}
	hi := binary.BigEndian.Uint64(b[:8]) // bits 0..63
	lo := uint64(binary.BigEndian.Uint16(b[8:]))
	out := make([]byte, idLength)
	copy(out, IDPrefix)
	// 80 bits = hi (64) then lo (16); take 5 bits at a time from the top.
	for i := range 16 {
		shift := 75 - 5*i // position of the group's lowest bit, counted from the end
		var v uint64
		switch {
		case shift >= 16:
			v = hi >> (shift - 16)
		default:
			v = hi<<(16-shift) | lo>>shift
		}
		out[len(IDPrefix)+i] = idAlphabet[v&31]
	}
	return string(out), nil
}
