package secret

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"
)

// MinServerSecretLength is the shortest server secret NewHasher accepts.
const MinServerSecretLength = 32

// Hasher computes the keyed hash under which secrets are stored and looked
// up: HMAC-SHA-256 under a server secret that lives outside the database, so
// a stolen copy of the database alone cannot be used to test guessed
// secrets. Secrets carry 190 bits of entropy, so a fast hash is enough:
// nobody can brute-force them, and a slow one (bcrypt, argon2) would put a
// millisecond on every request.
//
// A Hasher is safe for concurrent use.
type Hasher struct {
	pool sync.Pool // of *hmacState; hmac.New is costly (two block hashes of the secret)
}

type hmacState struct {
	mac hash.Hash
	// buf holds the input while it is written, and then the sum: writing a
	// string through the hash.Hash interface would otherwise allocate.
	buf []byte
}

// maxPooledBuf keeps a rare huge input from pinning memory in the pool.
const maxPooledBuf = 256

// NewHasher returns a Hasher keyed with a copy of serverSecret, which must
// have at least MinServerSecretLength bytes.
func NewHasher(serverSecret []byte) (*Hasher, error) {
	if len(serverSecret) < MinServerSecretLength {
		return nil, fmt.Errorf("secret: the hashing secret has %d bytes; at least %d are needed", len(serverSecret), MinServerSecretLength)
	}
	key := append([]byte(nil), serverSecret...)
	h := &Hasher{}
	h.pool.New = func() any {
		return &hmacState{mac: hmac.New(sha256.New, key), buf: make([]byte, 0, maxPooledBuf)}
	}
	return h, nil
}

// Sum returns HMAC-SHA-256(server secret, s). It allocates nothing.
func (h *Hasher) Sum(s string) [sha256.Size]byte {
	st := h.pool.Get().(*hmacState)
	st.buf = append(st.buf[:0], s...)
	st.mac.Write(st.buf)
	// Best effort: keep no copy of the plaintext secret in pooled memory (the
	// hash's own block buffer is out of reach, but Reset below ends its use).
	clear(st.buf)
	var sum [sha256.Size]byte
	copy(sum[:], st.mac.Sum(st.buf[:0]))
	st.mac.Reset()
	if cap(st.buf) > maxPooledBuf {
		st.buf = make([]byte, 0, maxPooledBuf)
	}
	h.pool.Put(st)
	return sum
}

// New returns a new secret with the given prefix (see Generate) and the
// keyed hash it is stored under: every kind of issued secret is made this
// one way. It fails only when the system's random source fails.
func (h *Hasher) New(prefix string) (plaintext string, hash []byte, err error) {
	plaintext, err = Generate(prefix)
	if err != nil {
		return "", nil, fmt.Errorf("secret: generate: %w", err)
	}
	sum := h.Sum(plaintext)
	return plaintext, sum[:], nil
}
