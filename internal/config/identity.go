package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Identity configures how users sign in beyond a password: second factors,
// upstream identity providers, the password policy and reset links.
type Identity struct {
	// MFA is the server-wide second-factor policy: optional (users who
	// have a second factor are asked for it) or required (every user
	// needs one; those without are led through enrolment after the
	// password). A client's own mfa setting overrides it.
	MFA string `yaml:"mfa"`
	// TOTPIssuer names this server in authenticator apps (the issuer of
	// otpauth:// URIs).
	TOTPIssuer string `yaml:"totp_issuer"`
	// FactorFailures is how many wrong second-factor codes an account, or
	// a client address, may send per FactorWindow (shared through Redis
	// when redis_url is set).
	FactorFailures int           `yaml:"factor_failures"`
	FactorWindow   time.Duration `yaml:"factor_window"`
	// LinkVerifiedEmail lets a sign-in through an upstream provider join
	// the local account with the same e-mail address when the provider
	// says the address is verified. Off: linking needs the user to sign
	// in to the local account first.
	LinkVerifiedEmail bool `yaml:"link_verified_email"`
	// PasswordMinLength and PasswordMaxLength bound new passwords, in
	// characters (NIST SP 800-63B 5.1.1.2: at least 8; at least 64 allowed).
	PasswordMinLength int `yaml:"password_min_length"`
	PasswordMaxLength int `yaml:"password_max_length"`
	// ResetLinkTTL is how long an administrator's password-reset link
	// works.
	ResetLinkTTL time.Duration `yaml:"reset_link_ttl"`
	// SMTP, when Addr is set, sends reset links by e-mail; otherwise they
	// are only printed for the administrator to pass on.
	SMTP SMTP `yaml:"smtp"`
}

// SMTP is an outgoing mail server.
type SMTP struct {
	Addr         string `yaml:"addr"` // HOST:PORT
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"` // the password, outside the config file
	From         string `yaml:"from"`          // the sender address
	// StartTLS upgrades the connection before authenticating; required
	// unless the server is on a loopback address.
	StartTLS bool `yaml:"starttls"`
}

// Identity defaults.
const (
	DefaultPasswordMinLength = 8
	DefaultPasswordMaxLength = 128
)

func defaultIdentity() Identity {
	return Identity{
		MFA:               auth.MFAOptional,
		TOTPIssuer:        "Gatehouse",
		FactorFailures:    10,
		FactorWindow:      15 * time.Minute,
		PasswordMinLength: DefaultPasswordMinLength,
		PasswordMaxLength: DefaultPasswordMaxLength,
		ResetLinkTTL:      time.Hour,
	}
}

func (i *Identity) validate() []error {
	var errs []error
	if i.MFA == "" || auth.CheckMFAPolicy(i.MFA) != nil {
		errs = append(errs, fmt.Errorf("identity.mfa must be %q or %q", auth.MFAOptional, auth.MFARequired))
	}
	if i.TOTPIssuer == "" || len(i.TOTPIssuer) > 64 {
		errs = append(errs, errors.New("identity.totp_issuer must have 1 to 64 characters"))
	}
	if i.FactorFailures < 1 || i.FactorFailures > 1000 {
		errs = append(errs, errors.New("identity.factor_failures must be between 1 and 1000"))
	}
	if i.FactorWindow < time.Minute || i.FactorWindow > 24*time.Hour {
		errs = append(errs, errors.New("identity.factor_window must be between 1m and 24h"))
	}
	if i.PasswordMinLength < 8 || i.PasswordMinLength > 64 {
		errs = append(errs, errors.New("identity.password_min_length must be between 8 and 64 (NIST SP 800-63B)"))
	}
	if i.PasswordMaxLength < 64 || i.PasswordMaxLength > 1024 || i.PasswordMaxLength < i.PasswordMinLength {
		errs = append(errs, errors.New("identity.password_max_length must be between 64 and 1024, and not below the minimum"))
	}
	if i.ResetLinkTTL < 5*time.Minute || i.ResetLinkTTL > 7*24*time.Hour {
		errs = append(errs, errors.New("identity.reset_link_ttl must be between 5m and 168h"))
	}
	return append(errs, i.SMTP.validate()...)
}

func (s *SMTP) validate() []error {
	if s.Addr == "" {
		return nil
	}
	var errs []error
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("identity.smtp.addr %q is not HOST:PORT", s.Addr))
	} else if !s.StartTLS && !auth.LoopbackHost(host) {
		errs = append(errs, errors.New("identity.smtp.starttls must be true for a mail server that is not on a loopback address"))
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		errs = append(errs, errors.New("identity.smtp.from must be an e-mail address"))
	}
	if (s.Username == "") != (s.PasswordFile == "") {
		errs = append(errs, errors.New("identity.smtp.username and identity.smtp.password_file must be set together"))
	}
	return errs
}
