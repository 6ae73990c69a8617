package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadFile feeds arbitrary files to the loader: it must refuse or
// accept them, never panic, and whatever it accepts must be validated
// without panicking either.
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte("addr: 127.0.0.1:7000\nlog_level: debug\ncache_ttl: 10s\n"))
	f.Add([]byte("behind_tls_proxy: true\naddr: 0.0.0.0:80\n"))
	f.Add([]byte("max_body_bytes: 99999999999999999999\n"))
	f.Add([]byte("cache_ttl: -5h\nflush_interval: 1ns\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte(""))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "gatehouse.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c := Default(false)
		if err := c.LoadFile(path); err != nil {
			return
		}
		_ = c.Validate()
	})
}
