package main

import (
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
)

// startDashboard builds the web console over the node's services, unless
// the configuration turns it off (nil then, and /dashboard is a 404).
func (m *Main) startDashboard() error {
	if m.Config.Dashboard.Disabled {
		return nil
	}
	d, err := dashboard.New(dashboard.Config{
		Issuer:             m.issuer,
		Authorization:      m.OAuth.Handler(),
		JWKS:               m.Signing.JWKS,
		Keys:               m.Keys,
		Clients:            m.Clients,
		Users:              m.Accounts,
		Consents:           m.OAuth,
		SigningKeys:        m.Signing,
		Routes:             m.Routes,
		Webhooks:           m.Webhooks,
		Providers:          m.Federation,
		Factors:            m.Factors,
		Store:              m.Store,
		Hasher:             m.hasher,
		Insecure:           m.insecureCookies(),
		IdleTimeout:        m.Config.Dashboard.IdleTimeout,
		AbsoluteTimeout:    m.Config.Dashboard.AbsoluteTimeout,
		DeveloperScopes:    m.Config.Dashboard.DeveloperScopes,
		DeveloperAudiences: m.Config.Dashboard.DeveloperAudiences,
		Now:                m.Now,
		Logger:             m.Logger,
	})
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	m.Dashboard = d
	return nil
}

// dashboardHandler serves /dashboard, or answers 404 when it is off.
func (m *Main) dashboardHandler() http.Handler {
	if m.Dashboard == nil {
		return http.NotFoundHandler()
	}
	return m.Dashboard.Handler()
}

// firstPartyClients are the clients that are part of this server, which
// skip consent and which nobody may change: the CLI's (`gatehouse
// login`), and the dashboard's unless it is off. With the dashboard off,
// a client left from when it was on is an ordinary one (asking consent,
// and deletable). The account pages' (/account) always is.
func (m *Main) firstPartyClients() []string {
	if m.Config.Dashboard.Disabled {
		return []string{admin.CLIClientID, oauth.AccountClientID}
	}
	return []string{admin.CLIClientID, dashboard.ClientID, oauth.AccountClientID}
}
