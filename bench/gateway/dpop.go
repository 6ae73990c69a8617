package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/bench/internal/loadtest"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
)

type dpopTarget struct {
	name string
	req  loadtest.Request
	sign func() string // one fresh proof
	n    int           // the proofs of one timed section
}

// dpopTargets gets, for each proof algorithm, an access token bound to a
// new key (client credentials with a proof at the token endpoint) and
// returns the jwt route's request in the DPoP scheme with it, how to sign
// a proof, and how many a timed section needs.
func dpopTargets(gh *loadtest.Gatehouse, audience string, d time.Duration) ([]dpopTarget, error) {
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := gh.Admin(http.MethodPost, "/admin/v1/clients", map[string]any{
		"name": "gatewayload-dpop", "grant_types": []string{"client_credentials"},
		"scopes": []string{"read"}, "audiences": []string{audience},
	}, http.StatusCreated, &client); err != nil {
		return nil, err
	}
	tokenURL := gh.URL + "/oauth2/token"
	if d, err := discovery(gh.URL); err == nil {
		tokenURL = d
	}
	u := gh.GatewayURL + "/jwt/items/42"
	var out []dpopTarget
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256} {
		c := dpoptest.MustNew(alg)
		tok, err := boundToken(tokenURL, client.ClientID, client.ClientSecret, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", alg, err)
		}
		// Enough for the warm-up and the timed section at 12,000 req/s;
		// ProofPool caps it by the time it takes to sign.
		n := int(12000 * (d.Seconds() + 1))
		out = append(out, dpopTarget{
			name: "gatehouse jwt route, DPoP " + string(alg),
			req:  loadtest.Request{Method: http.MethodGet, URL: u, Header: http.Header{"Authorization": {"DPoP " + tok}}},
			sign: func() string { return c.Proof(http.MethodGet, u, dpoptest.Options{AccessToken: tok}) },
			n:    n,
		})
	}
	return out, nil
}

func discovery(base string) (string, error) {
	resp, err := http.Get(base + "/.well-known/oauth-authorization-server")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var d struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || d.TokenEndpoint == "" {
		return "", fmt.Errorf("discovery: %v", err)
	}
	return d.TokenEndpoint, nil
}

func boundToken(tokenURL, id, secret string, c *dpoptest.Client) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", c.Proof(http.MethodPost, tokenURL, dpoptest.Options{}))
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var t struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &t) != nil || t.TokenType != "DPoP" {
		return "", fmt.Errorf("token endpoint: %d %s", resp.StatusCode, body)
	}
	return t.AccessToken, nil
}
