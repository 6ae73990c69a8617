package main

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// startPasskeys builds the passkey (WebAuthn) service for the issuer: its
// host is the relying party ID, so passkeys registered here work on every
// node behind it and nowhere else.
func (m *Main) startPasskeys(issuer string, hasher *secret.Hasher) error {
	var err error
	m.Passkeys, err = passkey.New(passkey.Config{
		Issuer: issuer, RPName: m.Config.Identity.TOTPIssuer, Store: m.Store, Users: m.Accounts, Hasher: hasher,
		Now: m.Now, Logger: m.Logger,
	})
	if err != nil {
		return fmt.Errorf("passkeys: %w", err)
	}
	return nil
}
