package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/email"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/selfservice"
)

// passwordPolicy is the configured password policy.
func (m *Main) passwordPolicy() password.Policy {
	id := m.Config.Identity
	return password.Policy{MinLength: id.PasswordMinLength, MaxLength: id.PasswordMaxLength}
}

// resetLinkConfig configures administrators' password-reset links: keyed
// with the server's hashing secret, pointing at the issuer's
// /account/reset, valid for identity.reset_link_ttl, and e-mailed through
// identity.smtp when it is set.
func (m *Main) resetLinkConfig(serverSecret []byte) (account.ResetLinkConfig, error) {
	hasher, err := secret.NewHasher(serverSecret)
	if err != nil {
		return account.ResetLinkConfig{}, err
	}
	issuer := m.Config.OAuth.Issuer
	if issuer == "" {
		issuer = m.URL()
	}
	cfg := account.ResetLinkConfig{
		Hasher: hasher,
		URL:    strings.TrimSuffix(issuer, "/") + selfservice.Path + "/reset",
		TTL:    m.Config.Identity.ResetLinkTTL,
	}
	s := m.Config.Identity.SMTP
	if s.Addr == "" {
		return cfg, nil
	}
	mailer := &email.SMTP{Addr: s.Addr, Username: s.Username, From: s.From, StartTLS: s.StartTLS}
	if s.PasswordFile != "" {
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return cfg, fmt.Errorf("identity.smtp.password_file: %w", err)
		}
		if mailer.Password = strings.TrimRight(string(b), "\r\n"); mailer.Password == "" {
			return cfg, errors.New("identity.smtp.password_file is empty")
		}
	}
	cfg.Mailer = mailer
	return cfg, nil
}
