package main

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
	"github.com/gatehouse-dev/gatehouse/internal/selfservice"
)

// The authorization server's browser session is the account pages' (see
// internal/oauth/account.go).
var _ selfservice.Sessions = (*oauth.Server)(nil)

// startAccountClient registers the account pages' first-party client
// (oauth.AccountClient) for the node's issuer, or brings its redirect URI
// up to date with it. A client that cannot be registered (an issuer it
// does not fit) costs the account pages their sign-in, not the node its
// start: the warning says why.
func (m *Main) startAccountClient(ctx context.Context) error {
	_, err := m.Clients.EnsureFirstParty(ctx, oauth.AccountClientID, oauth.AccountClient(m.issuer))
	if auth.ErrorCode(err) == auth.EINVALID {
		m.Logger.Warn("the account pages cannot sign anyone in: their OAuth client does not fit this issuer; set oauth.issuer to an https URL",
			"issuer", m.issuer, "reason", auth.ErrorMessage(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("account client: %w", err)
	}
	return nil
}

// startAccount builds the account pages over the node's services: the
// authorization server's sessions and consents, the accounts, the store.
func (m *Main) startAccount() error {
	cfg := selfservice.Config{
		Issuer:     m.issuer,
		Sessions:   m.OAuth,
		Store:      m.Store,
		Accounts:   m.Accounts,
		Hasher:     m.hasher,
		Consents:   m.OAuth,
		Clients:    m.Clients,
		Stylesheet: m.issuer + oauth.PathStylesheet,
		Now:        m.Now,
		Logger:     m.Logger,
	}
	if m.MFA != nil {
		cfg.TOTP = m.MFA
	}
	if m.Passkeys != nil {
		cfg.Passkeys = m.Passkeys
	}
	if m.Federation != nil {
		cfg.Providers = m.Federation
	}
	a, err := selfservice.New(cfg)
	if err != nil {
		return fmt.Errorf("account pages: %w", err)
	}
	m.Account = a
	return nil
}
