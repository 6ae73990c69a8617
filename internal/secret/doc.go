// Package secret makes and hashes the opaque secrets Gatehouse issues: API
// keys, authorization codes, refresh tokens, client secrets and session
// cookies.
//
// A secret is
//
//	<prefix><body: 32 base62 characters><checksum: 6 base62 characters>
//
// Generate draws the body from crypto/rand; the checksum (CRC-32 of prefix
// and body) lets a reader refuse typos and garbage without touching a store
// (Valid). Hasher computes the keyed hash under which every kind of secret
// is stored and looked up. Which prefixes exist, and the API-key prefix
// grammar, belong to the callers (package apikey, package oauth).
package secret
