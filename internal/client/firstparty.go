package client

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// EnsureFirstParty makes the client with the fixed ID id (one of
// Gatehouse's own, such as the dashboard) match in, audited with
// auth.ActorSystem as the actor. It creates the client if it is absent.
// If it exists, it changes it only when its name, redirect URIs,
// post-logout redirect URIs, grant types, scopes or audiences differ from
// in, so that a node started with another issuer URL brings the redirect
// URIs and audiences up to date while an unchanged restart writes nothing;
// its other settings (lifetimes) are left as an administrator set them.
// Every node calls it at start: when nodes race, each one succeeds.
func (r *Registry) EnsureFirstParty(ctx context.Context, id string, in Input) (*auth.Client, error) {
	if !ValidID(id) {
		return nil, auth.Errorf(auth.EINVALID, "%q is not a client ID.", id)
	}
	want, err := fromInput(in, r.allowLoopbackLogout)
	if err != nil {
		return nil, err
	}
	if usesSecret(want.AuthMethod) {
		// Nobody would see a secret generated here.
		return nil, auth.Errorf(auth.EINVALID, "A first-party client cannot authenticate with a secret.")
	}
	// A few rounds are enough: each lost race means another node has
	// just written what this one wants, or is about to.
	for attempt := 0; attempt < 5; attempt++ {
		old, err := r.Get(ctx, id)
		switch {
		case auth.ErrorCode(err) == auth.ENOTFOUND:
			c := *want
			now := r.now()
			c.ID, c.CreatedAt, c.UpdatedAt = id, now, now
			err = r.store.CreateClient(ctx, &c, event(auth.EventClientCreated, now, auth.ActorSystem, &c))
			r.cache.forget(id)
			if err == nil {
				return &c, nil
			}
			if auth.ErrorCode(err) != auth.ECONFLICT {
				return nil, fmt.Errorf("client: create %s: %w", id, err)
			}
			continue // another node created it first: compare with theirs
		case err != nil:
			return nil, err
		}
		if sameFirstParty(old, want) {
			return old, nil
		}
		if old.Public != want.Public || old.AuthMethod != want.AuthMethod {
			return nil, auth.Errorf(auth.EINVALID, "The client %s exists with authentication method %s, not %s; Gatehouse refuses to change it through its APIs, so remove it from the store (oauth_clients) to have it registered again.", id, old.AuthMethod, want.AuthMethod)
		}
		c := *old
		now := r.now()
		c.Name, c.RedirectURIs, c.PostLogoutRedirectURIs = want.Name, want.RedirectURIs, want.PostLogoutRedirectURIs
		c.GrantTypes, c.Scopes, c.Audiences, c.UpdatedAt = want.GrantTypes, want.Scopes, want.Audiences, now
		ev := event(auth.EventClientUpdated, now, auth.ActorSystem, &c)
		ev.Details["changed"] = strings.Join(changed(old, &c), ",")
		err = r.store.UpdateClient(ctx, &c, old.UpdatedAt, ev)
		r.cache.forget(id)
		if err == nil {
			return &c, nil
		}
		// ECONFLICT: changed since read; ENOTFOUND: deleted since read.
		// Either way, read again.
		if code := auth.ErrorCode(err); code != auth.ECONFLICT && code != auth.ENOTFOUND {
			return nil, fmt.Errorf("client: update %s: %w", id, err)
		}
	}
	return nil, auth.Errorf(auth.ECONFLICT, "The client %s kept changing while it was brought up to date; try again.", id)
}

// sameFirstParty reports whether c already has the settings
// EnsureFirstParty manages.
func sameFirstParty(c, want *auth.Client) bool {
	return c.Name == want.Name && c.Public == want.Public && c.AuthMethod == want.AuthMethod &&
		slices.Equal(c.RedirectURIs, want.RedirectURIs) &&
		slices.Equal(c.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs) &&
		slices.Equal(c.GrantTypes, want.GrantTypes) &&
		slices.Equal(c.Scopes, want.Scopes) &&
		slices.Equal(c.Audiences, want.Audiences)
}
