package main

import (
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
	"github.com/gatehouse-dev/gatehouse/internal/replay"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// dpopReplayCache is where the node remembers the DPoP proofs it accepted
// (RFC 9449 11.1), shared by its token endpoint, userinfo and gateway:
// Redis when configured, else the store when it is PostgreSQL (nodes
// share it), else this process's memory (a single node, on SQLite).
func (m *Main) dpopReplayCache() (verify.ReplayCache, error) {
	if m.dpopReplay != nil {
		return m.dpopReplay, nil
	}
	rc, err := m.redisClient()
	if err != nil {
		return nil, err
	}
	switch {
	case rc != nil:
		m.dpopReplay = replay.Redis{Client: rc}
	case m.Config.UsesPostgres():
		m.dpopReplay = replay.Store{Store: m.Store}
	default:
		m.dpopReplay = verify.NewMemoryReplayCache()
	}
	return m.dpopReplay, nil
}

// oauthDPoP is the authorization server's DPoP configuration.
func (m *Main) oauthDPoP() (oauth.DPoPConfig, error) {
	d := m.Config.OAuth.DPoP
	cache, err := m.dpopReplayCache()
	if err != nil {
		return oauth.DPoPConfig{}, err
	}
	return oauth.DPoPConfig{Required: d.Required, Nonce: d.Nonce, NoncePeriod: d.NoncePeriod, ProofWindow: d.ProofWindow, Replay: cache}, nil
}

// gatewayDPoP is the gateway's proof checker: the same window, replay
// cache and nonces as the authorization server's. The URLs proofs must
// name are the gateway's own (gatewayPublicURL).
func (m *Main) gatewayDPoP() (*verify.DPoP, error) {
	d := m.Config.OAuth.DPoP
	cache, err := m.dpopReplayCache()
	if err != nil {
		return nil, err
	}
	cfg := verify.DPoPConfig{Window: d.ProofWindow, Replay: cache, Now: m.Now}
	if d.Nonce {
		if cfg.Nonces, err = oauth.NewDPoPNonces(m.hasher, d.NoncePeriod); err != nil {
			return nil, err
		}
	}
	return verify.NewDPoP(cfg)
}

// gatewayPublicURL is the URL clients reach the gateway at, for the htu
// of DPoP proofs (gateway.Config.PublicURL), and the scheme they use
// when it is not known: gateway.public_url; else, behind a TLS proxy,
// none (https; bound tokens are refused on routes without hosts); else
// the gateway's listener, which clients reach directly (like the issuer's
// default, right for development).
func (m *Main) gatewayPublicURL() (publicURL, scheme string) {
	switch {
	case m.Config.Gateway.PublicURL != "":
		return m.Config.Gateway.PublicURL, ""
	case m.Config.BehindTLSProxy:
		return "", "https"
	}
	return m.GatewayURL(), ""
}
