package main

import (
	"context"
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestDecisionsGRPC runs a node with decisions.grpc_addr and asks it, as
// Envoy's ext_authz filter does, through a real gRPC client with Envoy's
// message types: a valid key passes with its identity, a wrong one gets
// the gateway's 401; over plaintext on loopback, and over TLS with the
// API's certificate.
func TestDecisionsGRPC(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		name := "plaintext"
		if withTLS {
			name = "TLS"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir, "")
			cfg.Decisions.GRPCAddr = "127.0.0.1:0"
			cfg.Gateway.TrustedProxies = []string{"127.0.0.1"}
			creds := insecure.NewCredentials()
			if withTLS {
				certFile, keyFile, pool := selfSignedCert(t, dir)
				cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
				creds = grpccreds.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
			}
			if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
				t.Fatal(err)
			}
			logs := &testenv.SyncBuffer{}
			n := startNode(t, cfg, testenv.NewClock(time.Now().UTC()), logs)
			m := n.main
			if m.DecisionsGRPCAddr() == "" || !strings.Contains(logs.String(), "decisions gRPC serving") {
				t.Fatalf("no decisions gRPC listener (addr %q)", m.DecisionsGRPCAddr())
			}
			ctx := t.Context()
			_, key, err := m.Keys.Create(ctx, apikey.CreateParams{Owner: "shop", Name: "e2e", Scopes: []string{"orders:read"}, Actor: auth.ActorSystem})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Routes.Create(ctx, auth.Route{Name: "orders", PathPrefix: "/orders", Policy: auth.PolicyAPIKey,
				Upstreams: []string{"http://127.0.0.1:1"}}, auth.ActorSystem); err != nil {
				t.Fatal(err)
			}

			conn, err := grpc.NewClient(m.DecisionsGRPCAddr(), grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			health, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health: %v, %v", health, err)
			}
			client := authv3.NewAuthorizationClient(conn)
			check := func(apiKey string) *authv3.CheckResponse {
				t.Helper()
				resp, err := client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
					Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
						Method: "GET", Path: "/orders/7", Host: "shop.example.com", Scheme: "https",
						Headers: map[string]string{"x-api-key": apiKey, "x-gatehouse-key-id": "spoofed"},
					}},
				}})
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return resp
			}

			ok := check(key).GetOkResponse()
			if ok == nil {
				t.Fatal("a valid key was refused")
			}
			subject := ""
			for _, h := range ok.GetHeaders() {
				if h.GetHeader().GetKey() == gateway.HeaderSubject {
					subject = h.GetHeader().GetValue()
				}
			}
			if subject != "shop" {
				t.Errorf("X-Gatehouse-Subject %q, want shop; headers %v", subject, ok.GetHeaders())
			}

			resp := check(key[:len(key)-2] + "xx")
			d := resp.GetDeniedResponse()
			if codes.Code(resp.GetStatus().GetCode()) != codes.Unauthenticated || d.GetStatus().GetCode() != 401 ||
				!strings.Contains(d.GetBody(), "urn:gatehouse:problem:") {
				t.Fatalf("a wrong key: %v", resp)
			}
			challenge := false
			for _, h := range d.GetHeaders() {
				challenge = challenge || strings.EqualFold(h.GetHeader().GetKey(), "WWW-Authenticate")
			}
			if !challenge {
				t.Errorf("no WWW-Authenticate on the 401: %v", d.GetHeaders())
			}

			// Draining, Envoy's health checks are told to look elsewhere.
			m.Drain(0, nil)
			health, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
			if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Errorf("health while draining: %v, %v", health, err)
			}
			if err := m.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if _, err := client.Check(ctx, &authv3.CheckRequest{}); err == nil {
				t.Error("the listener still answers after Close")
			}
		})
	}
}
