package config

import (
	"strings"
	"testing"
	"time"
)

func TestDashboardTimeoutsAreBounded(t *testing.T) {
	for _, tc := range []struct {
		name           string
		idle, absolute time.Duration
		want           string
	}{
		{"defaults", 30 * time.Minute, 12 * time.Hour, ""},
		{"idle too short", time.Second, time.Hour, "dashboard.idle_timeout"},
		{"idle too long", 48 * time.Hour, 72 * time.Hour, "dashboard.idle_timeout"},
		{"absolute under idle", time.Hour, 30 * time.Minute, "dashboard.absolute_timeout"},
		{"absolute too long", time.Hour, 30 * 24 * time.Hour, "dashboard.absolute_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default(true)
			c.Dashboard.IdleTimeout, c.Dashboard.AbsoluteTimeout = tc.idle, tc.absolute
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

func TestDashboardSettingsFromTheEnvironment(t *testing.T) {
	c := Default(false)
	env := map[string]string{
		"GATEHOUSE_DASHBOARD_DISABLED":         "true",
		"GATEHOUSE_DASHBOARD_IDLE_TIMEOUT":     "10m",
		"GATEHOUSE_DASHBOARD_ABSOLUTE_TIMEOUT": "8h",
	}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if !c.Dashboard.Disabled || c.Dashboard.IdleTimeout != 10*time.Minute || c.Dashboard.AbsoluteTimeout != 8*time.Hour {
		t.Fatalf("dashboard = %+v", c.Dashboard)
	}
}

func TestWhatDevelopersMayGrantIsChecked(t *testing.T) {
	for _, tc := range []struct {
		scopes, audiences []string
		want              string
	}{
		{[]string{"invoices:read", "orders"}, []string{"https://api.example"}, ""},
		{[]string{"admin"}, nil, `must not hold "admin"`},
		{[]string{"two words"}, nil, "is not a scope"},
		{nil, []string{"api.example"}, "not an absolute URI"},
	} {
		c := Default(true)
		c.Dashboard.DeveloperScopes, c.Dashboard.DeveloperAudiences = tc.scopes, tc.audiences
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("scopes %q audiences %q: %v, want %q", tc.scopes, tc.audiences, err, tc.want)
		}
	}
	c := Default(false)
	env := map[string]string{"GATEHOUSE_DASHBOARD_DEVELOPER_SCOPES": "a, b", "GATEHOUSE_DASHBOARD_DEVELOPER_AUDIENCES": "https://x.example"}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if len(c.Dashboard.DeveloperScopes) != 2 || c.Dashboard.DeveloperScopes[1] != "b" || c.Dashboard.DeveloperAudiences[0] != "https://x.example" {
		t.Fatalf("from the environment: %+v", c.Dashboard)
	}
}
