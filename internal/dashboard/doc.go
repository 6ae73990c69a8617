// Package dashboard is Gatehouse's web console: an admin console and a
// self-service developer portal, served at /dashboard on the main listener.
// It is an OAuth client of Gatehouse itself (a first-party public client,
// authorization code with PKCE, consent skipped) and calls the same
// services as the admin API, so no rule exists twice.
package dashboard

// The dashboard's first-party OAuth client. Every node creates it, or
// brings its redirect URIs up to date with the issuer, at start.
const (
	ClientID   = "cli_gatehouse-dashboard"
	ClientName = "Gatehouse dashboard"
	// CallbackPath receives the authorization response; SignedOutPath is
	// where the end-session endpoint sends the browser back. Both are
	// registered for the client below the issuer URL.
	CallbackPath  = "/dashboard/callback"
	SignedOutPath = "/dashboard/signed-out"
	// Scopes the dashboard asks for: who signed in, nothing more. What
	// they may do comes from their role and owners, read on each request.
	Scopes = "openid profile"
)
