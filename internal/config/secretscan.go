package config

import (
	"fmt"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secretscan"
)

// SecretScanning configures POST /v1/secret-scanning, the endpoint that
// GitHub's secret scanning partner program reports leaked keys to.
//
// It is on by default: it acts only on reports signed by a key published at
// PublicKeysURL, so an endpoint nobody registered with GitHub costs nothing
// but an occasional fetch of that document (at most one per few minutes,
// whatever callers send), and one that is registered needs no second step.
type SecretScanning struct {
	Enabled bool `yaml:"enabled"`
	// Policy is what a report of a live key does: revoke (default) or
	// notify (only the key.leaked audit event).
	Policy string `yaml:"policy"`
	// PublicKeysURL serves the keys reports are signed with (GitHub's
	// format); https, or http on loopback or with --dev.
	PublicKeysURL string `yaml:"public_keys_url"`
}

func defaultSecretScanning() SecretScanning {
	return SecretScanning{Enabled: true, Policy: secretscan.PolicyRevoke, PublicKeysURL: secretscan.DefaultPublicKeysURL}
}

func (s *SecretScanning) validate(dev bool) []error {
	var errs []error
	switch s.Policy {
	case secretscan.PolicyRevoke, secretscan.PolicyNotify:
	default:
		errs = append(errs, fmt.Errorf("secret_scanning.policy %q must be %s or %s", s.Policy, secretscan.PolicyRevoke, secretscan.PolicyNotify))
	}
	u, err := url.Parse(s.PublicKeysURL)
	switch {
	case err != nil || u.Host == "" || u.User != nil:
		errs = append(errs, fmt.Errorf("secret_scanning.public_keys_url %q must be an absolute URL without user information", s.PublicKeysURL))
	case u.Scheme == "https":
	case u.Scheme == "http" && (dev || auth.LoopbackHost(u.Hostname())):
	default:
		errs = append(errs, fmt.Errorf("secret_scanning.public_keys_url %q must be an https URL (http only on loopback or with --dev)", s.PublicKeysURL))
	}
	return errs
}
