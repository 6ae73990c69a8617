package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidateOAuth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		dev    bool
		change func(*OAuth)
		want   string // "" means valid
	}{
		{"defaults", false, func(*OAuth) {}, ""},
		{"https issuer", false, func(o *OAuth) { o.Issuer = "https://auth.example.com" }, ""},
		{"https issuer with path", false, func(o *OAuth) { o.Issuer = "https://example.com/auth" }, ""},
		{"http loopback issuer", false, func(o *OAuth) { o.Issuer = "http://127.0.0.1:8080" }, ""},
		{"http issuer in dev", true, func(o *OAuth) { o.Issuer = "http://gatehouse.test:8080" }, ""},
		{"http issuer in production", false, func(o *OAuth) { o.Issuer = "http://auth.example.com" }, "oauth.issuer"},
		{"trailing slash", false, func(o *OAuth) { o.Issuer = "https://auth.example.com/" }, "oauth.issuer"},
		{"query", false, func(o *OAuth) { o.Issuer = "https://auth.example.com?a=b" }, "oauth.issuer"},
		{"fragment", false, func(o *OAuth) { o.Issuer = "https://auth.example.com#x" }, "oauth.issuer"},
		{"userinfo", false, func(o *OAuth) { o.Issuer = "https://u@auth.example.com" }, "oauth.issuer"},
		{"relative", false, func(o *OAuth) { o.Issuer = "/auth" }, "oauth.issuer"},
		{"RS256", false, func(o *OAuth) { o.SigningAlgorithm = "RS256" }, ""},
		{"EdDSA", false, func(o *OAuth) { o.SigningAlgorithm = "EdDSA" }, ""},
		{"HS256", false, func(o *OAuth) { o.SigningAlgorithm = "HS256" }, "signing_algorithm"},
		{"none", false, func(o *OAuth) { o.SigningAlgorithm = "none" }, "signing_algorithm"},
		{"access ttl too long", false, func(o *OAuth) { o.AccessTokenTTL = 48 * time.Hour }, "access_token_ttl"},
		{"access ttl zero", false, func(o *OAuth) { o.AccessTokenTTL = 0 }, "access_token_ttl"},
		{"grace too long", false, func(o *OAuth) { o.RefreshGrace = time.Hour }, "refresh_grace"},
		{"grace negative", false, func(o *OAuth) { o.RefreshGrace = -time.Second }, "refresh_grace"},
		{"idle over absolute", false, func(o *OAuth) { o.RefreshTokenTTL = 100 * 24 * time.Hour }, "refresh_token_ttl must not exceed"},
		{"rotation too short", false, func(o *OAuth) { o.SigningKeyRotation = time.Minute }, "signing_key_rotation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default(tc.dev)
			tc.change(&c.OAuth)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestOAuthFromFileAndEnv(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	yaml := "oauth:\n  issuer: https://file.example.com\n  access_token_ttl: 5m\n  refresh_grace: 10s\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(false)
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEHOUSE_ISSUER": "https://env.example.com", "GATEHOUSE_SIGNING_ALGORITHM": "EdDSA"}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	o := c.OAuth
	if o.Issuer != "https://env.example.com" || o.SigningAlgorithm != "EdDSA" || o.AccessTokenTTL != 5*time.Minute || o.RefreshGrace != 10*time.Second || o.RefreshTokenTTL != 30*24*time.Hour {
		t.Fatalf("OAuth = %+v", o)
	}
}
