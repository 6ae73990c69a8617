package main

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// startCLIClient registers the CLI's first-party client (`gatehouse
// login`'s, admin.CLIClient) for the node's issuer, or brings its audience
// up to date with it, once the authorization server is built. A client
// that cannot be registered costs the CLI its sign-in, not the node its
// start: the warning says why.
func (m *Main) startCLIClient(ctx context.Context) error {
	_, err := m.Clients.EnsureFirstParty(ctx, admin.CLIClientID, admin.CLIClient(m.issuer))
	if auth.ErrorCode(err) == auth.EINVALID {
		m.Logger.Warn("gatehouse login cannot sign anyone in: the CLI's OAuth client does not fit this issuer",
			"issuer", m.issuer, "reason", auth.ErrorMessage(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("CLI client: %w", err)
	}
	return nil
}

// adminTokens lets the admin API accept the access tokens of people
// signed in with `gatehouse login`, checked against the keyring and the
// store's revocation list.
func (m *Main) adminTokens() *admin.TokenConfig {
	return &admin.TokenConfig{
		Issuer:      m.issuer,
		JWKS:        m.Signing.JWKS,
		Leeway:      m.Signing.Leeway(),
		Revocations: m.Store,
	}
}
