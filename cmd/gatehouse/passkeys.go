package main

import (
	"fmt"
	"net"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// startPasskeys builds the passkey (WebAuthn) service for the issuer: its
// host is the relying party ID, so passkeys registered here work on every
// node behind it and nowhere else. WebAuthn has no relying party for an IP
// address (browsers refuse it), so an issuer such as http://127.0.0.1:8080
// leaves passkeys off, with a warning, rather than the node down.
func (m *Main) startPasskeys(issuer string, hasher *secret.Hasher) error {
	if u, err := url.Parse(issuer); err == nil && net.ParseIP(u.Hostname()) != nil {
		m.Logger.Warn("passkeys are off: WebAuthn needs a domain name in oauth.issuer, not an IP address", "issuer", issuer)
		return nil
	}
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
