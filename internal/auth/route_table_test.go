package auth

import (
	"errors"
	"strings"
	"testing"
)

func tableRoute(name, path string) Route {
	r := validRoute()
	r.Name, r.PathPrefix = name, path
	return r
}

func TestCheckRouteTable(t *testing.T) {
	for _, tc := range []struct {
		name         string
		routes       []Route
		index, other int // of the *RouteTableError; -1, -1 for none
		code         string
	}{
		{"an empty table", nil, -1, -1, ""},
		{"distinct routes", []Route{tableRoute("a", "/a"), tableRoute("b", "/b"), tableRoute("root", "/")}, -1, -1, ""},
		{"one prefix, spelt alike, twice", []Route{tableRoute("a", "/a"), tableRoute("b", "/a")}, -1, -1, ""},
		{"a route that breaks a rule", []Route{tableRoute("a", "/a"), tableRoute("b", "/b/")}, 1, -1, EINVALID},
		{"a name twice", []Route{tableRoute("a", "/a"), tableRoute("b", "/b"), tableRoute("a", "/c")}, 2, 0, ECONFLICT},
		{"a name twice once normalized", []Route{tableRoute("a", "/a"), tableRoute("a", "")}, 1, 0, ECONFLICT},
		{"prefixes that differ only by case", []Route{tableRoute("a", "/a/b"), tableRoute("b", "/x"), tableRoute("c", "/A/b")}, 2, 0, ECONFLICT},
		{"a clash behind a prefix spelt alike", []Route{tableRoute("a", "/a"), tableRoute("b", "/a"), tableRoute("c", "/A")}, 2, 0, ECONFLICT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRouteTable(tc.routes)
			if tc.index < 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var bad *RouteTableError
			if !errors.As(err, &bad) {
				t.Fatalf("error %v is not a *RouteTableError", err)
			}
			if bad.Index != tc.index || bad.Other != tc.other || ErrorCode(err) != tc.code {
				t.Fatalf("route %d, other %d, code %s; want %d, %d, %s (%v)", bad.Index, bad.Other, ErrorCode(err), tc.index, tc.other, tc.code, err)
			}
		})
	}
}

func TestCheckRouteTableNormalizesInPlace(t *testing.T) {
	routes := []Route{tableRoute("a", "")}
	routes[0].Methods = []string{"get", "GET"}
	if err := CheckRouteTable(routes); err != nil {
		t.Fatal(err)
	}
	if routes[0].PathPrefix != "/" || len(routes[0].Methods) != 1 || routes[0].Methods[0] != "GET" {
		t.Fatalf("not normalized: %+v", routes[0])
	}
}

func TestRouteConflict(t *testing.T) {
	a, b := tableRoute("a", "/private"), tableRoute("b", "/Private")
	err := RouteConflict(&b, &a)
	if ErrorCode(err) != ECONFLICT {
		t.Fatalf("a case clash: %v", err)
	}
	for _, w := range []string{"route b", `"/Private"`, "route a", `"/private"`, "differ only by case", "case_insensitive"} {
		if !strings.Contains(ErrorMessage(err), w) {
			t.Errorf("%q does not say %q", ErrorMessage(err), w)
		}
	}
	same := tableRoute("a", "/other")
	if ErrorCode(RouteConflict(&same, &a)) != ECONFLICT {
		t.Error("one name twice is not a conflict")
	}
	c := tableRoute("c", "/private")
	if err := RouteConflict(&c, &a); err != nil {
		t.Errorf("one prefix spelt alike: %v", err)
	}
}

// The gateway fetches another provider's keys only over https, or http to
// a loopback host (the verify package refuses anything else): a route that
// names another would be stored, then refused by the gateway's table.
func TestRouteNormalizeRefusesKeysTheGatewayWouldNotFetch(t *testing.T) {
	for _, tc := range []struct {
		name, issuer, jwks string
		field              string // named in the error; "" for accepted
	}{
		{"issuer over http", "http://idp.example.com", "", "issuer"},
		{"jwks_uri over http", "https://idp.example.com", "http://idp.example.com/keys", "jwks_uri"},
		{"issuer over http, keys over https", "http://idp.example.com", "https://idp.example.com/keys", ""},
		{"issuer over https", "https://idp.example.com", "", ""},
		{"loopback issuer over http", "http://127.0.0.1:8080", "", ""},
		{"IPv6 loopback over http", "http://[::1]:8080", "", ""},
		{"localhost jwks_uri over http", "https://idp.example.com", "http://LocalHost:9000/keys", ""},
		{"a host named like loopback", "http://127.0.0.1.example.com", "", "issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validRoute()
			r.Issuer, r.JWKSURI, r.Audience = tc.issuer, tc.jwks, "api"
			err := r.Normalize()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tc.field) || !strings.Contains(ErrorMessage(err), "https") {
				t.Fatalf("Normalize = %v, want EINVALID naming %s", err, tc.field)
			}
		})
	}
}
