package main

import (
	"fmt"
	"net/netip"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// startPasskeys builds the passkey (WebAuthn) service for the issuer: its
// host is the relying party ID, so passkeys registered here work on every
// node behind it and nowhere else. Refused passkeys are throttled per
// account and address with the one-time codes' limiter (startMFA).
//
// An issuer on an IP address (a test or a first try on 127.0.0.1) can have
// no relying party ID (WebAuthn requires a domain): the node then serves
// without passkeys, and says so, rather than refusing to start.
func (m *Main) startPasskeys(issuer string, hasher *secret.Hasher) error {
	if u, err := url.Parse(issuer); err == nil {
		if _, err := netip.ParseAddr(u.Hostname()); err == nil {
			m.Logger.Warn("passkeys are off: the issuer is an IP address, and WebAuthn needs a domain name", "issuer", issuer)
			return nil
		}
	}
	cfg := passkey.Config{
		Issuer: issuer, RPName: m.Config.Identity.TOTPIssuer, Store: m.Store, Users: m.Accounts, Hasher: hasher,
		Now: m.Now, Logger: m.Logger,
	}
	if m.factorLimiter != nil {
		cfg.Limiter = m.factorLimiter // refused passkeys spend the one-time codes' budget
	}
	var err error
	m.Passkeys, err = passkey.New(cfg)
	if err != nil {
		return fmt.Errorf("passkeys: %w", err)
	}
	return nil
}
