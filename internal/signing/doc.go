// Package signing keeps the asymmetric keys that sign Gatehouse's JWTs
// (RFC 9068 access tokens, OpenID Connect ID tokens): it generates them
// (ES256 by default, RS256 or EdDSA), seals their private halves with
// AES-256-GCM under a master key that never enters the store, rotates them
// on a schedule every node agrees on without talking to the others,
// publishes the public halves as a JWKS, and signs tokens with go-jose.
// It does not verify them: every token, on this node or elsewhere, is
// checked by package verify over the published JWKS (Keyring.JWKS fits
// verify.Config.JWKS), the one verification path.
//
// The invariant rotation keeps: a key is published a full rotation period
// before it signs, and stays published until every token it signed has
// expired, so no token ever fails verification because of a rotation.
package signing
