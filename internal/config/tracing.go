package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// Tracing configures OpenTelemetry tracing (docs/tracing.md). It is off
// until OTLPEndpoint is set.
type Tracing struct {
	// OTLPEndpoint is the OTLP/HTTP collector spans are sent to: a base
	// URL (http://localhost:4318, to which /v1/traces is added) or the
	// full URL of its traces path. Empty: tracing off.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share of traces recorded (0 to 1), a caller's
	// sampled traceparent included (see tracing.NewTracerProvider).
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name of the spans.
	ServiceName string `yaml:"service_name"`
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t.OTLPEndpoint != "" }

func defaultTracing() Tracing {
	return Tracing{SampleRatio: 1, ServiceName: tracing.DefaultServiceName}
}

// parseSampleRatio reads GATEHOUSE_TRACING_SAMPLE_RATIO.
func parseSampleRatio(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		return 0, fmt.Errorf("GATEHOUSE_TRACING_SAMPLE_RATIO: %q is not a number between 0 and 1", v)
	}
	return f, nil
}

func (t *Tracing) validate() []error {
	var errs []error
	if t.OTLPEndpoint != "" {
		if _, err := tracing.EndpointURL(t.OTLPEndpoint); err != nil {
			errs = append(errs, errors.New("tracing.otlp_endpoint must be an http:// or https:// URL without user information, query or fragment (like http://localhost:4318)"))
		}
	}
	if !(t.SampleRatio >= 0 && t.SampleRatio <= 1) {
		errs = append(errs, errors.New("tracing.sample_ratio must be between 0 and 1"))
	}
	if t.ServiceName == "" {
		errs = append(errs, errors.New("tracing.service_name must not be empty"))
	}
	return errs
}
