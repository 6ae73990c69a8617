package gateway

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/accesstoken"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// internalJTIPrefix starts the jti of every internal token (see
// accesstoken.InternalJTIPrefix): an upstream that replays the internal
// token it got to the gateway is refused (see authJWT), instead of passing
// as a caller with the identity it was forwarded.
const internalJTIPrefix = accesstoken.InternalJTIPrefix

// mintKey identifies a minted token. The signing key's kid is part of it,
// so a token signed before a rotation is never handed out after it; so are
// the route's upstreams (its aud), so a route reloaded with other
// upstreams never sends them a token addressed to the old ones.
// The caller's own act chain is keyed by pointer: a verified token's
// claims are shared and read-only, so one pointer always means one chain
// (two tokens with equal chains merely mint twice). amr (joined) and acr
// are part of it: a caller who signed in again with a second factor never
// gets the token minted for their one-factor sign-in, nor the reverse.
type mintKey struct {
	route, upstreams, kid, auth, subject, client, scopes, keyID string
	act                                                         *verify.Actor
	amr, acr                                                    string
}

type mintEntry struct {
	token     string
	reuseTill time.Time // half its life: an upstream always gets at least TTL/2
}

// defaultMintCacheSize bounds the minted tokens kept: one per active
// (route, caller) pair is plenty.
const defaultMintCacheSize = 10_000

// mintCache keeps minted internal tokens, so a busy caller costs one
// signature per half token lifetime rather than one per request.
type mintCache struct {
	mu      sync.Mutex
	max     int
	entries map[mintKey]mintEntry
}

func newMintCache(max int) *mintCache {
	return &mintCache{max: max, entries: make(map[mintKey]mintEntry)}
}

func (c *mintCache) get(k mintKey, now time.Time) (string, bool) {
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if !ok || !now.Before(e.reuseTill) {
		return "", false
	}
	return e.token, true
}

func (c *mintCache) put(k mintKey, e mintEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, old := range c.entries {
			if !now.Before(old.reuseTill) {
				delete(c.entries, k)
			}
		}
		// Still full of live tokens: start over rather than scan per put.
		// They are cheap to mint again.
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[k] = e
}

// internalToken returns the internal JWT for id on rt: from the cache while
// more than half its life is left, else newly signed. It is an exchanged
// token (RFC 8693), issued by accesstoken.Sign as the token endpoint's
// token exchange issues them: the caller's identity as the subject, the
// gateway (Config.Actor) as the actor, any act chain of the caller's own
// token nested below it.
func (g *Gateway) internalToken(rt *route, id *identity, now time.Time) (string, error) {
	if g.cfg.Signer == nil {
		return "", fmt.Errorf("gateway: route %s wants internal JWTs but no Signer is configured", rt.name)
	}
	scopes := strings.Join(id.scopes, " ")
	k := mintKey{
		route: rt.name, upstreams: rt.fwd.upstreams, kid: g.cfg.Signer.CurrentKeyID(), auth: id.auth,
		subject: id.subject, client: id.client, scopes: scopes, keyID: id.keyID, act: id.act,
		amr: strings.Join(id.amr, " "), acr: id.acr,
	}
	if tok, ok := g.minted.get(k, now); ok {
		return tok, nil
	}
	ttl := g.cfg.InternalTokenTTL
	tok, err := accesstoken.Sign(g.cfg.Signer, &accesstoken.Exchange{
		Issuer:    g.cfg.Issuer,
		Subject:   id.subject,
		ClientID:  id.client,
		Audience:  rt.cfg.Upstreams,
		Scope:     scopes,
		Actor:     accesstoken.Delegate(verify.Actor{Subject: g.cfg.Actor}, id.act),
		IssuedAt:  now,
		ExpiresAt: now.Add(ttl),
		JTIPrefix: internalJTIPrefix,
		Auth:      id.auth,
		KeyID:     id.keyID,
		AMR:       id.amr,
		ACR:       id.acr,
	})
	if err != nil {
		return "", fmt.Errorf("gateway: internal token for route %s: %w", rt.name, err)
	}
	g.minted.put(k, mintEntry{token: tok.Value, reuseTill: now.Add(ttl / 2)}, now)
	return tok.Value, nil
}
