package main

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/federation"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
)

// startFederation builds the upstream identity provider service: client
// secrets and pending sign-ins sealed under a key derived from the server
// secret for this use alone.
func (m *Main) startFederation(serverSecret []byte, issuer string) error {
	key, err := federation.DeriveSealingKey(serverSecret)
	if err != nil {
		return fmt.Errorf("providers: %w", err)
	}
	sealer, err := signing.NewSealer(key)
	if err != nil {
		return fmt.Errorf("providers: %w", err)
	}
	cfg := federation.Config{
		Store: m.Store, Sealer: sealer, Issuer: issuer,
		LinkVerifiedEmail: m.Config.Identity.LinkVerifiedEmail,
		InsecureCookies:   m.insecureCookies(),
		Now:               m.Now, Logger: m.Logger,
	}
	if m.Passkeys != nil { // a passkey is a way in: the last provider link may go
		cfg.Passkeys = m.Passkeys
	}
	m.Federation, err = federation.New(cfg)
	if err != nil {
		return fmt.Errorf("providers: %w", err)
	}
	return nil
}
