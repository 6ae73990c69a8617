package federation

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
)

// storePasskeys is passkey.Service.Registered's rule over the store: a
// passkey without a clone warning signs in.
type storePasskeys struct {
	db  *sqlite.DB
	err error
}

func (s storePasskeys) Registered(ctx context.Context, userID string) (bool, error) {
	if s.err != nil {
		return false, s.err
	}
	list, err := s.db.ListPasskeys(ctx, userID)
	for _, p := range list {
		if !p.CloneWarning {
			return true, err
		}
	}
	return false, err
}

// A user without a password who has a passkey may unlink their last
// provider: the passkey still signs them in. Without the passkey (or with
// one flagged as cloned, which signs in no more) it stays refused.
func TestUnlinkCountsPasskeys(t *testing.T) {
	t.Parallel()
	f, e := newFakeIdP(t), newEnv(t, false)
	e.svc.cfg.Passkeys = storePasskeys{db: e.store}
	p := e.addOIDC(f, nil)
	u, _, err := e.svc.Resolve(t.Context(), p, &Identity{Provider: "idp", Subject: "s1", Username: "fed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unlink(t.Context(), u.ID, "idp"); auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("Unlink without a passkey = %v, want ECONFLICT", err)
	}
	pk := &auth.Passkey{ID: "pk_1", UserID: u.ID, Name: "Phone", CredentialID: []byte("cred-1"), PublicKey: []byte("cose"),
		AAGUID: make([]byte, 16), CloneWarning: true, CreatedAt: time.Now()}
	if err := e.store.CreatePasskey(t.Context(), pk); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unlink(t.Context(), u.ID, "idp"); auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("Unlink with only a cloned passkey = %v, want ECONFLICT", err)
	}
	pk2 := *pk
	pk2.ID, pk2.CredentialID, pk2.CloneWarning = "pk_2", []byte("cred-2"), false
	if err := e.store.CreatePasskey(t.Context(), &pk2); err != nil {
		t.Fatal(err)
	}
	broken := errors.New("store down")
	e.svc.cfg.Passkeys = storePasskeys{db: e.store, err: broken}
	if err := e.svc.Unlink(t.Context(), u.ID, "idp"); !errors.Is(err, broken) {
		t.Fatalf("Unlink while passkeys cannot be read = %v", err)
	}
	e.svc.cfg.Passkeys = storePasskeys{db: e.store}
	if err := e.svc.Unlink(t.Context(), u.ID, "idp"); err != nil {
		t.Fatalf("Unlink with a passkey: %v", err)
	}
	if links, _ := e.svc.Links(t.Context(), u.ID); len(links) != 0 {
		t.Fatalf("links left: %+v", links)
	}
}
