// Package oauth is Gatehouse's OAuth 2.1 and OpenID Connect authorization
// server: the authorize endpoint with its login and consent pages, the token
// endpoint and its grants, revocation (RFC 7009), introspection (RFC 7662),
// userinfo, discovery (RFC 8414, OIDC Discovery) and the JWKS.
//
// One file per endpoint or grant. Every error an endpoint returns to a
// client is an *Error (error.go), written in one place.
//
// Opaque secrets (authorization codes, refresh tokens, client secrets,
// session cookies) are made and hashed by internal/secret, as API keys are:
// a prefix per kind, 190 random bits and a checksum, so scanners recognise leaked ones
// and garbage is refused before any database work; they are stored only as
// keyed hashes.
package oauth
