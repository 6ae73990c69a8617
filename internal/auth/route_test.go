package auth

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// validRoute passes Normalize unchanged; each case changes one thing.
func validRoute() Route {
	return Route{Name: "orders", PathPrefix: "/orders", Upstreams: []string{"http://orders:8080"}, Policy: PolicyJWT, Audience: "https://api.example.test"}
}

func TestRouteNormalizeCanonicalForms(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Route)
		want   func(*Route)
	}{
		{"a valid route is left as it is", func(*Route) {}, func(*Route) {}},
		{"any_audience said instead of an audience",
			func(r *Route) { r.Audience, r.AnyAudience = "", true }, func(r *Route) { r.Audience, r.AnyAudience = "", true }},
		{"an empty path is /", func(r *Route) { r.PathPrefix = "" }, func(r *Route) { r.PathPrefix = "/" }},
		{"require_mfa on a jwt route", func(r *Route) { r.RequireMFA = true }, func(r *Route) { r.RequireMFA = true }},
		{"require_mfa on an any route",
			func(r *Route) { r.Policy, r.RequireMFA = PolicyAny, true }, func(r *Route) { r.Policy, r.RequireMFA = PolicyAny, true }},
		{"a key environment on an any route",
			func(r *Route) { r.Policy, r.KeyEnvironment = PolicyAny, KeyEnvTest }, func(r *Route) { r.Policy, r.KeyEnvironment = PolicyAny, KeyEnvTest }},
		{"hosts lower-cased, trailing dot dropped, sorted, unique",
			func(r *Route) { r.Hosts = []string{"B.Example.com.", "*.EXAMPLE.com", "b.example.com", "10.0.0.1"} },
			func(r *Route) { r.Hosts = []string{"*.example.com", "10.0.0.1", "b.example.com"} }},
		{"methods upper-cased, sorted, unique",
			func(r *Route) { r.Methods = []string{"post", "GET", "get", "Patch"} },
			func(r *Route) { r.Methods = []string{"GET", "PATCH", "POST"} }},
		{"empty lists become nil",
			func(r *Route) {
				r.Hosts, r.Methods, r.Scopes, r.StripHeaders = []string{}, []string{}, []string{}, []string{}
			},
			func(*Route) {}},
		{"upstreams: scheme and host lower-cased, trailing slashes dropped, order kept",
			func(r *Route) { r.Upstreams = []string{"HTTPS://B.example:8443/api//", "http://A/"} },
			func(r *Route) { r.Upstreams = []string{"https://b.example:8443/api", "http://a"} }},
		{"upstreams: an escaped slash stays escaped",
			func(r *Route) { r.Upstreams = []string{"http://a/x%2Fy/"} },
			func(r *Route) { r.Upstreams = []string{"http://a/x%2Fy"} }},
		{"upstreams: an empty query is dropped",
			func(r *Route) { r.Upstreams = []string{"http://a/b?"} },
			func(r *Route) { r.Upstreams = []string{"http://a/b"} }},
		{"scopes sorted and unique, case kept",
			func(r *Route) { r.Scopes = []string{"b", "A", "b"} },
			func(r *Route) { r.Scopes = []string{"A", "b"} }},
		{"strip headers in canonical form, sorted, unique",
			func(r *Route) { r.StripHeaders = []string{"x-debug", "COOKIE", "X-Debug"} },
			func(r *Route) { r.StripHeaders = []string{"Cookie", "X-Debug"} }},
		{"an issuer without algorithms gets RS256",
			func(r *Route) { r.Issuer, r.Audience = "https://idp.example", "api" },
			func(r *Route) { r.Issuer, r.Audience, r.Algorithms = "https://idp.example", "api", []string{"RS256"} }},
		{"algorithms sorted and unique",
			func(r *Route) {
				r.Issuer, r.Audience, r.Algorithms = "https://idp.example", "api", []string{"RS256", "ES256", "RS256"}
			},
			func(r *Route) {
				r.Issuer, r.Audience, r.Algorithms = "https://idp.example", "api", []string{"ES256", "RS256"}
			}},
		{"an issuer may have a query (it is compared exactly)",
			func(r *Route) { r.Issuer, r.Audience = "https://idp.example/?tenant=a", "api" },
			func(r *Route) {
				r.Issuer, r.Audience, r.Algorithms = "https://idp.example/?tenant=a", "api", []string{"RS256"}
			}},
		{"limits and timeout at their bounds",
			func(r *Route) {
				r.Timeout, r.RateLimit, r.ClientRateLimit = MaxRouteTimeout, RateLimit{Rate: 1e6, Burst: 1e6}, RateLimit{Rate: 0.001, Burst: 1}
			},
			func(r *Route) {
				r.Timeout, r.RateLimit, r.ClientRateLimit = MaxRouteTimeout, RateLimit{Rate: 1e6, Burst: 1e6}, RateLimit{Rate: 0.001, Burst: 1}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, want := validRoute(), validRoute()
			tc.change(&r)
			tc.want(&want)
			if err := r.Normalize(); err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if !reflect.DeepEqual(r, want) {
				t.Fatalf("got\n%#v\nwant\n%#v", r, want)
			}
			again := r
			again.Hosts, again.Methods, again.Upstreams = slices.Clone(r.Hosts), slices.Clone(r.Methods), slices.Clone(r.Upstreams)
			if err := again.Normalize(); err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("a second Normalize changed the route or failed (%v): %#v", err, again)
			}
		})
	}
}

