package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// maxDocument bounds every document read from an upstream.
const maxDocument = 1 << 20

// metadata is what the flow needs of a provider's endpoints: from its
// discovery document (OpenID Connect Discovery 1.0 3) for an OIDC
// provider, overridden by the provider's own settings.
type metadata struct {
	Issuer                  string   `json:"issuer"`
	AuthorizationEndpoint   string   `json:"authorization_endpoint"`
	TokenEndpoint           string   `json:"token_endpoint"`
	UserinfoEndpoint        string   `json:"userinfo_endpoint"`
	JWKSURI                 string   `json:"jwks_uri"`
	IssParameterSupported   bool     `json:"authorization_response_iss_parameter_supported"` // RFC 9207 3
	IDTokenSigningAlgValues []string `json:"id_token_signing_alg_values_supported"`
}

type cachedMetadata struct {
	m       *metadata
	fetched time.Time
}

// endpoints returns the provider's endpoints: discovery (cached for
// DiscoveryTTL) for an OIDC provider, then the provider's own URLs.
func (s *Service) endpoints(ctx context.Context, p *auth.Provider) (*metadata, error) {
	m := &metadata{Issuer: p.Issuer}
	if p.Kind == auth.ProviderOIDC {
		d, err := s.discover(ctx, p.Issuer)
		if err != nil {
			return nil, err
		}
		c := *d
		m = &c
	}
	for dst, v := range map[*string]string{
		&m.AuthorizationEndpoint: p.AuthorizationURL, &m.TokenEndpoint: p.TokenURL, &m.UserinfoEndpoint: p.UserinfoURL,
	} {
		if v != "" {
			*dst = v
		}
	}
	if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" || (p.Kind == auth.ProviderOIDC && m.JWKSURI == "") {
		return nil, refused(ReasonUnavailable, "the provider's metadata lacks an endpoint")
	}
	return m, nil
}

// discover fetches (or returns the cached) discovery document of issuer.
// Its issuer must equal the configured one exactly (Discovery 4.3), and
// every endpoint must pass CheckURL. A failed refresh falls back to the
// stale document.
func (s *Service) discover(ctx context.Context, issuer string) (*metadata, error) {
	now := s.now()
	s.mu.Lock()
	c, ok := s.discovery[issuer]
	s.mu.Unlock()
	if ok && now.Sub(c.fetched) < s.cfg.DiscoveryTTL {
		return c.m, nil
	}
	m, err := s.fetchDiscovery(ctx, issuer)
	if err != nil {
		if ok {
			s.log.WarnContext(ctx, "federation: discovery refresh failed; using the cached document", "issuer", issuer, "err", err)
			return c.m, nil
		}
		return nil, refused(ReasonUnavailable, err.Error())
	}
	s.mu.Lock()
	s.discovery[issuer] = cachedMetadata{m: m, fetched: now}
	s.mu.Unlock()
	return m, nil
}

func (s *Service) fetchDiscovery(ctx context.Context, issuer string) (*metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	var m metadata
	if err := s.getJSON(req, &m); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if m.Issuer != issuer {
		return nil, fmt.Errorf("discovery: the document's issuer %q is not %q", m.Issuer, issuer)
	}
	for what, u := range map[string]string{
		"authorization_endpoint": m.AuthorizationEndpoint, "token_endpoint": m.TokenEndpoint, "jwks_uri": m.JWKSURI,
	} {
		if err := CheckURL(what, u); err != nil {
			return nil, fmt.Errorf("discovery: %s: %w", what, err)
		}
	}
	if m.UserinfoEndpoint != "" && CheckURL("userinfo_endpoint", m.UserinfoEndpoint) != nil {
		m.UserinfoEndpoint = ""
	}
	return &m, nil
}

// getJSON sends req and decodes a 200 JSON answer of at most maxDocument
// bytes into v (numbers as json.Number when v is a map).
func (s *Service) getJSON(req *http.Request, v any) error {
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return err
	}
	if len(body) > maxDocument {
		return fmt.Errorf("%s: the answer is too large", req.URL.Redacted())
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", req.URL.Redacted(), resp.StatusCode)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", req.URL.Redacted(), err)
	}
	return nil
}

// cachedVerifier is the ID-token verifier of one provider configuration.
type cachedVerifier struct {
	key      string // issuer, client ID and JWKS URI it was made for
	verifier *verify.Verifier
}

// idTokenAlgorithms are the signature algorithms accepted on ID tokens:
// every asymmetric one verify supports (never HS*, never none).
var idTokenAlgorithms = []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}

// verifierFor returns the provider's ID-token verifier, made on first use
// and kept while its issuer, client and key set stay the same. It waits
// for the first key set.
func (s *Service) verifierFor(ctx context.Context, p *auth.Provider, m *metadata) (*verify.Verifier, error) {
	key := p.Issuer + "\x00" + p.ClientID + "\x00" + m.JWKSURI
	s.mu.Lock()
	c := s.verifiers[p.Name]
	if c == nil || c.key != key {
		if c != nil {
			c.verifier.Close()
		}
		v, err := verify.New(verify.Config{
			Issuer:     p.Issuer,
			Audience:   p.ClientID,
			Algorithms: idTokenAlgorithms,
			// ID tokens are "JWT" or untyped (OIDC Core 2); an access
			// token (at+jwt) is never taken for one.
			Types:      []string{"JWT", ""},
			JWKSURI:    m.JWKSURI,
			HTTPClient: s.cfg.HTTPClient,
			CacheSize:  -1, // an ID token is used once
			Now:        s.now,
			Logger:     s.log,
		})
		if err != nil {
			s.mu.Unlock()
			return nil, refused(ReasonUnavailable, err.Error())
		}
		if s.closed {
			v.Close()
			s.mu.Unlock()
			return nil, refused(ReasonUnavailable, "the service is closed")
		}
		c = &cachedVerifier{key: key, verifier: v}
		s.verifiers[p.Name] = c
	}
	s.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := c.verifier.Ready(wctx); err != nil {
		return nil, refused(ReasonUnavailable, "the provider's keys could not be read: "+err.Error())
	}
	return c.verifier, nil
}

// forget drops what is cached for a provider that changed or went away.
func (s *Service) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.verifiers[name]; c != nil {
		c.verifier.Close()
		delete(s.verifiers, name)
	}
}
