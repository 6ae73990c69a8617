package admin

import (
	"context"
	"reflect"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// A route for another identity provider is stored with the default
// algorithms (RS256) filled in. PATCH {"issuer": ""} turns it back into a
// route for Gatehouse's own tokens: the provider's jwks_uri and algorithms,
// which mean nothing without an issuer, go with it unless the same patch
// sets them (then the route is refused as before).
func TestRoutePatchClearingTheIssuerClearsItsKeys(t *testing.T) {
	t.Parallel()
	env, _ := newRoutesEnv(t)
	ctx := context.Background()
	c := env.client
	if _, err := c.CreateRoute(ctx, RouteRequest{
		Name: "partner", Upstreams: []string{"http://a"}, Policy: auth.PolicyJWT,
		Issuer: "https://idp.example.com", JWKSURI: "https://idp.example.com/keys", Audience: "api",
	}); err != nil {
		t.Fatal(err)
	}
	got, err := c.UpdateRoute(ctx, "partner", RoutePatch{Issuer: ptr("")})
	if err != nil {
		t.Fatalf("clearing the issuer: %v", err)
	}
	if got.Issuer != "" || got.JWKSURI != "" || !reflect.DeepEqual(got.Algorithms, []string{}) {
		t.Fatalf("after clearing the issuer: issuer %q, jwks_uri %q, algorithms %v", got.Issuer, got.JWKSURI, got.Algorithms)
	}
	// Algorithms given with an empty issuer are still a mistake.
	_, err = c.UpdateRoute(ctx, "partner", RoutePatch{Issuer: ptr(""), Algorithms: &[]string{"ES256"}})
	assertCode(t, err, auth.EINVALID, 400)
	// And the issuer can come back, with the default algorithms again.
	got, err = c.UpdateRoute(ctx, "partner", RoutePatch{Issuer: ptr("https://idp.example.com")})
	if err != nil || !reflect.DeepEqual(got.Algorithms, []string{"RS256"}) {
		t.Fatalf("setting the issuer again: %+v, %v", got, err)
	}
}
