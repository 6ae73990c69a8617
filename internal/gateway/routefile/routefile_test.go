package routefile

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// exampleFile is the routes file the README and docs/gateway.md show
// readers; these tests keep it valid and complete.
const exampleFile = "../../../examples/routes.yaml"

func TestTheExampleFileIsValidAndComplete(t *testing.T) {
	t.Parallel()
	routes, err := Load(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	want := []auth.Route{{
		Name:            "orders",
		Hosts:           []string{"api.example.com"},
		PathPrefix:      "/orders",
		Methods:         []string{"GET", "POST"},
		Upstreams:       []string{"http://127.0.0.1:9001", "http://127.0.0.1:9002"},
		StripPrefix:     true,
		Timeout:         10 * time.Second,
		Policy:          auth.PolicyJWT,
		Scopes:          []string{"orders:read"},
		Audience:        "orders-api",
		Issuer:          "https://idp.example.com",
		JWKSURI:         "https://idp.example.com/keys",
		Algorithms:      []string{"RS256"},
		RateLimit:       auth.RateLimit{Rate: 100, Burst: 200},
		ClientRateLimit: auth.RateLimit{Rate: 10, Burst: 20},
		InternalJWT:     true,
		StripHeaders:    []string{"X-User-Id"},
	}, {
		Name:                  "legacy-app",
		PathPrefix:            "/app",
		Upstreams:             []string{"http://127.0.0.1:9003"},
		Policy:                auth.PolicyAny,
		AnyAudience:           true,
		KeyEnvironment:        auth.KeyEnvLive,
		AllowPathParams:       true,
		CaseInsensitive:       true,
		ForwardMethodOverride: true,
	}, {
		Name:       "payments",
		PathPrefix: "/payments",
		Upstreams:  []string{"http://127.0.0.1:9004"},
		Policy:     auth.PolicyJWT,
		Audience:   "https://api.example.com/payments",
		RequireMFA: true,
	}}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("got\n%+v\nwant\n%+v", routes, want)
	}
}

