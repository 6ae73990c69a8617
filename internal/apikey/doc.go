// Package apikey issues and verifies Gatehouse API keys.
//
// A key looks like sk_live_<32 base62 characters><6 base62 characters of
// CRC-32>: a secret of package secret, which makes the body and checksum
// and computes the keyed hash under which a key is stored. Generate and
// Parse add the prefix grammar (see format.go and docs/api-keys.md);
// Service creates, rotates, revokes and verifies keys, with a cache
// so that a key seen before is verified without a database round trip (and a
// short-lived one of unknown keys, so that repeating one does not reach the
// database either), per-key rate limits (package ratelimit), allowed
// networks, and credits: usage quotas spent exactly across nodes, in the
// store or in Redis (see credits.go). Update changes a key without rotating
// it.
//
// Every key belongs to an environment, live or test, which its prefix names
// (auth.KeyEnvironmentOf): a Service creates keys of either (the prefix
// follows, see EnvironmentPrefix) and verifies every key its store holds,
// whatever prefix it gives new keys, unless Config.Environments leaves the
// key's environment out.
//
// The plaintext of a key exists only in the response to Create or Rotate
// and in the requests that present it: it is never stored, logged, put in
// an error or used as a metric label.
package apikey
