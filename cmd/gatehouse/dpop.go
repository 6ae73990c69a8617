package main

import (
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
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
// cache and nonces as the authorization server's, and the URLs clients
// reach the gateway at (https behind a TLS-terminating proxy).
func (m *Main) gatewayDPoP() (*verify.DPoP, error) {
	d := m.Config.OAuth.DPoP
	cache, err := m.dpopReplayCache()
	if err != nil {
		return nil, err
	}
	scheme := ""
	if m.Config.BehindTLSProxy {
		scheme = "https"
	}
	cfg := verify.DPoPConfig{Window: d.ProofWindow, Replay: cache, Now: m.Now, RequestURL: gateway.DPoPRequestURL(scheme)}
	if d.Nonce {
		if cfg.Nonces, err = oauth.NewDPoPNonces(m.hasher, d.NoncePeriod); err != nil {
			return nil, err
		}
	}
	return verify.NewDPoP(cfg)
}