func TestParseNormalizesAndKeepsOrder(t *testing.T) {
	t.Parallel()
	routes, err := Parse([]byte(`
routes:
  - name: b
    hosts: [API.Example.COM.]
    methods: [post, get, GET]
    upstreams: ["HTTP://Backend:8080/base/"]
    policy: api_key
    scopes: [w, r]
    strip_headers: [x-user-id]
  - name: a
    upstreams: [http://h]
    policy: public
    timeout: 0
    rate_limit: {rate: 0.5, burst: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 2 || routes[0].Name != "b" || routes[1].Name != "a" {
		t.Fatalf("routes %+v", routes)
	}
	b := routes[0]
	if b.PathPrefix != "/" || !reflect.DeepEqual(b.Hosts, []string{"api.example.com"}) ||
		!reflect.DeepEqual(b.Methods, []string{"GET", "POST"}) ||
		!reflect.DeepEqual(b.Upstreams, []string{"http://backend:8080/base"}) ||
		!reflect.DeepEqual(b.Scopes, []string{"r", "w"}) ||
		!reflect.DeepEqual(b.StripHeaders, []string{"X-User-Id"}) {
		t.Errorf("not normalized: %+v", b)
	}
	if a := routes[1]; a.Timeout != 0 || a.RateLimit != (auth.RateLimit{Rate: 0.5, Burst: 1}) {
		t.Errorf("route a %+v", a)
	}
}

func TestEmptyTables(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"empty file":     "",
		"only comments":  "# nothing yet\n",
		"empty list":     "routes: []\n",
		"null routes":    "routes:\n",
		"null document":  "~\n",
		"whitespace":     "\n\n   \n",
		"document start": "---\nroutes: []\n",
	} {
		routes, err := Parse([]byte(doc))
		if err != nil || routes == nil || len(routes) != 0 {
			t.Errorf("%s: %v, %v", name, routes, err)
		}
	}
}

func TestParseRefusesTheWholeFileWithAnErrorNamingRouteAndField(t *testing.T) {
	t.Parallel()
	valid := "  - name: ok\n    upstreams: [http://h]\n    policy: public\n"
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error
	}{
		{"unknown route field", valid + "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    retries: 3\n",
			[]string{`routes[1] "bad"`, `unknown field "retries"`, "line 8"}},
		{"misspelt field", "  - name: bad\n    upstream: [http://h]\n    policy: public\n",
			[]string{`routes[0] "bad"`, `unknown field "upstream"`}},
		{"unknown top-level field", "version: 2\nroutes: []\n", []string{`unknown field "version"`}},
		{"unknown rate limit field", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    rate_limit: {rate: 1, burst: 1, per: minute}\n",
			[]string{`routes[0] "bad"`, "rate_limit", `unknown field "per"`}},
		{"bad duration", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    timeout: 10 seconds\n",
			[]string{`routes[0] "bad"`, "field timeout", "not a duration"}},
		{"duration without unit", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    timeout: 10\n",
			[]string{"field timeout", "not a duration"}},
		{"timeout too long", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    timeout: 1h\n",
			[]string{`routes[0] "bad"`, "timeout must be between"}},
		{"duplicate name", valid + valid, []string{`routes[1] "ok"`, "field name", "routes[0]"}},
		{"duplicate name after normalization", valid + "  - name: ok\n    upstreams: [http://other]\n    policy: jwt\n    audience: api\n", []string{`routes[1] "ok"`, "already"}},
		// The gateway would refuse the table; the file says which route.
		{"prefixes that differ only by case", "  - name: a\n    path: /private\n    upstreams: [http://h]\n    policy: public\n  - name: b\n    path: /Private\n    upstreams: [http://h]\n    policy: public\n",
			[]string{`routes[1] "b"`, "line 6", "route a", "differ only by case"}},
		{"unknown key environment", "  - name: bad\n    upstreams: [http://h]\n    policy: api_key\n    key_environment: prod\n", []string{`routes[0] "bad"`, "key_environment"}},
		{"key environment on a jwt route", "  - name: bad\n    upstreams: [http://h]\n    policy: jwt\n    any_audience: true\n    key_environment: live\n", []string{`routes[0] "bad"`, "key_environment applies to API keys"}},
		{"require_mfa on an api_key route", "  - name: bad\n    upstreams: [http://h]\n    policy: api_key\n    require_mfa: true\n", []string{`routes[0] "bad"`, "require_mfa applies to user tokens"}},
		{"require_mfa on a public route", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    require_mfa: true\n", []string{`routes[0] "bad"`, "require_mfa"}},
		{"require_mfa as a string", "  - name: bad\n    upstreams: [http://h]\n    policy: jwt\n    any_audience: true\n    require_mfa: \"true\"\n", []string{"field require_mfa", "boolean"}},
		{"jwt without an audience", "  - name: bad\n    upstreams: [http://h]\n    policy: jwt\n", []string{`routes[0] "bad"`, "needs an audience", "any_audience: true"}},
		{"bad name", "  - name: Bad Name\n    upstreams: [http://h]\n    policy: public\n", []string{"routes[0]", "field name"}},
		{"missing upstreams", "  - name: bad\n    policy: public\n", []string{`routes[0] "bad"`, "upstream"}},
		{"bad upstream", "  - name: bad\n    upstreams: [ftp://h]\n    policy: public\n", []string{`routes[0] "bad"`, "upstream", "ftp://h"}},
		{"bad policy", "  - name: bad\n    upstreams: [http://h]\n    policy: open\n", []string{`routes[0] "bad"`, "policy"}},
		{"public with scopes", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    scopes: [a]\n", []string{"public route"}},
		{"symmetric algorithm", "  - name: bad\n    upstreams: [http://h]\n    policy: jwt\n    issuer: https://idp\n    algorithms: [HS256]\n", []string{"HS256"}},
		{"rate without burst", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    rate_limit: {rate: 5}\n", []string{"rate_limit"}},
		{"list for a string", "  - name: bad\n    upstreams: [http://h]\n    policy: [jwt]\n", []string{"field policy", "want a string"}},
		{"string for a list", "  - name: bad\n    upstreams: http://h\n    policy: public\n", []string{"field upstreams", "want a list"}},
		{"number for a string", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    audience: 42\n", []string{"field audience", "want a string"}},
		{"string for a bool", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    strip_prefix: \"yes\"\n", []string{"field strip_prefix", "boolean"}},
		{"yaml 1.1 bool", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    strip_prefix: yes\n", []string{"field strip_prefix", "boolean"}},
		{"string for a rate", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    rate_limit: {rate: fast, burst: 1}\n", []string{"rate", "number"}},
		{"fraction for a burst", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    rate_limit: {rate: 1, burst: 1.5}\n", []string{"burst"}},
		{"scalar rate limit", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    rate_limit: 100\n", []string{"rate_limit", "mapping"}},
		{"nested list item", "  - name: bad\n    upstreams: [[http://h]]\n    policy: public\n", []string{"field upstreams"}},
		{"empty list item", "  - name: bad\n    upstreams: [http://h, ~]\n    policy: public\n", []string{"field upstreams"}},
		{"route is not a mapping", "  - orders\n", []string{"routes[0]", "mapping"}},
		{"field given twice", "  - name: bad\n    upstreams: [http://h]\n    policy: public\n    policy: jwt\n", []string{"policy"}},
		{"merge keys are unknown fields", "  - &base\n    name: a\n    upstreams: [http://h]\n    policy: public\n  - <<: *base\n    name: b\n", []string{"routes[1]", `"<<"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := tt.doc
			if !strings.Contains(doc, "routes") {
				doc = "routes:\n" + doc
			}
			routes, err := Parse([]byte(doc))
			if err == nil {
				t.Fatalf("accepted: %+v", routes)
			}
			if routes != nil {
				t.Errorf("routes returned with the error: %+v", routes)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestParseRefusesMalformedDocuments(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"not yaml":           "routes: [\n",
		"tab indentation":    "routes:\n\t- name: a\n",
		"a list at the root": "- name: a\n",
		"a scalar at root":   "routes\n",
		"routes not a list":  "routes: {name: a}\n",
		"two documents":      "routes: []\n---\nroutes: []\n",
		"routes twice":       "routes: []\nroutes: []\n",
		"binary":             "\x00\x01\x02",
	} {
		if routes, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %+v", name, routes)
		}
	}
}

func TestParseRefusesAHugeFile(t *testing.T) {
	t.Parallel()
	huge := []byte("routes: []\n" + "#" + strings.Repeat("x", MaxSize) + "\n")
	if _, err := Parse(huge); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("Parse: %v", err)
	}
	path := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, huge, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("Load: %v", err)
	}
}