func TestRouteNormalizeRefuses(t *testing.T) {
	many := func(n int, f func(i int) string) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = f(i)
		}
		return s
	}
	tests := []struct {
		name   string
		change func(*Route)
		field  string // a word the message must contain
	}{
		{"no name", func(r *Route) { r.Name = "" }, "name"},
		{"an upper-case name", func(r *Route) { r.Name = "Orders" }, "name"},
		{"a name starting with a dash", func(r *Route) { r.Name = "-a" }, "name"},
		{"a name with a slash", func(r *Route) { r.Name = "a/b" }, "name"},
		{"a 64-character name", func(r *Route) { r.Name = strings.Repeat("a", 64) }, "name"},
		{"too many hosts", func(r *Route) {
			r.Hosts = many(MaxRouteHosts+1, func(i int) string { return string(rune('a'+i%26)) + strings.Repeat("x", i) + ".com" })
		}, "hosts"},
		{"a host with a port", func(r *Route) { r.Hosts = []string{"a.example:443"} }, "host"},
		{"a host with a scheme", func(r *Route) { r.Hosts = []string{"https://a.example"} }, "host"},
		{"a wildcard over a top-level domain", func(r *Route) { r.Hosts = []string{"*.com"} }, "host"},
		{"a bare wildcard", func(r *Route) { r.Hosts = []string{"*"} }, "host"},
		{"a wildcard inside a name", func(r *Route) { r.Hosts = []string{"a.*.example.com"} }, "host"},
		{"an empty host label", func(r *Route) { r.Hosts = []string{"a..example.com"} }, "host"},
		{"a label starting with a dash", func(r *Route) { r.Hosts = []string{"-a.example.com"} }, "host"},
		{"an underscore in a host", func(r *Route) { r.Hosts = []string{"a_b.example.com"} }, "host"},
		{"a path without a leading slash", func(r *Route) { r.PathPrefix = "orders" }, "path"},
		{"a path with a trailing slash", func(r *Route) { r.PathPrefix = "/orders/" }, "path"},
		{"a path with an empty segment", func(r *Route) { r.PathPrefix = "/a//b" }, "path"},
		{"a path with a dot segment", func(r *Route) { r.PathPrefix = "/a/./b" }, "path"},
		{"a path with a dot-dot segment", func(r *Route) { r.PathPrefix = "/a/../b" }, "path"},
		{"a path with a query", func(r *Route) { r.PathPrefix = "/a?b" }, "path"},
		{"a path with a fragment", func(r *Route) { r.PathPrefix = "/a#b" }, "path"},
		{"a path with an escape", func(r *Route) { r.PathPrefix = "/a%2Fb" }, "path"},
		{"a path with a wildcard", func(r *Route) { r.PathPrefix = "/a/*" }, "path"},
		{"a path with a backslash", func(r *Route) { r.PathPrefix = `/a\b` }, "path"},
		{"a path with a space", func(r *Route) { r.PathPrefix = "/a b" }, "path"},
		// The gateway refuses such request paths: the route could match nothing.
		{"a path with a parameter", func(r *Route) { r.PathPrefix = "/a;b" }, "path"},
		{"a path segment ending in a dot", func(r *Route) { r.PathPrefix = "/v1./x" }, "path"},
		{"a path with a control character", func(r *Route) { r.PathPrefix = "/a\x01" }, "path"},
		{"a path starting with //", func(r *Route) { r.PathPrefix = "//evil.example/a" }, "path"},
		{"an overlong path", func(r *Route) { r.PathPrefix = "/" + strings.Repeat("a", 1024) }, "path"},
		{"a method with a digit", func(r *Route) { r.Methods = []string{"GET1"} }, "method"},
		{"an empty method", func(r *Route) { r.Methods = []string{""} }, "method"},
		{"an overlong method", func(r *Route) { r.Methods = []string{strings.Repeat("A", 21)} }, "method"},
		{"no upstream", func(r *Route) { r.Upstreams = nil }, "upstream"},
		{"too many upstreams", func(r *Route) { r.Upstreams = many(MaxRouteUpstreams+1, func(int) string { return "http://a" }) }, "upstreams"},
		{"an ftp upstream", func(r *Route) { r.Upstreams = []string{"ftp://a"} }, "upstream"},
		{"an upstream without a host", func(r *Route) { r.Upstreams = []string{"http:///a"} }, "upstream"},
		{"an upstream with user information", func(r *Route) { r.Upstreams = []string{"http://user:pw@a"} }, "upstream"},
		{"an upstream with a query", func(r *Route) { r.Upstreams = []string{"http://a/?x=1"} }, "upstream"},
		{"an upstream with a fragment", func(r *Route) { r.Upstreams = []string{"http://a/#x"} }, "upstream"},
		{"an opaque upstream", func(r *Route) { r.Upstreams = []string{"http:a"} }, "upstream"},
		{"an empty upstream", func(r *Route) { r.Upstreams = []string{""} }, "upstream"},
		{"a relative upstream", func(r *Route) { r.Upstreams = []string{"/a"} }, "upstream"},
		{"an overlong upstream", func(r *Route) { r.Upstreams = []string{"http://a/" + strings.Repeat("a", 2048)} }, "upstream"},
		{"a negative timeout", func(r *Route) { r.Timeout = -time.Second }, "timeout"},
		{"a timeout over the maximum", func(r *Route) { r.Timeout = MaxRouteTimeout + 1 }, "timeout"},
		{"no policy", func(r *Route) { r.Policy = "" }, "policy"},
		{"an unknown policy", func(r *Route) { r.Policy = "JWT" }, "policy"},
		{"too many scopes", func(r *Route) {
			r.Scopes = many(MaxRouteScopes+1, func(i int) string { return strings.Repeat("s", i+1) })
		}, "scopes"},
		{"a scope with a space", func(r *Route) { r.Scopes = []string{"a b"} }, "scope"},
		{"a scope with a quote", func(r *Route) { r.Scopes = []string{`a"b`} }, "scope"},
		{"an empty scope", func(r *Route) { r.Scopes = []string{""} }, "scope"},
		{"a public route with scopes", func(r *Route) { r.Policy, r.Scopes = PolicyPublic, []string{"a"} }, "public"},
		{"a public route with an audience", func(r *Route) { r.Policy, r.Audience = PolicyPublic, "a" }, "public"},
		{"a public route with an issuer", func(r *Route) { r.Policy, r.Issuer = PolicyPublic, "https://idp" }, "public"},
		{"a public route with an internal JWT", func(r *Route) { r.Policy, r.InternalJWT = PolicyPublic, true }, "public"},
		{"an API-key route with an audience", func(r *Route) { r.Policy, r.Audience = PolicyAPIKey, "a" }, "audience"},
		{"an API-key route with an issuer", func(r *Route) { r.Policy, r.Issuer = PolicyAPIKey, "https://idp" }, "issuer"},
		{"an audience with a newline", func(r *Route) { r.Audience = "a\nb" }, "audience"},
		{"an audience with NUL", func(r *Route) { r.Audience = "a\x00" }, "audience"},
		{"an audience in invalid UTF-8", func(r *Route) { r.Audience = "a\xff" }, "audience"},
		{"an overlong audience", func(r *Route) { r.Audience = strings.Repeat("a", 257) }, "audience"},
		{"a JWKS URI without an issuer", func(r *Route) { r.JWKSURI = "https://idp/keys" }, "issuer"},
		{"algorithms without an issuer", func(r *Route) { r.Algorithms = []string{"RS256"} }, "issuer"},
		{"an issuer that is not http", func(r *Route) { r.Issuer = "idp.example" }, "issuer"},
		// Its ID tokens would pass as access tokens.
		{"another provider without an audience", func(r *Route) { r.Issuer, r.Audience = "https://idp.example", "" }, "needs an audience"},
		{"a JWKS URI with a query", func(r *Route) { r.Issuer, r.JWKSURI = "https://idp", "https://idp/keys?x" }, "jwks_uri"},
		{"a symmetric algorithm", func(r *Route) { r.Issuer, r.Algorithms = "https://idp", []string{"HS256"} }, "algorithm"},
		{"the none algorithm", func(r *Route) { r.Issuer, r.Algorithms = "https://idp", []string{"none"} }, "algorithm"},
		{"an algorithm in lower case", func(r *Route) { r.Issuer, r.Algorithms = "https://idp", []string{"rs256"} }, "algorithm"},
		{"a negative rate", func(r *Route) { r.RateLimit = RateLimit{Rate: -1, Burst: 1} }, "rate_limit"},
		{"a rate over the maximum", func(r *Route) { r.RateLimit = RateLimit{Rate: 1e6 + 1, Burst: 1} }, "rate_limit"},
		{"an infinite rate", func(r *Route) { r.RateLimit = RateLimit{Rate: math.Inf(1), Burst: 1} }, "rate_limit"},
		{"a NaN rate without a burst", func(r *Route) { r.RateLimit = RateLimit{Rate: math.NaN()} }, "rate_limit"},
		{"a NaN client rate", func(r *Route) { r.ClientRateLimit = RateLimit{Rate: math.NaN(), Burst: 1} }, "client_rate_limit"},
		{"a rate without a burst", func(r *Route) { r.RateLimit = RateLimit{Rate: 1} }, "rate_limit"},
		{"a burst without a rate", func(r *Route) { r.ClientRateLimit = RateLimit{Burst: 1} }, "client_rate_limit"},
		{"a negative burst", func(r *Route) { r.ClientRateLimit = RateLimit{Rate: 1, Burst: -1} }, "client_rate_limit"},
		{"a burst over the maximum", func(r *Route) { r.ClientRateLimit = RateLimit{Rate: 1, Burst: 1e6 + 1} }, "client_rate_limit"},
		{"a header name with a colon", func(r *Route) { r.StripHeaders = []string{"X-A:"} }, "strip_headers"},
		{"a header name with a space", func(r *Route) { r.StripHeaders = []string{"X A"} }, "strip_headers"},
		{"an empty header name", func(r *Route) { r.StripHeaders = []string{""} }, "strip_headers"},
		// A token the issuer minted for another of its APIs would pass.
		{"a jwt route without an audience", func(r *Route) { r.Audience = "" }, "any_audience: true"},
		{"an any route without an audience", func(r *Route) { r.Policy, r.Audience = PolicyAny, "" }, "any_audience: true"},
		{"both an audience and any_audience", func(r *Route) { r.AnyAudience = true }, "not both"},
		{"an unknown key environment", func(r *Route) { r.Policy, r.Audience, r.KeyEnvironment = PolicyAPIKey, "", "prod" }, "key_environment"},
		{"a key environment on a jwt route", func(r *Route) { r.KeyEnvironment = KeyEnvLive }, "key_environment applies to API keys"},
		// An API key proves no sign-in: the requirement would be ignored.
		{"require_mfa on an API-key route", func(r *Route) { r.Policy, r.Audience, r.RequireMFA = PolicyAPIKey, "", true }, "require_mfa applies to user tokens"},
		{"require_mfa on a public route", func(r *Route) { r.Policy, r.Audience, r.RequireMFA = PolicyPublic, "", true }, "require_mfa applies to user tokens"},
		{"an API-key route with any_audience", func(r *Route) { r.Policy, r.Audience, r.AnyAudience = PolicyAPIKey, "", true }, "any_audience"},
		{"a public route with any_audience", func(r *Route) { r.Policy, r.Audience, r.AnyAudience = PolicyPublic, "", true }, "any_audience"},
		{"another provider with any_audience", func(r *Route) { r.Issuer, r.Audience, r.AnyAudience = "https://idp.example", "", true }, "needs an audience"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := validRoute()
			tc.change(&r)
			err := r.Normalize()
			if ErrorCode(err) != EINVALID {
				t.Fatalf("Normalize = %v, want EINVALID", err)
			}
			if msg := ErrorMessage(err); !strings.Contains(msg, tc.field) {
				t.Fatalf("message %q does not name %q", msg, tc.field)
			}
		})
	}
}

