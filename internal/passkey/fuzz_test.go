package passkey_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/passkey/passkeytest"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// memStore keeps passkeys and ceremonies in memory, for the fuzz target:
// a store round trip per input would leave the fuzzer a few inputs a
// second. The backends' behaviour is the contract suite's business.
type memStore struct {
	mu         sync.Mutex
	passkeys   []*auth.Passkey
	ceremonies map[string]*auth.PasskeyCeremony
	events     []auth.AuditEvent
}

func (m *memStore) CreatePasskey(_ context.Context, p *auth.Passkey, events ...auth.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *p
	m.passkeys = append(m.passkeys, &cp)
	m.events = append(m.events, events...)
	return nil
}

func (m *memStore) GetPasskeyByCredentialID(_ context.Context, id []byte) (*auth.Passkey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.passkeys {
		if bytes.Equal(p.CredentialID, id) {
			cp := *p
			return &cp, nil
		}
	}
	return nil, auth.Errorf(auth.ENOTFOUND, "Passkey not found.")
}

func (m *memStore) ListPasskeys(_ context.Context, userID string) ([]*auth.Passkey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*auth.Passkey
	for _, p := range m.passkeys {
		if p.UserID == userID {
			cp := *p
			out = append(out, &cp)
		}
	}
	return out, nil
}

func (m *memStore) RenamePasskey(context.Context, string, string, string, ...auth.AuditEvent) error {
	return auth.Errorf(auth.ENOTFOUND, "Passkey not found.")
}

func (m *memStore) DeletePasskey(context.Context, string, string, ...auth.AuditEvent) error {
	return auth.Errorf(auth.ENOTFOUND, "Passkey not found.")
}

func (m *memStore) RecordPasskeyUse(_ context.Context, id string, ifCount uint32, use auth.PasskeyUse, events ...auth.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.passkeys {
		if p.ID == id {
			if p.SignCount != ifCount {
				return auth.Errorf(auth.ECONFLICT, "changed")
			}
			p.SignCount, p.CloneWarning, p.LastUsedAt = use.SignCount, use.CloneWarning, use.At
			m.events = append(m.events, events...)
			return nil
		}
	}
	return auth.Errorf(auth.ENOTFOUND, "Passkey not found.")
}

func (m *memStore) CreatePasskeyCeremony(_ context.Context, c *auth.PasskeyCeremony) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ceremonies[string(c.Hash)] = c
	return nil
}

func (m *memStore) ConsumePasskeyCeremony(_ context.Context, hash []byte, now time.Time) (*auth.PasskeyCeremony, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.ceremonies[string(hash)]
	delete(m.ceremonies, string(hash))
	if !ok || auth.Expired(c.ExpiresAt, now) {
		return nil, auth.Errorf(auth.ENOTFOUND, "gone")
	}
	return c, nil
}

func (m *memStore) AppendAuditEvents(_ context.Context, events ...auth.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, events...)
	return nil
}

func (m *memStore) ListAuditEvents(context.Context, auth.AuditFilter) ([]auth.AuditEvent, int64, error) {
	return nil, 0, nil
}

type memUsers map[string]*auth.User

func (u memUsers) Get(_ context.Context, id string) (*auth.User, error) {
	if x, ok := u[id]; ok {
		return x, nil
	}
	return nil, auth.Errorf(auth.ENOTFOUND, "User not found.")
}

// FuzzFinishLogin sends what the internet may send as an assertion to a
// live sign-in, as the only factor and as alice's second factor: it never
// panics, never signs anyone in (no authenticator holds the challenge)
// and always answers EUNAUTHORIZED.
func FuzzFinishLogin(f *testing.F) {
	key := make([]byte, 32)
	rand.Read(key)
	hasher, _ := secret.NewHasher(key)
	alice := &auth.User{ID: "usr_alice", Username: "alice"}
	store := &memStore{ceremonies: map[string]*auth.PasskeyCeremony{}}
	svc, err := passkey.New(passkey.Config{Issuer: issuer, Store: store, Users: memUsers{alice.ID: alice}, Hasher: hasher})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	a := &passkeytest.Authenticator{Origin: origin, Counting: true}
	opts, state, err := svc.BeginRegistration(ctx, alice)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := svc.FinishRegistration(ctx, alice, state, "key", a.Create(f, opts)); err != nil {
		f.Fatal(err)
	}
	lopts, _, err := svc.BeginLogin(ctx, "")
	if err != nil {
		f.Fatal(err)
	}
	// A well-formed assertion of the registered key, for another challenge.
	f.Add(a.Get(f, lopts, nil), false)
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`), true)
	f.Fuzz(func(t *testing.T, response []byte, secondFactor bool) {
		user := ""
		if secondFactor {
			user = alice.ID
		}
		_, state, err := svc.BeginLogin(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		userID, _, err := svc.FinishLogin(ctx, state, response)
		if auth.ErrorCode(err) != auth.EUNAUTHORIZED || userID != "" {
			t.Fatalf("FinishLogin = %q, %v", userID, err)
		}
	})
}
