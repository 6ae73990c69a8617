package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClusterHeartbeatIntervalIsBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		interval time.Duration
		want     string
	}{
		{"default", 5 * time.Second, ""},
		{"shortest", 100 * time.Millisecond, ""},
		{"longest", time.Minute, ""},
		{"zero", 0, "cluster.heartbeat_interval"},
		{"negative", -time.Second, "cluster.heartbeat_interval"},
		{"too short", 99 * time.Millisecond, "cluster.heartbeat_interval"},
		{"too long", time.Minute + time.Second, "cluster.heartbeat_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default(true)
			c.Cluster.HeartbeatInterval = tc.interval
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("Validate = %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestClusterHeartbeatIntervalDefaultsToFiveSeconds(t *testing.T) {
	t.Parallel()
	for _, dev := range []bool{false, true} {
		if got := Default(dev).Cluster.HeartbeatInterval; got != 5*time.Second {
			t.Errorf("Default(%v) heartbeat interval = %v, want 5s", dev, got)
		}
	}
}

func TestClusterHeartbeatIntervalFromFileAndEnvironment(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte("cluster:\n  heartbeat_interval: 2s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(false)
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if c.Cluster.HeartbeatInterval != 2*time.Second {
		t.Fatalf("from the file: %v, want 2s", c.Cluster.HeartbeatInterval)
	}
	env := map[string]string{"GATEHOUSE_CLUSTER_HEARTBEAT_INTERVAL": "750ms"}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Cluster.HeartbeatInterval != 750*time.Millisecond {
		t.Fatalf("from the environment: %v, want 750ms", c.Cluster.HeartbeatInterval)
	}
	env["GATEHOUSE_CLUSTER_HEARTBEAT_INTERVAL"] = "soon"
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_CLUSTER_HEARTBEAT_INTERVAL") {
		t.Fatalf("ApplyEnv(soon) = %v, want an error naming the variable", err)
	}
}
