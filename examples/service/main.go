// Command service is a small microservice meant to run behind the
// Gatehouse gateway. It answers every request with the identity the
// gateway forwarded (the X-Gatehouse-* headers) and, when started with
// -issuer, verifies the bearer token itself with the public verify package
// before trusting anything: the user's access token on a jwt route, or the
// short-lived internal JWT the gateway mints on routes with internal_jwt.
//
//	go run ./examples/service -name orders -addr 127.0.0.1:9001 \
//	    -issuer http://127.0.0.1:8080 -audience orders -scope orders:read
//
// Without -issuer it trusts the gateway's headers, which is only safe when
// nothing but the gateway can reach it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/verify"
)

type options struct {
	name     string
	addr     string
	issuer   string
	audience string
	scopes   []string
}

func main() {
	var o options
	var scopes string
	flag.StringVar(&o.name, "name", "service", "the service's name, echoed in answers")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:9001", "listen address")
	flag.StringVar(&o.issuer, "issuer", "", "Gatehouse's issuer URL: verify bearer tokens locally against its JWKS")
	flag.StringVar(&o.audience, "audience", "", "with -issuer (required): the audience tokens must carry (internal JWTs carry the upstream URL)")
	flag.StringVar(&scopes, "scope", "", "with -issuer: comma-separated scopes every request needs")
	flag.Parse()
	if scopes != "" {
		o.scopes = strings.Split(scopes, ",")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, logger); err != nil {
		logger.Error("service stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, logger *slog.Logger) error {
	h, closeFn, err := newHandler(o, logger)
	if err != nil {
		return err
	}
	defer closeFn()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	logger.Info("service listening", "name", o.name, "url", "http://"+ln.Addr().String(), "verifies_tokens", o.issuer != "")
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// answer is what the service says about a request.
type answer struct {
	Service   string   `json:"service"`
	Path      string   `json:"path"`
	RequestID string   `json:"request_id,omitempty"`
	Auth      string   `json:"auth,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	Client    string   `json:"client,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
	KeyID     string   `json:"key_id,omitempty"`
	// Verified is true when this service checked the token's signature
	// itself; Claims are what it found.
	Verified bool         `json:"verified"`
	Claims   *tokenClaims `json:"claims,omitempty"`
}

// tokenClaims are the verified claims shown in an answer.
type tokenClaims struct {
	Issuer    string    `json:"iss"`
	Subject   string    `json:"sub"`
	Audience  []string  `json:"aud"`
	ClientID  string    `json:"client_id,omitempty"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"exp"`
}

func newHandler(o options, logger *slog.Logger) (http.Handler, func(), error) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header
		a := answer{
			Service:   o.name,
			Path:      r.URL.Path,
			RequestID: h.Get("X-Request-Id"),
			Auth:      h.Get("X-Gatehouse-Auth"),
			Subject:   h.Get("X-Gatehouse-Subject"),
			Client:    h.Get("X-Gatehouse-Client"),
			Scopes:    strings.Fields(h.Get("X-Gatehouse-Scopes")),
			KeyID:     h.Get("X-Gatehouse-Key-Id"),
		}
		if c, ok := verify.FromContext(r.Context()); ok {
			// The token is the authority: its claims replace the headers.
			a.Verified = true
			a.Claims = &tokenClaims{Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
				ClientID: c.ClientID, Scopes: c.Scopes, ExpiresAt: c.ExpiresAt}
			a.Subject, a.Client, a.Scopes = c.Subject, c.ClientID, c.Scopes
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a)
	})
	if o.issuer == "" {
		return echo, func() {}, nil
	}
	v, err := verify.New(verify.Config{Issuer: o.issuer, Audience: o.audience, Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("verifier: %w", err)
	}
	return v.Middleware(o.scopes...)(echo), v.Close, nil
}
