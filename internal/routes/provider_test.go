package routes

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The gateway fetches another provider's keys only over https, or http to
// a loopback host (verify.New refuses anything else, since keys read in
// clear text could be replaced on the way). Normalize accepts any http
// URL, so a route with an http issuer used to be stored, then refused by
// the gateway's SetRoutes: every stored route stopped applying, on every
// node, until it was deleted. Such a route is now refused when written.
func TestCreateAndUpdateRefuseAProviderTheGatewayWouldNotFetch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*auth.Route)
		code   string
	}{
		{"issuer over http", func(r *auth.Route) { r.Issuer = "http://idp.example.com" }, auth.EINVALID},
		{"jwks_uri over http", func(r *auth.Route) {
			r.Issuer, r.JWKSURI = "https://idp.example.com", "http://idp.example.com/keys"
		}, auth.EINVALID},
		{"issuer over http, keys over https", func(r *auth.Route) {
			// Nothing is fetched from the issuer: its URL is only the iss.
			r.Issuer, r.JWKSURI = "http://idp.example.com", "https://idp.example.com/keys"
		}, ""},
		{"issuer over https", func(r *auth.Route) { r.Issuer = "https://idp.example.com" }, ""},
		{"loopback issuer over http", func(r *auth.Route) { r.Issuer = "http://127.0.0.1:8080" }, ""},
		{"localhost jwks_uri over http", func(r *auth.Route) {
			r.Issuer, r.JWKSURI = "https://idp.example.com", "http://localhost:9000/keys"
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			r := orders()
			r.Audience = "api" // another provider's routes need one
			tc.change(&r)
			_, err := f.svc.Create(t.Context(), r, "key_admin")
			wantCode(t, "Create", err, tc.code)

			plain := orders()
			plain.Name, plain.Audience = "plain", "api"
			f.create(t, plain)
			_, err = f.svc.Update(t.Context(), "plain", func(r *auth.Route) error { tc.change(r); return nil }, "key_admin")
			wantCode(t, "Update", err, tc.code)
		})
	}
}
