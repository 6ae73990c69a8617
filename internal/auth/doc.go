// Package auth is the domain at the centre of Gatehouse: the records it keeps
// (API keys, audit events), the storage contracts every backend implements,
// and the error codes that transports map to protocol errors.
//
// It imports only the standard library; everything else points toward it.
package auth
