package extauthz

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/verify"
)

const (
	testPrefix = "sk_test_"
	testIssuer = "https://auth.example.test"
	// upstreamURL is the routes' upstream: never reached, a decision
	// forwards nothing; an internal JWT's audience.
	upstreamURL = "http://orders.internal:8080"
)

// loopback trusts the gRPC client of the tests, which calls from 127.0.0.1.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// env is a real gateway (SQLite, the API key service, an ES256 keyring)
// behind the Authorization service on a loopback gRPC listener, and a
// client of it.
type env struct {
	t       testing.TB
	clock   *testenv.Clock
	keys    *apikey.Service
	keyring *signing.Keyring
	gw      *gateway.Gateway
	client  authv3.AuthorizationClient
	conn    *grpc.ClientConn
}

func newEnv(t testing.TB, trusted []netip.Prefix) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e := &env{t: t, clock: testenv.NewClock(time.Now().UTC().Truncate(time.Second))}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.keys, err = apikey.NewService(apikey.Config{
		Store: db, Audit: db, Secret: bytes.Repeat([]byte("s"), apikey.MinSecretLength),
		Prefix: testPrefix, Now: e.clock.Now, Logger: logger,
	})
	if err != nil {
		t.Fatalf("apikey.NewService: %v", err)
	}
	sealer, err := signing.NewSealer(signing.DeriveMasterKey([]byte(rand.Text() + rand.Text())))
	if err != nil {
		t.Fatal(err)
	}
	e.keyring, err = signing.New(ctx, db, sealer, signing.Options{Now: e.clock.Now, Logger: logger})
	if err != nil {
		t.Fatalf("signing.New: %v", err)
	}
	e.gw, err = gateway.New(gateway.Config{
		Issuer: testIssuer, JWKS: e.keyring.JWKS, Algorithms: e.keyring.Algorithms(),
		Keys: e.keys, Signer: e.keyring, TrustedProxies: trusted, Logger: logger, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { _ = e.gw.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	New(e.gw).Register(srv)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	e.conn, err = grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.conn.Close() })
	e.client = authv3.NewAuthorizationClient(e.conn)
	return e
}

func (e *env) setRoutes(routes ...auth.Route) {
	e.t.Helper()
	if err := e.gw.SetRoutes(routes); err != nil {
		e.t.Fatalf("SetRoutes: %v", err)
	}
}

// route is a route with the given policy; a jwt route accepts tokens of
// any audience.
func route(name, prefix, policy string) auth.Route {
	return auth.Route{Name: name, PathPrefix: prefix, Policy: policy, Upstreams: []string{upstreamURL},
		AnyAudience: policy == auth.PolicyJWT || policy == auth.PolicyAny}
}

func (e *env) createKey(p apikey.CreateParams) (*auth.APIKey, string) {
	e.t.Helper()
	p.Name, p.Actor = "test", auth.ActorSystem
	k, plain, err := e.keys.Create(context.Background(), p)
	if err != nil {
		e.t.Fatalf("create key: %v", err)
	}
	return k, plain
}

// token mints a Gatehouse access token for sub with the given scopes.
func (e *env) token(sub, scope string) string {
	e.t.Helper()
	now := e.clock.Now()
	tok, err := e.keyring.Sign("at+jwt", verify.Claims{
		Issuer: testIssuer, Subject: sub, ClientID: "app", Scopes: strings.Fields(scope), ID: rand.Text(),
		IssuedAt: now, ExpiresAt: now.Add(time.Hour),
	})
	if err != nil {
		e.t.Fatalf("sign: %v", err)
	}
	return tok
}

// checkRequest is what Envoy sends for method path on shop.example.com
// over https from the client at 203.0.113.7; headers are lower-case name,
// value pairs.
func checkRequest(method, path string, headers ...string) *authv3.CheckRequest {
	h := map[string]string{":authority": "shop.example.com", ":method": method, ":path": path, ":scheme": "https",
		"x-request-id": "3b8f1c2e-envoy", "user-agent": "curl/8"}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: socketAddress("203.0.113.7", 51234)},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: path, Host: "shop.example.com", Scheme: "https", Protocol: "HTTP/2", Headers: h,
		}},
	}}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

func (e *env) check(req *authv3.CheckRequest) *authv3.CheckResponse {
	e.t.Helper()
	resp, err := e.client.Check(context.Background(), req)
	if err != nil {
		e.t.Fatalf("Check: %v", err)
	}
	return resp
}

// headerOf is the value of name (any case) among opts, and whether it is
// there.
func headerOf(opts []*corev3.HeaderValueOption, name string) (string, bool) {
	for _, o := range opts {
		if strings.EqualFold(o.GetHeader().GetKey(), name) {
			return o.GetHeader().GetValue(), true
		}
	}
	return "", false
}

// newHTTPDecision asks the gateway's HTTP decision endpoint, as a trusted
// proxy on loopback, about GET path; headers are name, value pairs.
func newHTTPDecision(t testing.TB, gw *gateway.Gateway, path string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", "http://auth.internal"+gateway.DecisionsPath, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Forwarded-Uri", path)
	r.Header.Set("X-Forwarded-Host", "shop.example.com")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	gw.DecisionHandler().ServeHTTP(w, r)
	return w
}