func TestMatchesPrefix(t *testing.T) {
	tests := []struct {
		prefix, path string
		want         bool
	}{
		{"/", "/", true},
		{"/", "/anything/below", true},
		{"/", "", false},
		{"/", "relative", false},
		{"/orders", "/orders", true},
		{"/orders", "/orders/", true},
		{"/orders", "/orders/1", true},
		{"/orders", "/orders/1/items", true},
		{"/orders", "/ordersx", false},
		{"/orders", "/orders.json", false},
		{"/orders", "/order", false},
		{"/orders", "/", false},
		{"/orders", "/Orders", false},
		{"/orders", "/x/orders", false},
		{"/a/b", "/a/b/c", true},
		{"/a/b", "/a/bc", false},
		{"/a/b", "/a", false},
	}
	for _, tc := range tests {
		if got := MatchesPrefix(tc.prefix, tc.path, false); got != tc.want {
			t.Errorf("prefix %q, path %q: %v, want %v", tc.prefix, tc.path, got, tc.want)
		}
	}
}

func TestMatchesPrefixFolded(t *testing.T) {
	tests := []struct {
		prefix, path string
		want         bool
	}{
		{"/private", "/private/x", true},
		{"/private", "/PRIVATE/x", true},
		{"/private", "/PrIvAtE", true},
		{"/Private", "/private/x", true},
		{"/private", "/PRIVATEX", false},
		{"/private", "/PRIVAT", false},
		// Only ASCII letters fold: the Kelvin sign is not "k" to routers.
		{"/key", "/\u212aey", false},
		{"/key", "/Key", false},
		{"/café", "/CAFÉ", false},
	}
	for _, tc := range tests {
		if got := MatchesPrefix(tc.prefix, tc.path, true); got != tc.want {
			t.Errorf("prefix %q, path %q: %v, want %v", tc.prefix, tc.path, got, tc.want)
		}
	}
}

