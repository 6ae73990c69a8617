package main

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/secretscan"
)

// secretScanner builds the handler of POST /v1/secret-scanning from
// secret_scanning, or returns nil (the route answers 404) when it is off.
// The result is an interface so that "off" is a true nil, not a nil
// *Scanner inside a non-nil interface.
func (m *Main) secretScanner() (admin.SecretScanner, error) {
	cfg := m.Config.SecretScanning
	if !cfg.Enabled {
		return nil, nil
	}
	keys, err := secretscan.NewPublicKeys(secretscan.KeysConfig{URL: cfg.PublicKeysURL, Now: m.Now, Logger: m.Logger})
	if err != nil {
		return nil, fmt.Errorf("secret scanning: %w", err)
	}
	s, err := secretscan.New(secretscan.Config{Keys: keys, Reporter: m.Keys, Policy: cfg.Policy, Logger: m.Logger})
	if err != nil {
		return nil, fmt.Errorf("secret scanning: %w", err)
	}
	return s, nil
}
