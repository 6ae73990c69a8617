// Package extauthz serves Envoy's external authorization over gRPC
// (envoy.service.auth.v3.Authorization/Check) with the gateway's own
// decision: each CheckRequest becomes the original request as an
// *http.Request, the Decider answers it as the decision API does, and the
// answer becomes a CheckResponse. Allowed, Envoy sets the identity
// headers on the request it forwards, removes what the client sent that
// the gateway would not have forwarded, and adds RateLimit-* and
// X-Request-Id to the client's response; refused, Envoy answers the
// client with the decision's status, headers and problem body unchanged.
//
// The service also registers gRPC health checking (grpc.health.v1), so
// that Envoy can health-check the cluster it reaches Gatehouse through.
package extauthz

import (
	"context"
	"net/http"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// Decider answers the decision for r, the original request as a proxy
// describes it, with r.RemoteAddr the proxy asking (which must be a
// trusted proxy): 200 with the identity headers to set upstream, or the
// refusal the client gets. *gateway.Gateway is one.
type Decider interface {
	Decide(w http.ResponseWriter, r *http.Request)
}

var _ Decider = (*gateway.Gateway)(nil)

// Server is the Authorization service, and the health service beside it.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	decider Decider
	health  *health.Server
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// New returns the service for d, healthy ("SERVING", for the server as a
// whole and for envoy.service.auth.v3.Authorization) until Shutdown.
func New(d Decider) *Server {
	s := &Server{decider: d, health: health.NewServer()}
	s.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s
}

// Register adds the Authorization and health services to g.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	authv3.RegisterAuthorizationServer(g, s)
	healthpb.RegisterHealthServer(g, s.health)
}

// Shutdown reports every service NOT_SERVING from now on, so that Envoy's
// health checks take this node out of rotation while the requests in
// flight finish (call it before grpc.Server.GracefulStop).
func (s *Server) Shutdown() { s.health.Shutdown() }

// Check answers Envoy's question for one request. Its error is always nil:
// a refusal is a CheckResponse with a status other than OK and the HTTP
// answer the client gets, never a failed call (which Envoy's
// failure_mode_allow could turn into an admission).
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	c := checks.Get().(*check)
	defer c.release()
	r := c.request(ctx, req)
	s.decider.Decide(&c.rec, r)
	return c.response(r.Header), nil
}
