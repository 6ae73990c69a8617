package oauth

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/verify"
)

// exchangeIssuers are the verifiers of other issuers' tokens presented to
// the token exchange: one per issuer some client lists in ExchangeIssuers,
// made on first use, each discovering, fetching and caching its issuer's
// JWKS as package verify does for any relying party. Their number is
// bounded by the issuers operators configured, not by what callers send:
// a token naming an issuer its client does not list never gets here.
type exchangeIssuers struct {
	now    func() time.Time
	logger *slog.Logger

	mu     sync.Mutex
	byIss  map[string]*verify.Verifier
	closed bool
}

func newExchangeIssuers(now func() time.Time, logger *slog.Logger) *exchangeIssuers {
	return &exchangeIssuers{now: now, logger: logger, byIss: make(map[string]*verify.Verifier)}
}

// verifier returns the verifier of iss, making it if need be.
func (x *exchangeIssuers) verifier(iss string) (*verify.Verifier, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, fmt.Errorf("oauth: the server is closed")
	}
	if v, ok := x.byIss[iss]; ok {
		return v, nil
	}
	v, err := verify.New(verify.Config{
		Issuer:      iss,
		AnyAudience: true, // exchangedToken checks that the token is addressed to the client or to us
		// Access tokens (RFC 9068) and other JWTs (subject_token_type jwt).
		Types:  []string{"at+jwt", "JWT"},
		Now:    x.now,
		Logger: x.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: verifier of the exchange issuer %q: %w", iss, err)
	}
	x.byIss[iss] = v
	return v, nil
}

// close stops the verifiers' background refreshes.
func (x *exchangeIssuers) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	for _, v := range x.byIss {
		v.Close()
	}
	clear(x.byIss)
}
