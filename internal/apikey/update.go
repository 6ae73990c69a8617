package apikey

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Update changes the key with that ID without rotating it: the members of
// p that are set replace the key's, under the rules of Create. In one
// store transaction it writes the change and a key.updated event whose
// Details list what changed ("changed": "name,credits", and the new
// "credits_remaining" when the credits were reset); a change to nothing
// writes nothing. The key is dropped from this node's cache at once
// (other nodes follow on the store's change notification, or within
// CacheTTL without one). Setting the remaining credits starts their count
// over on every node, Redis included.
//
// Errors: auth.EINVALID when p breaks a rule; auth.ENOTFOUND; auth.ECONFLICT
// when the key is revoked, or when p changes the expiry of a rotated key
// (its grace period, set by the rotation); the store's other errors,
// wrapped.
func (s *Service) Update(ctx context.Context, id string, p UpdateParams) (*auth.APIKey, error) {
	if err := checkActor(p.Actor); err != nil {
		return nil, err
	}
	now := s.now()
	// What can be checked without the record is checked before the store
	// is asked, so bad input never takes a lock.
	var (
		scopes   []string
		metadata map[string]string
		limit    auth.RateLimit
		err      error
	)
	if p.Name != nil {
		if err := checkText("name", *p.Name, MaxNameLength); err != nil {
			return nil, err
		}
	}
	if p.Scopes != nil {
		if scopes, err = normalizeScopes(*p.Scopes); err != nil {
			return nil, err
		}
	}
	if p.Metadata != nil {
		if metadata, err = copyMetadata(*p.Metadata); err != nil {
			return nil, err
		}
	}
	if p.RateLimit != nil {
		if limit, err = normalizeRateLimit(*p.RateLimit); err != nil {
			return nil, err
		}
	}
	if p.ExpiresAt != nil {
		if err := checkExpiry(*p.ExpiresAt, now); err != nil {
			return nil, err
		}
	}
	if p.AllowedIPs != nil {
		if err := auth.CheckAllowedIPs(*p.AllowedIPs); err != nil {
			return nil, err
		}
	}
	if p.Credits != nil {
		if err := p.Credits.check(); err != nil {
			return nil, err
		}
	}
	k, err := s.store.UpdateAPIKey(ctx, id, func(k *auth.APIKey) ([]auth.AuditEvent, error) {
		if !k.RevokedAt.IsZero() {
			return nil, auth.Errorf(auth.ECONFLICT, "the key is revoked")
		}
		var changed []string
		details := map[string]string{}
		if p.Name != nil && *p.Name != k.Name {
			k.Name = *p.Name
			changed = append(changed, "name")
		}
		if p.Scopes != nil && !slices.Equal(scopes, k.Scopes) {
			k.Scopes = scopes
			changed = append(changed, "scopes")
		}
		if p.Metadata != nil && !maps.Equal(metadata, k.Metadata) {
			k.Metadata = metadata
			changed = append(changed, "metadata")
		}
		if p.RateLimit != nil && limit != k.RateLimit {
			k.RateLimit = limit
			changed = append(changed, "rate_limit")
		}
		if p.ExpiresAt != nil && !p.ExpiresAt.Equal(k.ExpiresAt) {
			if k.RotatedTo != "" {
				return nil, auth.Errorf(auth.ECONFLICT, "the key has been rotated: its expiry is the end of its grace period")
			}
			k.ExpiresAt = *p.ExpiresAt
			changed = append(changed, "expires_at")
		}
		if p.Credits != nil {
			c, reset, err := p.Credits.apply(k.Credits, now)
			if err != nil {
				return nil, err
			}
			if !creditsSame(c, k.Credits) {
				k.Credits = c
				changed = append(changed, "credits")
				if reset {
					details["credits_remaining"] = strconv.FormatInt(c.Remaining, 10)
				}
			}
		}
		if p.AllowedIPs != nil && !slices.Equal(*p.AllowedIPs, k.AllowedIPs) {
			k.AllowedIPs = slices.Clone(*p.AllowedIPs)
			if len(k.AllowedIPs) == 0 {
				k.AllowedIPs = nil
			}
			changed = append(changed, "allowed_ips")
		}
		if len(changed) == 0 {
			return nil, nil
		}
		details["changed"] = strings.Join(changed, ",")
		return []auth.AuditEvent{{Time: now, Type: auth.EventKeyUpdated, Actor: p.Actor, KeyID: k.ID, Count: 1, Details: details}}, nil
	})
	s.Invalidate(id) // also on error: the store may have committed
	if err != nil {
		return nil, fmt.Errorf("apikey: update key: %w", err)
	}
	return k, nil
}

func (u *CreditsUpdate) check() error {
	if u.Remove {
		if u.Remaining != nil || u.Refill != nil {
			return auth.Errorf(auth.EINVALID, "credits cannot be removed and set at once")
		}
		return nil
	}
	c := auth.Credits{}
	if u.Remaining != nil {
		c.Remaining = *u.Remaining
	}
	if u.Refill != nil {
		c.Refill = *u.Refill
	}
	return auth.CheckCredits(&c)
}

// apply returns the credits old (nil: none) become, and whether their
// remaining count was reset (which starts a new version).
func (u *CreditsUpdate) apply(old *auth.Credits, now time.Time) (*auth.Credits, bool, error) {
	if u.Remove {
		return nil, false, nil
	}
	var c auth.Credits
	if old != nil {
		c = *old
	}
	if u.Refill != nil {
		c.Refill = *u.Refill
	}
	reset := old == nil || u.Remaining != nil
	if reset {
		switch {
		case u.Remaining != nil:
			c.Remaining = *u.Remaining
		case c.Refill.Amount > 0:
			c.Remaining = c.Refill.Amount
		default:
			return nil, false, auth.Errorf(auth.EINVALID, "credits.remaining is required for a key without credits")
		}
		prev := int64(0)
		if old != nil {
			prev = old.Version
		}
		c.RefilledAt, c.Version = now, creditsVersion(prev, now)
	}
	if err := auth.CheckCredits(&c); err != nil {
		return nil, false, err
	}
	return &c, reset, nil
}

func creditsSame(a, b *auth.Credits) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
