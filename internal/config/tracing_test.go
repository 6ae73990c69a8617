package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTracingIsOffByDefault(t *testing.T) {
	for _, dev := range []bool{false, true} {
		c := Default(dev)
		if c.Tracing.Enabled() {
			t.Errorf("Default(%v) turns tracing on: %+v", dev, c.Tracing)
		}
		if c.Tracing.SampleRatio != 1 || c.Tracing.ServiceName != "gatehouse" {
			t.Errorf("Default(%v).Tracing = %+v, want ratio 1 and service gatehouse", dev, c.Tracing)
		}
	}
}

func TestTracingValidation(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Tracing)
		want   string // substring of the error; "" for valid
	}{
		{"a base URL", func(t *Tracing) { t.OTLPEndpoint = "http://localhost:4318" }, ""},
		{"a full traces URL over TLS", func(t *Tracing) { t.OTLPEndpoint = "https://otlp.example/v1/traces" }, ""},
		{"host and port without a scheme", func(t *Tracing) { t.OTLPEndpoint = "localhost:4318" }, "tracing.otlp_endpoint"},
		{"a gRPC scheme", func(t *Tracing) { t.OTLPEndpoint = "grpc://localhost:4317" }, "tracing.otlp_endpoint"},
		{"credentials in the URL", func(t *Tracing) { t.OTLPEndpoint = "https://user:token@otlp.example" }, "tracing.otlp_endpoint"},
		{"a query", func(t *Tracing) { t.OTLPEndpoint = "https://otlp.example/?token=x" }, "tracing.otlp_endpoint"},
		{"sampling nothing", func(t *Tracing) { t.SampleRatio = 0 }, ""},
		{"a ratio above one", func(t *Tracing) { t.SampleRatio = 1.5 }, "tracing.sample_ratio"},
		{"a negative ratio", func(t *Tracing) { t.SampleRatio = -0.1 }, "tracing.sample_ratio"},
		{"no service name", func(t *Tracing) { t.ServiceName = "" }, "tracing.service_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default(false)
			tt.modify(&c.Tracing)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "token") {
				t.Fatalf("the error repeats the endpoint, which may hold a secret: %v", err)
			}
		})
	}
}

func TestTracingFromEnvironment(t *testing.T) {
	c := Default(false)
	env := map[string]string{
		"GATEHOUSE_TRACING_OTLP_ENDPOINT": "http://collector:4318",
		"GATEHOUSE_TRACING_SAMPLE_RATIO":  "0.25",
		"GATEHOUSE_TRACING_SERVICE_NAME":  "gatehouse-eu",
	}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	want := Tracing{OTLPEndpoint: "http://collector:4318", SampleRatio: 0.25, ServiceName: "gatehouse-eu"}
	if c.Tracing != want {
		t.Fatalf("Tracing = %+v, want %+v", c.Tracing, want)
	}
	for _, bad := range []string{"half", "NaN"} {
		c := Default(false)
		err := c.ApplyEnv(func(k string) string {
			if k == "GATEHOUSE_TRACING_SAMPLE_RATIO" {
				return bad
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_TRACING_SAMPLE_RATIO") {
			t.Errorf("ratio %q: ApplyEnv = %v, want an error naming the variable", bad, err)
		}
	}
}

func TestTracingFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	yaml := "tracing:\n  otlp_endpoint: http://localhost:4318\n  sample_ratio: 0.1\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(false)
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if !c.Tracing.Enabled() || c.Tracing.SampleRatio != 0.1 || c.Tracing.ServiceName != "gatehouse" {
		t.Fatalf("Tracing = %+v", c.Tracing)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
