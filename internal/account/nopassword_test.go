package account

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// An account created through an identity provider has no password: no
// password signs in to it, and trying is an ordinary failure, not a
// "corrupt hash" error in the log.
func TestAuthenticateAccountWithoutPassword(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	f := newFixture(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	now := auth.SystemNow()
	u := &auth.User{ID: "usr_01jf0000000000000000000000", Username: "fed", Role: auth.RoleDeveloper, CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	if err := f.db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "anything at all"} {
		_, err := f.svc.Authenticate(context.Background(), "fed", pw, "192.0.2.1", nil)
		if auth.ErrorCode(err) != auth.EUNAUTHORIZED {
			t.Fatalf("Authenticate(%q) = %v, want EUNAUTHORIZED", pw, err)
		}
	}
	if bytes.Contains(logs.Bytes(), []byte("unusable")) {
		t.Fatalf("logged as a corrupt hash:\n%s", logs.String())
	}
}
