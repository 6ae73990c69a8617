package admin

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestKeyEnvironmentThroughClient(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	c := env.client

	// The test service's default prefix is sk_test_: test is its default.
	byDefault, err := c.CreateKey(ctx, CreateKeyRequest{Owner: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	live, err := c.CreateKey(ctx, CreateKeyRequest{Owner: "svc", Environment: auth.KeyEnvLive})
	if err != nil {
		t.Fatal(err)
	}
	env.secrets = append(env.secrets, byDefault.Secret, live.Secret)
	if byDefault.Environment != auth.KeyEnvTest || byDefault.Prefix != "sk_test_" {
		t.Errorf("default key: environment %q, prefix %q", byDefault.Environment, byDefault.Prefix)
	}
	if live.Environment != auth.KeyEnvLive || live.Prefix != "sk_live_" || !strings.HasPrefix(live.Secret, "sk_live_") {
		t.Errorf("live key: environment %q, prefix %q", live.Environment, live.Prefix)
	}
	for _, k := range []*CreatedKey{byDefault, live} {
		res, err := c.VerifyKey(ctx, VerifyRequest{Key: k.Secret})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Valid || res.Environment != k.Environment {
			t.Errorf("verify %s key: valid %v, environment %q", k.Environment, res.Valid, res.Environment)
		}
	}
	got, err := c.GetKey(ctx, live.ID)
	if err != nil || got.Environment != auth.KeyEnvLive {
		t.Fatalf("GetKey: %v, environment %q", err, got.Environment)
	}

	_, err = c.CreateKey(ctx, CreateKeyRequest{Owner: "svc", Environment: "staging"})
	assertCode(t, err, auth.EINVALID, 400)
}
