package passkey_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/passkey/passkeytest"
)

// FuzzFinishLogin sends what the internet may send as an assertion to a
// live sign-in: it never panics, never signs anyone in (no authenticator
// holds the challenge) and always answers EUNAUTHORIZED.
func FuzzFinishLogin(f *testing.F) {
	e := newEnv(f)
	alice := e.user("alice")
	a := &passkeytest.Authenticator{Origin: origin, Counting: true}
	opts, state, err := e.svc.BeginRegistration(context.Background(), alice)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := e.svc.FinishRegistration(context.Background(), alice, state, "key", a.Create(f, opts)); err != nil {
		f.Fatal(err)
	}
	lopts, _, err := e.svc.BeginLogin(context.Background(), "")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(a.Get(f, lopts, nil))
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	f.Fuzz(func(t *testing.T, response []byte) {
		_, state, err := e.svc.BeginLogin(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		userID, _, err := e.svc.FinishLogin(context.Background(), state, response)
		if auth.ErrorCode(err) != auth.EUNAUTHORIZED || userID != "" {
			t.Fatalf("FinishLogin = %q, %v", userID, err)
		}
	})
}
