package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"

	"github.com/gatehouse-dev/gatehouse/internal/extauthz"
)

// decisionsGRPC is the optional listener of Envoy's gRPC external
// authorization (decisions.grpc_addr): the gateway's decision over
// envoy.service.auth.v3.Authorization/Check, and gRPC health beside it.
type decisionsGRPC struct {
	ln  net.Listener
	srv *grpc.Server
	svc *extauthz.Server
}

// startDecisionsGRPC opens the listener and builds the gRPC server when
// decisions.grpc_addr is set, once the gateway is built: with TLS when the
// API has it. serveDecisionsGRPC starts serving.
func (m *Main) startDecisionsGRPC(tlsConfig *tls.Config) error {
	addr := m.Config.Decisions.GRPCAddr
	if addr == "" || m.Gateway == nil {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("decisions gRPC: listen on %s: %w", addr, err)
	}
	var opts []grpc.ServerOption
	if tlsConfig != nil {
		// A copy: gRPC adds its ALPN protocol (h2) to the config.
		opts = append(opts, grpc.Creds(grpccreds.NewTLS(tlsConfig.Clone())))
	}
	d := &decisionsGRPC{ln: ln, srv: grpc.NewServer(opts...), svc: extauthz.New(m.Gateway)}
	d.svc.Register(d.srv)
	m.decisionsGRPC = d
	return nil
}

// serveDecisionsGRPC serves the listener; an error stops the node like one
// of the API listener.
func (m *Main) serveDecisionsGRPC() {
	d := m.decisionsGRPC
	if d == nil {
		return
	}
	serveErr := m.serveErr
	go func() {
		// Serve returns nil once Stop or GracefulStop is called.
		if err := d.srv.Serve(d.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			select {
			case serveErr <- fmt.Errorf("decisions gRPC: %w", err):
			default:
			}
		}
	}()
	m.Logger.Info("decisions gRPC serving", "addr", m.DecisionsGRPCAddr(), "tls", m.Config.TLSCertFile != "")
}

// drainDecisionsGRPC reports the gRPC services NOT_SERVING, so that Envoy's
// health checks take the node out of rotation while it still answers.
func (m *Main) drainDecisionsGRPC() {
	if m.decisionsGRPC != nil {
		m.decisionsGRPC.svc.Shutdown()
	}
}

// stopDecisionsGRPC stops the gRPC listener beside the other servers (wg):
// the calls in flight may finish until ctx is done (the shutdown
// timeout), then the rest are cut.
func (m *Main) stopDecisionsGRPC(ctx context.Context, wg *sync.WaitGroup) {
	d := m.decisionsGRPC
	if d == nil {
		return
	}
	m.decisionsGRPC = nil
	d.svc.Shutdown()
	wg.Add(1)
	go func() {
		defer wg.Done()
		stopped := make(chan struct{})
		go func() {
			d.srv.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			d.srv.Stop()
			<-stopped
		}
		d.ln.Close() // when Serve never ran (a failed start); else already closed
	}()
}

// DecisionsGRPCAddr is where Envoy's gRPC external authorization is
// served, once Run has returned ("" when decisions.grpc_addr is not set).
func (m *Main) DecisionsGRPCAddr() string {
	if m.decisionsGRPC == nil {
		return ""
	}
	return m.decisionsGRPC.ln.Addr().String()
}
