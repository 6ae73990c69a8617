package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretScanningDefaults(t *testing.T) {
	c := Default(false)
	s := c.SecretScanning
	if !s.Enabled || s.Policy != "revoke" || s.PublicKeysURL != "https://api.github.com/meta/public_keys/secret_scanning" {
		t.Fatalf("defaults = %+v, want enabled, revoke, GitHub's URL", s)
	}
}

func TestSecretScanningFromFileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	yaml := "secret_scanning:\n  policy: notify\n  public_keys_url: https://keys.example/a\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(false)
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if c.SecretScanning.Policy != "notify" || c.SecretScanning.PublicKeysURL != "https://keys.example/a" || !c.SecretScanning.Enabled {
		t.Fatalf("from the file: %+v", c.SecretScanning)
	}
	env := map[string]string{
		"GATEHOUSE_SECRET_SCANNING_ENABLED":  "false",
		"GATEHOUSE_SECRET_SCANNING_POLICY":   "revoke",
		"GATEHOUSE_SECRET_SCANNING_KEYS_URL": "https://keys.example/b",
	}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.SecretScanning.Enabled || c.SecretScanning.Policy != "revoke" || c.SecretScanning.PublicKeysURL != "https://keys.example/b" {
		t.Fatalf("from the environment: %+v", c.SecretScanning)
	}
	bad := map[string]string{"GATEHOUSE_SECRET_SCANNING_ENABLED": "maybe"}
	if err := c.ApplyEnv(func(k string) string { return bad[k] }); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET_SCANNING_ENABLED") {
		t.Fatalf("ApplyEnv(enabled=maybe) = %v", err)
	}
}

func TestValidateSecretScanning(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"notify", func(c *Config) { c.SecretScanning.Policy = "notify" }, ""},
		{"unknown policy", func(c *Config) { c.SecretScanning.Policy = "delete" }, "secret_scanning.policy"},
		{"empty policy", func(c *Config) { c.SecretScanning.Policy = "" }, "secret_scanning.policy"},
		{"plain http elsewhere", func(c *Config) { c.SecretScanning.PublicKeysURL = "http://keys.example/k" }, "must be an https URL"},
		{"plain http on loopback", func(c *Config) { c.SecretScanning.PublicKeysURL = "http://127.0.0.1:9/k" }, ""},
		{"plain http in dev mode", func(c *Config) { c.Dev, c.SecretScanning.PublicKeysURL = true, "http://keys.example/k" }, ""},
		{"not a URL", func(c *Config) { c.SecretScanning.PublicKeysURL = "keys" }, "secret_scanning.public_keys_url"},
		{"user information", func(c *Config) { c.SecretScanning.PublicKeysURL = "https://u:p@keys.example/k" }, "secret_scanning.public_keys_url"},
		{"file URL", func(c *Config) { c.SecretScanning.PublicKeysURL = "file:///etc/passwd" }, "secret_scanning.public_keys_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default(false)
			tc.modify(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
