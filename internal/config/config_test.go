package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	for _, dev := range []bool{false, true} {
		c := Default(dev)
		if err := c.Validate(); err != nil {
			t.Errorf("Default(%v) is invalid: %v", dev, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{"loopback plain HTTP is allowed", func(c *Config) { c.Addr = "127.0.0.1:9000" }, ""},
		{"IPv6 loopback plain HTTP is allowed", func(c *Config) { c.Addr = "[::1]:9000" }, ""},
		// One loopback rule, auth's: host names are case-insensitive.
		{"LOCALHOST plain HTTP is allowed", func(c *Config) { c.Addr = "LOCALHOST:9000" }, ""},
		{"an http issuer on LocalHost is allowed", func(c *Config) { c.OAuth.Issuer = "http://LocalHost:8080" }, ""},
		{"an http issuer elsewhere is refused", func(c *Config) { c.OAuth.Issuer = "http://auth.example" }, "must be an https URL"},
		{"non-loopback plain HTTP is refused", func(c *Config) { c.Addr = "0.0.0.0:8080" }, "refusing to serve plain HTTP"},
		{"all interfaces without host is refused", func(c *Config) { c.Addr = ":8080" }, "refusing to serve plain HTTP"},
		{"non-loopback with TLS files is allowed", func(c *Config) {
			c.Addr, c.TLSCertFile, c.TLSKeyFile = "0.0.0.0:8443", "cert.pem", "key.pem"
		}, ""},
		{"non-loopback behind a TLS proxy is allowed", func(c *Config) { c.Addr, c.BehindTLSProxy = "0.0.0.0:8080", true }, ""},
		{"non-loopback in dev mode is allowed", func(c *Config) { c.Addr, c.Dev = "0.0.0.0:8080", true }, ""},
		{"half a TLS pair is refused", func(c *Config) { c.TLSCertFile = "cert.pem" }, "must be set together"},
		{"bad address", func(c *Config) { c.Addr = "localhost" }, "not HOST:PORT"},
		{"bad port", func(c *Config) { c.Addr = "127.0.0.1:99999" }, "invalid port"},
		{"non-postgres DB URL", func(c *Config) { c.DB = "mysql://x" }, "postgres://"},
		{"postgres DB URL", func(c *Config) { c.DB = "postgres://u@h/db" }, ""},
		{"bad key prefix", func(c *Config) { c.KeyPrefix = "SK-LIVE" }, "key_prefix"},
		{"custom key prefix", func(c *Config) { c.KeyPrefix = "acme_prod_" }, ""},
		{"accept live keys only", func(c *Config) { c.AcceptKeyEnvironments = []string{"live"} }, ""},
		{"accept every environment", func(c *Config) { c.AcceptKeyEnvironments = []string{"test", "live"} }, ""},
		{"accept an unknown environment", func(c *Config) { c.AcceptKeyEnvironments = []string{"live", "staging"} }, "accept_key_environments"},
		{"refuse the environment new keys get", func(c *Config) {
			c.KeyPrefix, c.AcceptKeyEnvironments = "sk_test_", []string{"live"}
		}, "leaves out test"},
		{"short secret", func(c *Config) { c.Secret = make([]byte, 16) }, "at least 32 bytes"},
		{"bad log format", func(c *Config) { c.LogFormat = "xml" }, "log_format"},
		{"tiny flush interval", func(c *Config) { c.FlushInterval = time.Millisecond }, "flush_interval"},
		{"tiny body limit", func(c *Config) { c.MaxBodyBytes = 10 }, "max_body_bytes"},
		{"no store outage grace (strict fail-closed)", func(c *Config) { c.StoreOutageGrace = 0 }, ""},
		{"negative store outage grace", func(c *Config) { c.StoreOutageGrace = -time.Second }, "store_outage_grace"},
		{"store outage grace over an hour", func(c *Config) { c.StoreOutageGrace = 2 * time.Hour }, "store_outage_grace"},
		{"gateway off", func(c *Config) { c.Gateway.Addr = "off" }, ""},
		{"redis URL", func(c *Config) { c.RedisURL = "redis://127.0.0.1:6379/0" }, ""},
		{"bad redis URL", func(c *Config) { c.RedisURL = "127.0.0.1:6379" }, "redis_url"},
		{"gateway bad address", func(c *Config) { c.Gateway.Addr = "8081" }, "gateway.addr"},
		{"gateway on the API's port", func(c *Config) { c.Gateway.Addr = c.Addr }, "its own port"},
		{"gateway plain HTTP on all interfaces", func(c *Config) { c.Gateway.Addr = "0.0.0.0:8081" }, "gateway over plain HTTP"},
		{"gateway behind a TLS proxy", func(c *Config) { c.Gateway.Addr, c.BehindTLSProxy = "0.0.0.0:8081", true }, ""},
		{"trusted proxies", func(c *Config) { c.Gateway.TrustedProxies = []string{"10.0.0.0/8", "192.168.1.1", "::1"} }, ""},
		{"bad trusted proxy", func(c *Config) { c.Gateway.TrustedProxies = []string{"10.0.0.0/33"} }, "trusted_proxies"},
		{"internal token TTL too long", func(c *Config) { c.Gateway.InternalTokenTTL = 2 * time.Hour }, "internal_token_ttl"},
		{"gateway public URL with a path", func(c *Config) { c.Gateway.PublicURL = "https://api.example.com/v1" }, "gateway.public_url"},
		{"gateway public URL over plain HTTP", func(c *Config) { c.Gateway.PublicURL = "http://api.example.com" }, "gateway.public_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default(false)
			tt.modify(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestTrustedPrefixes(t *testing.T) {
	g := Gateway{TrustedProxies: []string{"10.1.2.3/8", " 192.168.1.1 ", "::ffff:127.0.0.1", "fd00::/8"}}
	got, err := g.TrustedPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	if want := "10.0.0.0/8 192.168.1.1/32 127.0.0.1/32 fd00::/8"; strings.Join(s, " ") != want {
		t.Fatalf("TrustedPrefixes = %v, want %s", s, want)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default(false)
	c.LogFormat, c.LogLevel = "xml", "loud"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "log_format") || !strings.Contains(err.Error(), "log_level") {
		t.Fatalf("error = %v, want both problems", err)
	}
}

func TestLoadFileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte("addr: 127.0.0.1:7000\nlog_level: debug\ncache_ttl: 10s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(false)
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"GATEHOUSE_ADDR":   "127.0.0.1:7001",
		"GATEHOUSE_SECRET": strings.Repeat("ab", 32),
	}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7001" {
		t.Errorf("Addr = %q, want the environment to win over the file", c.Addr)
	}
	if c.LogLevel != "debug" || c.CacheTTL != 10*time.Second {
		t.Errorf("file settings lost: %+v", c)
	}
	if len(c.Secret) != 32 {
		t.Errorf("secret has %d bytes, want 32", len(c.Secret))
	}
}

func TestAcceptKeyEnvironmentsFromFileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte("accept_key_environments: [live]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(false)
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.AcceptKeyEnvironments, []string{"live"}) {
		t.Fatalf("from the file: %q", c.AcceptKeyEnvironments)
	}
	env := map[string]string{"GATEHOUSE_ACCEPT_KEY_ENVIRONMENTS": "live, test"}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.AcceptKeyEnvironments, []string{"live", "test"}) {
		t.Fatalf("from the environment: %q", c.AcceptKeyEnvironments)
	}
	env["GATEHOUSE_ACCEPT_KEY_ENVIRONMENTS"] = "live,qa"
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"qa"`) {
		t.Fatalf("Validate with qa: %v", err)
	}
}

func TestLoadFileRejectsUnknownSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte("adress: 127.0.0.1:7000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(false)
	if err := c.LoadFile(path); err == nil || !strings.Contains(err.Error(), "adress") {
		t.Fatalf("error = %v, want it to name the unknown setting", err)
	}
}

func TestLoadFileAcceptsAnEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(false)
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
}

func TestApplyEnvRejectsBadValues(t *testing.T) {
	env := map[string]string{
		"GATEHOUSE_CACHE_TTL":        "soon",
		"GATEHOUSE_BEHIND_TLS_PROXY": "perhaps",
		"GATEHOUSE_SECRET":           "c2hvcnQ=",
	}
	c := Default(false)
	err := c.ApplyEnv(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"GATEHOUSE_CACHE_TTL", "GATEHOUSE_BEHIND_TLS_PROXY", "GATEHOUSE_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "c2hvcnQ=") {
		t.Error("the error echoes the secret")
	}
}

func TestWebhooksAllowPrivate(t *testing.T) {
	if Default(false).Webhooks.AllowPrivate {
		t.Error("private webhook destinations are allowed by default")
	}
	if !Default(true).Webhooks.AllowPrivate {
		t.Error("--dev does not allow private webhook destinations")
	}
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte("webhooks:\n  allow_private: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(false)
	if err := c.LoadFile(path); err != nil || !c.Webhooks.AllowPrivate {
		t.Fatalf("from the file: %v, %v", c.Webhooks.AllowPrivate, err)
	}
	env := map[string]string{"GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE": "false"}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil || c.Webhooks.AllowPrivate {
		t.Fatalf("the environment does not win: %v, %v", c.Webhooks.AllowPrivate, err)
	}
}

func TestVerifyRateLimit(t *testing.T) {
	c := Default(false)
	if c.VerifyRateLimit.Rate != DefaultVerifyRate || c.VerifyRateLimit.Burst != 2*DefaultVerifyRate {
		t.Errorf("default verify_rate_limit = %+v", c.VerifyRateLimit)
	}
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte("verify_rate_limit: {rate: 50, burst: 80}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if c.VerifyRateLimit.Rate != 50 || c.VerifyRateLimit.Burst != 80 {
		t.Errorf("from the file: %+v", c.VerifyRateLimit)
	}
	if err := c.ApplyEnv(func(k string) string {
		return map[string]string{"GATEHOUSE_VERIFY_RATE_LIMIT": "300"}[k]
	}); err != nil {
		t.Fatal(err)
	}
	if c.VerifyRateLimit.Rate != 300 || c.VerifyRateLimit.Burst != 600 {
		t.Errorf("from the environment: %+v", c.VerifyRateLimit)
	}
	if err := c.ApplyEnv(func(k string) string {
		return map[string]string{"GATEHOUSE_VERIFY_RATE_LIMIT": "0"}[k]
	}); err != nil || c.Validate() != nil || !c.VerifyRateLimit.Unlimited() {
		t.Errorf("0 turns the limit off: %+v %v", c.VerifyRateLimit, c.Validate())
	}
	for _, bad := range []string{"-1", "fast", "NaN", "1e300"} {
		c := Default(false)
		if err := c.ApplyEnv(func(k string) string {
			return map[string]string{"GATEHOUSE_VERIFY_RATE_LIMIT": bad}[k]
		}); err == nil {
			t.Errorf("GATEHOUSE_VERIFY_RATE_LIMIT=%s accepted", bad)
		}
	}
	c = Default(false)
	c.VerifyRateLimit.Burst = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "verify_rate_limit") {
		t.Errorf("a rate without a burst: %v", err)
	}
}

func TestStoreOutageGraceIsAMinuteByDefaultAndSetFromTheEnvironment(t *testing.T) {
	c := Default(false)
	if c.StoreOutageGrace != time.Minute {
		t.Fatalf("default store_outage_grace %s, want 1m", c.StoreOutageGrace)
	}
	env := map[string]string{"GATEHOUSE_STORE_OUTAGE_GRACE": "0s"}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.StoreOutageGrace != 0 {
		t.Fatalf("GATEHOUSE_STORE_OUTAGE_GRACE=0s gave %s", c.StoreOutageGrace)
	}
}
