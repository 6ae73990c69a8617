// Package client is the registry of OAuth clients, as package account is
// for users: it validates registrations (validate.go, jwks.go), stores them
// with their audit events and secrets (registry.go), and keeps the clients
// the token endpoint asks for in a short-lived cache (cache.go).
//
// The protocol that uses clients (authentication at the token endpoint,
// redirect URI matching, scopes and resources a request may ask for) is in
// package oauth.
package client
