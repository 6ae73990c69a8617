package oauth

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// verifiers check the tokens this server signed. They are package verify's
// Verifier over the keyring's own JWKS, as the gateway's and any relying
// party's are: one verification path for every token, whoever checks it.
// Each kind of check is a Verifier of its own because the type and the
// leeway are part of a Verifier's configuration (and of what its cache
// entries mean).
type verifiers struct {
	access *verify.Verifier // introspection and userinfo: access tokens, the keyring's leeway
	revoke *verify.Verifier // revocation: access tokens expired up to a day ago still get revoked
	idHint *verify.Verifier // logout: ID tokens, accepted as long as a session can last
}

func newVerifiers(keys *signing.Keyring, issuer string, now func() time.Time, sessionTTL time.Duration, logger *slog.Logger) (verifiers, error) {
	mk := func(typ string, leeway time.Duration, cacheSize int) (*verify.Verifier, error) {
		v, err := verify.New(verify.Config{
			Issuer:      issuer,
			AnyAudience: true, // the authorization server answers for every audience it issues to
			Types:       []string{typ},
			Algorithms:  signing.SupportedAlgorithms(),
			Leeway:      leeway,
			JWKS:        keys.JWKS,
			Now:         now,
			CacheSize:   cacheSize,
			Logger:      logger, // a JWKS of the keyring's that does not parse is worth a warning
		})
		if err != nil {
			return nil, fmt.Errorf("oauth: verifier of %s tokens: %w", typ, err)
		}
		return v, nil
	}
	var vs verifiers
	var err error
	// Introspection is asked about the same token again and again: cache.
	if vs.access, err = mk(typAccessToken, keys.Leeway(), 0); err != nil {
		return vs, err
	}
	// Revocation and logout see a token once or twice: no cache.
	if vs.revoke, err = mk(typAccessToken, client.MaxAccessTokenTTL, -1); err != nil {
		return vs, err
	}
	if vs.idHint, err = mk(typIDToken, sessionTTL, -1); err != nil {
		return vs, err
	}
	return vs, nil
}

// isTokenInvalid reports whether a verification error is about the token
// (it is simply not a valid token of ours) rather than a failure on our
// side: every refusal but keys_unavailable, which means the keyring's own
// key set did not parse.
func isTokenInvalid(err error) bool {
	return verify.ReasonOf(err) != verify.ReasonKeysUnavailable
}
