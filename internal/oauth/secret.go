package oauth

import (
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// Prefixes of the opaque secrets the server issues, one per kind, so that a
// secret presented where another kind belongs is refused by its prefix alone.
const (
	PrefixAuthCode     = "gate_ac_"
	PrefixRefreshToken = "gate_rt_"
	PrefixClientSecret = client.SecretPrefix
	PrefixSession      = "gate_ss_"
)

// parseSecret checks the prefix, length, alphabet and checksum of a
// presented secret without touching the store, and returns its keyed hash.
// ok is false for anything that is not a well-formed secret of that kind.
func (s *Server) parseSecret(prefix, presented string) (hash []byte, ok bool) {
	if !secret.Valid(prefix, presented) {
		return nil, false
	}
	sum := s.hasher.Sum(presented)
	return sum[:], true
}
