// Package factorstest seeds users' second factors straight into a store,
// for the tests of the packages that show and remove them.
package factorstest

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Seed gives the user an authenticator app with three recovery codes, two
// passkeys and a session, written straight to the store; it returns the
// passkeys' IDs and the session's hash.
func Seed(t testing.TB, db auth.Store, userID string, now time.Time) ([]string, []byte) {
	t.Helper()
	ctx := context.Background()
	if err := db.PutPendingTOTP(ctx, &auth.TOTPSecret{UserID: userID, Sealed: []byte("sealed-secret"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.ConfirmTOTP(ctx, userID, []byte("sealed-secret"), 1, now, hashes(3)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, name := range []string{"YubiKey 1", "Phone"} {
		created := now.Add(time.Duration(i) * time.Second) // the list is oldest first
		id, _ := auth.NewID("pk_", created)
		cred := make([]byte, 16)
		rand.Read(cred)
		p := &auth.Passkey{ID: id, UserID: userID, Name: name, CredentialID: cred, PublicKey: []byte("public-key"),
			AAGUID: make([]byte, 16), CreatedAt: created}
		if err := db.CreatePasskey(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	hash := make([]byte, 32)
	rand.Read(hash)
	if err := db.CreateSession(ctx, &auth.Session{Hash: hash, UserID: userID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return ids, hash
}

// hashes returns n distinct recovery-code hashes.
func hashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, auth.RecoveryCodeHashSize)
		rand.Read(out[i])
	}
	return out
}
