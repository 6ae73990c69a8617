package signing

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// memStore is an in-memory auth.SigningKeyStore for the tests that need to
// inject faults or inspect events; the main tests use the SQLite store.
type memStore struct {
	mu     sync.Mutex
	keys   []*auth.SigningKey
	events []auth.AuditEvent
}

var _ auth.SigningKeyStore = (*memStore)(nil)

func (m *memStore) CreateSigningKey(_ context.Context, k *auth.SigningKey, events ...auth.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.keys {
		if x.ID == k.ID {
			return auth.Errorf(auth.ECONFLICT, "Signing key %s exists.", k.ID)
		}
	}
	c := *k
	m.keys = append(m.keys, &c)
	m.events = append(m.events, events...)
	return nil
}

func (m *memStore) ListSigningKeys(context.Context) ([]*auth.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*auth.SigningKey, 0, len(m.keys))
	for _, k := range m.keys {
		c := *k
		out = append(out, &c)
	}
	return out, nil
}

func (m *memStore) RetireSigningKey(_ context.Context, id string, retiredAt, expiresAt time.Time, events ...auth.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if k.ID == id {
			if !k.RetiredAt.IsZero() {
				return auth.Errorf(auth.ECONFLICT, "Signing key %s is retired.", id)
			}
			k.RetiredAt, k.ExpiresAt = retiredAt, expiresAt
			m.events = append(m.events, events...)
			return nil
		}
	}
	return auth.Errorf(auth.ENOTFOUND, "No signing key %s.", id)
}

func (m *memStore) DeleteExpiredSigningKeys(_ context.Context, now time.Time) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	m.keys = slices.DeleteFunc(m.keys, func(k *auth.SigningKey) bool {
		if !k.RetiredAt.IsZero() && k.ExpiresAt.Before(now) {
			ids = append(ids, k.ID)
			return true
		}
		return false
	})
	return ids, nil
}