func TestParseSurvivesAliasBombs(t *testing.T) {
	t.Parallel()
	// Exponential alias expansion ("billion laughs") must fail fast, not
	// eat the memory of the gateway: aliases are followed one level, never
	// expanded.
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		b.WriteString("a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + strconv.Itoa(i-1))
		}
		b.WriteString("]\n")
	}
	b.WriteString("routes:\n  - name: a\n    upstreams: *a11\n    policy: public\n")
	if _, err := Parse([]byte(b.String())); err == nil {
		t.Error("accepted")
	}
}

func TestLoadReportsAMissingFile(t *testing.T) {
	t.Parallel()
	if _, err := Load(filepath.Join(t.TempDir(), "absent.yaml")); err == nil {
		t.Error("no error")
	}
}

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(exampleFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("routes: []"))
	f.Add([]byte("routes:\n  - name: a\n    upstreams: [http://h]\n    policy: public\n    rate_limit: {rate: 1, burst: 2}\n"))
	f.Add([]byte("routes:\n  - &x {name: a, upstreams: [http://h], policy: public}\n  - *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		routes, err := Parse(data)
		if err != nil {
			if routes != nil {
				t.Fatal("routes with an error")
			}
			return
		}
		names := map[string]bool{}
		for _, r := range routes {
			if names[r.Name] {
				t.Fatalf("duplicate name %q accepted", r.Name)
			}
			names[r.Name] = true
			// Every accepted route is already normal: Normalize again
			// changes nothing.
			again := r
			again.Hosts = append([]string(nil), r.Hosts...)
			again.Methods = append([]string(nil), r.Methods...)
			again.Upstreams = append([]string(nil), r.Upstreams...)
			again.Scopes = append([]string(nil), r.Scopes...)
			again.Algorithms = append([]string(nil), r.Algorithms...)
			again.StripHeaders = append([]string(nil), r.StripHeaders...)
			if err := again.Normalize(); err != nil {
				t.Fatalf("accepted route fails Normalize: %v", err)
			}
		}
	})
}
