package auth

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"time"
)

// idEncoding is base32hex (RFC 4648 §7) in lower case, unpadded: its
// characters are in ASCII order, so IDs sort as their timestamps do.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// IDLength is the length of an ID after its prefix.
const IDLength = 16

// NewID returns prefix followed by 80 bits in IDLength base32hex
// characters: a 48-bit millisecond timestamp, then 32 random bits. IDs of
// one kind thus sort by creation time (to the millisecond), which the
// stores' cursors rely on, and two nodes creating records in the same
// millisecond almost never collide (a store reports a collision as
// ECONFLICT, and the caller tries again). An ID is not secret.
func NewID(prefix string, now time.Time) (string, error) {
	var b [10]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16) // the low 48 bits, in b[0:6]
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("auth: read random bytes: %w", err)
	}
	return prefix + idEncoding.EncodeToString(b[:]), nil
}
