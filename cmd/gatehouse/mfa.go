package main

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/mfa"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
)

// startMFA builds the authenticator-app service: secrets sealed with the
// signing keys' sealer, recovery codes hashed with the server's hasher,
// wrong codes throttled per account and address (across the nodes through
// Redis when redis_url is set).
func (m *Main) startMFA(sealer *signing.Sealer, hasher *secret.Hasher) error {
	id := m.Config.Identity
	lc := account.FactorConfig{Failures: id.FactorFailures, Window: id.FactorWindow, Now: m.Now, Logger: m.Logger}
	if m.limits != nil {
		lc.Shared = m.limits.Scope("factor")
	}
	limiter, err := account.NewFactorLimiter(lc)
	if err != nil {
		return fmt.Errorf("second factors: %w", err)
	}
	m.factorLimiter = limiter // refused passkeys draw on the same budget
	m.MFA, err = mfa.New(mfa.Config{Store: m.Store, Sealer: sealer, Hasher: hasher, Limiter: limiter,
		Issuer: id.TOTPIssuer, Now: m.Now, Logger: m.Logger})
	if err != nil {
		return fmt.Errorf("second factors: %w", err)
	}
	return nil
}
