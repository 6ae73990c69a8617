package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestUsageRetentionDefaultsAndBounds(t *testing.T) {
	c := Default(false)
	if c.Usage.Retention != auth.DefaultUsageRetention {
		t.Errorf("default retention %+v", c.Usage.Retention)
	}
	for _, tc := range []struct {
		name   string
		modify func(r *auth.UsageRetention)
		want   string
	}{
		{"minute buckets kept a week", func(r *auth.UsageRetention) { r.Minute = 7 * 24 * time.Hour }, ""},
		{"minute buckets kept ten minutes", func(r *auth.UsageRetention) { r.Minute = 10 * time.Minute }, "usage.retention.minute"},
		{"minute buckets kept forever", func(r *auth.UsageRetention) { r.Minute = 0 }, "usage.retention.minute"},
		{"hour buckets kept negative", func(r *auth.UsageRetention) { r.Hour = -time.Hour }, "usage.retention.hour"},
		{"day buckets kept a century", func(r *auth.UsageRetention) { r.Day = 100 * 365 * 24 * time.Hour }, "usage.retention.day"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default(false)
			tc.modify(&c.Usage.Retention)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUsageRetentionFromFileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte("usage:\n  retention:\n    minute: 72h\n    day: 8760h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(false)
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEHOUSE_USAGE_RETENTION_HOUR": "720h"}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	want := auth.UsageRetention{Minute: 72 * time.Hour, Hour: 720 * time.Hour, Day: 8760 * time.Hour}
	if c.Usage.Retention != want {
		t.Errorf("retention %+v, want %+v", c.Usage.Retention, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}
