// Package apikey issues and verifies Gatehouse API keys.
//
// A key looks like sk_live_<32 base62 characters><6 base62 characters of
// CRC-32>: a secret of package secret, which makes the body and checksum
// and computes the keyed hash under which a key is stored. Generate and
// Parse add the prefix grammar (see format.go and docs/api-keys.md);
// Service creates, rotates, revokes and verifies keys, with a cache
// so that a key seen before is verified without a database round trip (and a
// short-lived one of unknown keys, so that repeating one does not reach the
// database either), and per-key rate limits (package ratelimit).
//
// The plaintext of a key exists only in the response to Create or Rotate
// and in the requests that present it: it is never stored, logged, put in
// an error or used as a metric label.
package apikey
