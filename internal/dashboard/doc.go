// Package dashboard is Gatehouse's web console: an admin console and a
// self-service developer portal, served at /dashboard on the main listener.
// It is an OAuth client of Gatehouse itself (a first-party public client,
// authorization code with PKCE, consent skipped) and calls the same
// services as the admin API, so no rule exists twice.
package dashboard

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

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

// FirstPartyClient is the dashboard's client registration for an issuer:
// public (PKCE, no secret to keep on every node), the authorization code
// grant only, its callback and signed-out pages below the issuer.
func FirstPartyClient(issuer string) client.Input {
	base := strings.TrimSuffix(issuer, "/")
	return client.Input{
		Name:                   ClientName,
		Public:                 true,
		AuthMethod:             auth.AuthMethodNone,
		RedirectURIs:           []string{base + CallbackPath},
		PostLogoutRedirectURIs: []string{base + SignedOutPath},
		GrantTypes:             []string{"authorization_code"},
		Scopes:                 strings.Fields(Scopes),
	}
}