func TestPrefixesClash(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"/private", "/Private", true},
		{"/a/B", "/A/b", true},
		{"/private", "/private", false}, // the same prefix is not a clash
		{"/private", "/private/x", false},
		{"/key", "/Key", false},
	}
	for _, tc := range tests {
		if got := PrefixesClash(tc.a, tc.b); got != tc.want {
			t.Errorf("PrefixesClash(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRouteMatchesHost(t *testing.T) {
	tests := []struct {
		hosts []string
		host  string
		want  bool
	}{
		{nil, "anything.example", true},
		{nil, "", true},
		{[]string{"api.example.com"}, "api.example.com", true},
		{[]string{"api.example.com"}, "www.example.com", false},
		{[]string{"api.example.com"}, "xapi.example.com", false},
		{[]string{"api.example.com"}, "api.example.com.evil", false},
		{[]string{"*.example.com"}, "a.example.com", true},
		{[]string{"*.example.com"}, "a.b.example.com", true},
		{[]string{"*.example.com"}, "example.com", false},
		{[]string{"*.example.com"}, ".example.com", false},
		{[]string{"*.example.com"}, "evilexample.com", false},
		{[]string{"*.example.com"}, "a.example.com.evil", false},
		{[]string{"a.example", "*.example.com"}, "a.example", true},
		{[]string{"a.example", "*.example.com"}, "b.example", false},
	}
	for _, tc := range tests {
		r := Route{Hosts: tc.hosts}
		if got := r.MatchesHost(tc.host); got != tc.want {
			t.Errorf("hosts %v, host %q: %v, want %v", tc.hosts, tc.host, got, tc.want)
		}
	}
}

func TestRouteMatchesMethod(t *testing.T) {
	tests := []struct {
		methods []string
		method  string
		want    bool
	}{
		{nil, "GET", true},
		{nil, "BREW", true},
		{[]string{"GET", "POST"}, "GET", true},
		{[]string{"GET", "POST"}, "POST", true},
		{[]string{"GET", "POST"}, "DELETE", false},
		{[]string{"GET"}, "get", false}, // methods arrive upper case; Normalize made the route's so
		{[]string{"GET"}, "HEAD", false},
	}
	for _, tc := range tests {
		r := Route{Methods: tc.methods}
		if got := r.MatchesMethod(tc.method); got != tc.want {
			t.Errorf("methods %v, method %q: %v, want %v", tc.methods, tc.method, got, tc.want)
		}
	}
}

// FuzzRouteNormalize checks that Normalize never panics, that what it
// accepts is canonical (a second Normalize changes nothing) and that its
// output keeps the rules matching relies on.
func FuzzRouteNormalize(f *testing.F) {
	f.Add("orders", "API.example.com.", "/orders", "get", "HTTP://A:80//", "jwt", "read", "", "", "RS256", 1.5, 2, "x-debug")
	f.Add("a", "*.example.com", "/", "POST", "https://a/b%2Fc/", "any", "", "https://idp/?t=1", "https://idp/keys", "ES256", 0.0, 0, "cookie")
	f.Add("b", "*.com", "//x", "", "http://a?", "public", "", "", "", "", math.NaN(), 0, "")
	f.Fuzz(func(t *testing.T, name, host, path, method, upstream, policy, scope, issuer, jwks, alg string, rate float64, burst int, header string) {
		r := Route{
			Name: name, Hosts: []string{host}, PathPrefix: path, Methods: []string{method},
			Upstreams: []string{upstream, upstream}, Policy: policy, Scopes: []string{scope},
			Issuer: issuer, JWKSURI: jwks, Algorithms: []string{alg},
			RateLimit: RateLimit{Rate: rate, Burst: burst}, StripHeaders: []string{header},
			AnyAudience: issuer == "" && (policy == PolicyJWT || policy == PolicyAny),
		}
		if err := r.Normalize(); err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("Normalize error is not EINVALID: %v", err)
			}
			return
		}
		again := r
		again.Hosts, again.Methods, again.Upstreams = slices.Clone(r.Hosts), slices.Clone(r.Methods), slices.Clone(r.Upstreams)
		again.Scopes, again.Algorithms, again.StripHeaders = slices.Clone(r.Scopes), slices.Clone(r.Algorithms), slices.Clone(r.StripHeaders)
		if err := again.Normalize(); err != nil {
			t.Fatalf("a normalized route fails Normalize: %v\n%#v", err, r)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("Normalize is not idempotent:\nonce  %#v\ntwice %#v", r, again)
		}
		for _, h := range r.Hosts {
			if h != strings.ToLower(h) || strings.ContainsAny(h, ":/") {
				t.Fatalf("host %q is not canonical", h)
			}
		}
		for _, m := range r.Methods {
			if m != strings.ToUpper(m) {
				t.Fatalf("method %q is not upper case", m)
			}
		}
		if !MatchesPrefix(r.PathPrefix, r.PathPrefix, r.CaseInsensitive) || !MatchesPrefix(r.PathPrefix, strings.TrimSuffix(r.PathPrefix, "/")+"/x", r.CaseInsensitive) {
			t.Fatalf("route does not match its own prefix %q", r.PathPrefix)
		}
		if math.IsNaN(r.RateLimit.Rate) || math.IsInf(r.RateLimit.Rate, 0) {
			t.Fatalf("rate %v accepted", r.RateLimit.Rate)
		}
	})
}

func TestLoopbackHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true,
		"": false, "[::1]": false, "localhost.example": false, "10.0.0.1": false, "0.0.0.0": false, "::": false,
	} {
		if got := LoopbackHost(host); got != want {
			t.Errorf("LoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
