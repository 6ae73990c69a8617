package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Decisions configures the decision API (docs/integrations.md): another
// proxy (Caddy's forward_auth, Traefik's ForwardAuth, nginx's
// auth_request, Envoy's ext_authz) asks Gatehouse whether a request may
// pass and who made it, and Gatehouse answers from the gateway's route
// table, exactly as its own gateway would decide.
type Decisions struct {
	// Enabled serves POST|GET|… /v1/decisions on the API listener (addr)
	// to the proxies in gateway.trusted_proxies (anyone else gets 403).
	// It runs the gateway's route table even when gateway.addr is off.
	Enabled bool `yaml:"enabled"`
	// GRPCAddr, when set (HOST:PORT), serves Envoy's gRPC external
	// authorization (envoy.service.auth.v3.Authorization/Check) there,
	// with TLS when the API has it.
	GRPCAddr string `yaml:"grpc_addr"`
}

func defaultDecisions() Decisions { return Decisions{Enabled: true} }

func (c *Config) validateDecisions() []error {
	d := &c.Decisions
	if d.GRPCAddr == "" {
		return nil
	}
	var errs []error
	if !d.Enabled {
		errs = append(errs, errors.New("decisions.grpc_addr is set but decisions.enabled is false"))
	}
	host, port, err := net.SplitHostPort(d.GRPCAddr)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
		return append(errs, fmt.Errorf("decisions.grpc_addr %q is not HOST:PORT", d.GRPCAddr))
	}
	if !c.Dev && c.TLSCertFile == "" && !c.BehindTLSProxy && !auth.LoopbackHost(host) {
		errs = append(errs, fmt.Errorf("refusing to serve decisions over plaintext gRPC on the non-loopback address %q: "+
			"set tls_cert_file and tls_key_file, or behind_tls_proxy: true", d.GRPCAddr))
	}
	if d.GRPCAddr == c.Addr && port != "0" || d.GRPCAddr == c.Gateway.Addr && port != "0" {
		errs = append(errs, fmt.Errorf("decisions.grpc_addr %q is the address of another listener", d.GRPCAddr))
	}
	return errs
}
