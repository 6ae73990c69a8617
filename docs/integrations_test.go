package docs_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// proxiesDir holds the ready configurations that integrations.md explains.
const proxiesDir = "../examples/proxies"

// caddyNginxPending is the mark integrations.md carries until the Caddy
// and nginx sections are folded in, with their example files: until then
// those files may be absent; after, they must exist.
const caddyNginxPending = "(Caddy and nginx details: see the proxies helper's notes)"

// The examples that arrive with the Caddy and nginx sections.
var caddyNginxExamples = []string{"caddy/Caddyfile", "nginx/nginx.conf"}

// identity is gateway.IdentityHeaders, in lower case, sorted; withJWT
// adds Authorization, which a decision carries on internal_jwt routes.
func identity(withJWT bool) []string {
	var out []string
	for _, h := range gateway.IdentityHeaders {
		out = append(out, strings.ToLower(h))
	}
	if withJWT {
		out = append(out, "authorization")
	}
	slices.Sort(out)
	return out
}

// lowerSorted is names in lower case, sorted, for comparing header lists.
func lowerSorted(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.ToLower(strings.TrimSpace(n)))
	}
	slices.Sort(out)
	return out
}

// yamlDocuments decodes every document of a YAML file (Kubernetes
// manifests hold several).
func yamlDocuments(t *testing.T, path string) []any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		t.Fatalf("%s holds no YAML document", path)
	}
	return docs
}

// find collects, anywhere below node, the values of the mapping entries
// named key.
func find(node any, key string) []any {
	var out []any
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if k == key {
				out = append(out, v)
			}
			out = append(out, find(v, key)...)
		}
	case []any:
		for _, v := range n {
			out = append(out, find(v, key)...)
		}
	}
	return out
}

// strs is a YAML sequence of strings (nil if node is not one).
func strs(node any) []string {
	seq, _ := node.([]any)
	var out []string
	for _, v := range seq {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// matchers reads an Envoy ListStringMatcher: its exact names and its
// prefixes, in lower case.
func matchers(node any) (exact, prefix []string) {
	m, _ := node.(map[string]any)
	for _, p := range m["patterns"].([]any) {
		p := p.(map[string]any)
		if s, ok := p["exact"].(string); ok {
			exact = append(exact, strings.ToLower(s))
		}
		if s, ok := p["prefix"].(string); ok {
			prefix = append(prefix, strings.ToLower(s))
		}
	}
	slices.Sort(exact)
	return exact, prefix
}

// examplePath is the path of an example below proxiesDir.
func examplePath(name string) string { return filepath.Join(proxiesDir, filepath.FromSlash(name)) }

// TestProxyExamplesParse: every YAML file among the proxy examples
// parses, each of its documents (a proxy would refuse the file otherwise).
func TestProxyExamplesParse(t *testing.T) {
	t.Parallel()
	n := 0
	err := filepath.WalkDir(proxiesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
			yamlDocuments(t, path)
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 7 {
		t.Errorf("%d YAML files in %s, want the 7 of integrations.md at least", n, proxiesDir)
	}
}

// TestProxyExampleGatehouseConfigLoads: the Gatehouse side of the
// examples is a configuration Gatehouse itself loads and accepts, with
// decisions on, the gateway's listener off, trusted proxies named and the
// gRPC listener where Envoy's gRPC example looks for it.
func TestProxyExampleGatehouseConfigLoads(t *testing.T) {
	t.Parallel()
	c := config.Default(false)
	if err := c.LoadFile(examplePath("gatehouse.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.Decisions.Enabled || c.Decisions.GRPCAddr == "" {
		t.Errorf("decisions %+v: want enabled, with grpc_addr", c.Decisions)
	}
	if c.Gateway.Enabled() {
		t.Errorf("gateway.addr %q, want %q: the proxy forwards the requests", c.Gateway.Addr, config.GatewayOff)
	}
	if len(c.Gateway.TrustedProxies) == 0 || c.Gateway.RoutesFile == "" {
		t.Errorf("gateway: trusted_proxies %v, routes_file %q: want both", c.Gateway.TrustedProxies, c.Gateway.RoutesFile)
	}
	_, port, _ := net.SplitHostPort(c.Decisions.GRPCAddr)
	var envoyPorts []string
	for _, cl := range find(yamlDocuments(t, examplePath("envoy/envoy-grpc.yaml")), "clusters") {
		for _, c := range cl.([]any) {
			c := c.(map[string]any)
			if c["name"] == "gatehouse_decisions" {
				for _, p := range find(c, "port_value") {
					envoyPorts = append(envoyPorts, strconv.Itoa(p.(int)))
				}
			}
		}
	}
	if !slices.Equal(envoyPorts, []string{port}) {
		t.Errorf("envoy-grpc.yaml asks port %v, decisions.grpc_addr is %q", envoyPorts, c.Decisions.GRPCAddr)
	}
}

// TestTraefikExamplesCopyTheIdentity: each ForwardAuth middleware (file
// provider and Kubernetes CRD) asks the decision endpoint, writes the
// forwarding headers itself, and copies exactly the identity headers
// (plus Authorization in the internal_jwt variant); a headers middleware
// removes the API key after it.
func TestTraefikExamplesCopyTheIdentity(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"traefik/dynamic.yml", "kubernetes/traefik-ingressroute.yaml"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			docs := yamlDocuments(t, examplePath(name))
			variants := map[bool]int{}
			for _, fa := range find(docs, "forwardAuth") {
				fa := fa.(map[string]any)
				if addr, _ := fa["address"].(string); !strings.HasSuffix(addr, gateway.DecisionsPath) {
					t.Errorf("forwardAuth address %q does not end with %s", addr, gateway.DecisionsPath)
				}
				if fa["trustForwardHeader"] != false {
					t.Errorf("forwardAuth trustForwardHeader %v, want false: a client would choose the request decided on", fa["trustForwardHeader"])
				}
				got := lowerSorted(strs(fa["authResponseHeaders"]))
				withJWT := slices.Contains(got, "authorization")
				if want := identity(withJWT); !slices.Equal(got, want) {
					t.Errorf("forwardAuth authResponseHeaders %v, want %v", got, want)
				}
				variants[withJWT]++
			}
			if variants[false] == 0 || variants[true] == 0 {
				t.Errorf("ForwardAuth middlewares: %d without Authorization, %d with: want both kinds", variants[false], variants[true])
			}
			stripped := false
			for _, h := range find(docs, "customRequestHeaders") {
				if v, ok := h.(map[string]any)["X-API-Key"]; ok && v == "" {
					stripped = true
				}
			}
			if !stripped {
				t.Error(`no headers middleware removes X-API-Key (customRequestHeaders X-API-Key: "")`)
			}
		})
	}
}

// TestEnvoyExamplesCopyTheIdentity: both Envoy configurations remove a
// client's identity headers before the check and the API key after it,
// and fail closed; the HTTP one asks below the decision endpoint and
// copies exactly the identity headers and Authorization, the gRPC one
// speaks the v3 messages.
func TestEnvoyExamplesCopyTheIdentity(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"envoy/envoy-http.yaml", "envoy/envoy-grpc.yaml"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			docs := yamlDocuments(t, examplePath(name))
			var filter map[string]any
			for _, f := range find(docs, "http_filters") {
				for _, f := range f.([]any) {
					if f := f.(map[string]any); f["name"] == "envoy.filters.http.ext_authz" {
						filter = f["typed_config"].(map[string]any)
					}
				}
			}
			if filter == nil {
				t.Fatal("no envoy.filters.http.ext_authz filter")
			}
			if filter["failure_mode_allow"] != false {
				t.Errorf("failure_mode_allow %v, want false", filter["failure_mode_allow"])
			}
			if _, ok := filter["with_request_body"]; ok {
				t.Error("with_request_body is set: Gatehouse decides on headers alone")
			}
			var removed []string
			for _, m := range find(docs, "request_mutations") {
				for _, m := range m.([]any) {
					if r, ok := m.(map[string]any)["remove"].(string); ok {
						removed = append(removed, r)
					}
				}
			}
			if got, want := lowerSorted(removed), identity(false); !slices.Equal(got, want) {
				t.Errorf("header_mutation removes %v, want %v", got, want)
			}
			var afterwards []string
			for _, r := range find(docs, "request_headers_to_remove") {
				afterwards = append(afterwards, lowerSorted(strs(r))...)
			}
			if !slices.Contains(afterwards, "x-api-key") {
				t.Errorf("request_headers_to_remove %v: want x-api-key", afterwards)
			}
			if strings.HasSuffix(name, "grpc.yaml") {
				if filter["transport_api_version"] != "V3" || filter["grpc_service"] == nil {
					t.Errorf("gRPC ext_authz: transport_api_version %v, grpc_service %v", filter["transport_api_version"], filter["grpc_service"])
				}
				return
			}
			svc := filter["http_service"].(map[string]any)
			if svc["path_prefix"] != gateway.DecisionsPath {
				t.Errorf("path_prefix %v, want %s", svc["path_prefix"], gateway.DecisionsPath)
			}
			resp := svc["authorization_response"].(map[string]any)
			if got, _ := matchers(resp["allowed_upstream_headers"]); !slices.Equal(got, identity(true)) {
				t.Errorf("allowed_upstream_headers %v, want %v", got, identity(true))
			}
			exact, prefix := matchers(resp["allowed_client_headers"])
			for _, h := range []string{"www-authenticate", "retry-after", "content-type"} {
				if !slices.Contains(exact, h) {
					t.Errorf("allowed_client_headers %v: want %s", exact, h)
				}
			}
			if !slices.Contains(prefix, "ratelimit-") {
				t.Errorf("allowed_client_headers prefixes %v: want ratelimit-", prefix)
			}
			sent, _ := matchers(filter["allowed_headers"])
			if !slices.Contains(sent, "x-api-key") || !slices.Contains(sent, "dpop") {
				t.Errorf("allowed_headers %v: want the credentials x-api-key and dpop", sent)
			}
			for _, h := range []string{"x-forwarded-uri", "x-forwarded-method", "x-forwarded-host", "x-original-uri", "x-original-method"} {
				if slices.Contains(sent, h) {
					t.Errorf("allowed_headers passes a client's %s: it would override the path Envoy sends", h)
				}
			}
		})
	}
}

// TestIngressNginxExampleCopiesTheIdentity: each Ingress asks the
// decision endpoint, overrides the forwarding headers a client could send
// to the subrequest, and copies exactly the identity headers (plus
// Authorization on the internal_jwt one).
func TestIngressNginxExampleCopiesTheIdentity(t *testing.T) {
	t.Parallel()
	const prefix = "nginx.ingress.kubernetes.io/"
	docs := yamlDocuments(t, examplePath("kubernetes/ingress-nginx.yaml"))
	configMaps := map[string]map[string]any{}
	for _, d := range docs {
		d := d.(map[string]any)
		if d["kind"] == "ConfigMap" {
			meta := d["metadata"].(map[string]any)
			configMaps[meta["namespace"].(string)+"/"+meta["name"].(string)] = d["data"].(map[string]any)
		}
	}
	variants := map[bool]int{}
	for _, d := range docs {
		d := d.(map[string]any)
		if d["kind"] != "Ingress" {
			continue
		}
		meta := d["metadata"].(map[string]any)
		a := meta["annotations"].(map[string]any)
		if url, _ := a[prefix+"auth-url"].(string); !strings.HasSuffix(url, gateway.DecisionsPath) {
			t.Errorf("%s: auth-url %q does not end with %s", meta["name"], url, gateway.DecisionsPath)
		}
		got := lowerSorted(strings.Split(a[prefix+"auth-response-headers"].(string), ","))
		withJWT := slices.Contains(got, "authorization")
		if want := identity(withJWT); !slices.Equal(got, want) {
			t.Errorf("%s: auth-response-headers %v, want %v", meta["name"], got, want)
		}
		variants[withJWT]++
		set := configMaps[a[prefix+"auth-proxy-set-headers"].(string)]
		for _, h := range []string{"X-Forwarded-Method", "X-Forwarded-Uri", "X-Forwarded-Host"} {
			if v, _ := set[h].(string); !strings.HasPrefix(v, "$") {
				t.Errorf("%s: auth-proxy-set-headers sets %s to %q, want an nginx variable: a client's own would choose the request decided on", meta["name"], h, v)
			}
		}
		if s, _ := a[prefix+"configuration-snippet"].(string); !strings.Contains(s, `X-API-Key ""`) {
			t.Errorf("%s: configuration-snippet %q does not remove X-API-Key", meta["name"], s)
		}
	}
	if variants[false] == 0 || variants[true] == 0 {
		t.Errorf("Ingresses: %d without Authorization, %d with: want both kinds", variants[false], variants[true])
	}
}

// TestCaddyAndNginxExamplesCopyTheIdentity: the Caddyfile and nginx.conf
// ask the decision endpoint, name every identity header and remove the
// API key; nginx also overrides the X-Forwarded-* a client could send to
// the subrequest. They may be absent only while integrations.md still
// waits for their sections.
func TestCaddyAndNginxExamplesCopyTheIdentity(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("integrations.md")
	if err != nil {
		t.Fatal(err)
	}
	pending := strings.Contains(string(doc), caddyNginxPending)
	for _, name := range caddyNginxExamples {
		data, err := os.ReadFile(examplePath(name))
		if errors.Is(err, fs.ErrNotExist) && pending {
			t.Logf("%s: absent, as integrations.md still waits for it", name)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		text := strings.ToLower(string(data))
		want := []string{strings.ToLower(gateway.DecisionsPath), "x-api-key"}
		for _, h := range gateway.IdentityHeaders {
			want = append(want, strings.ToLower(h))
		}
		if strings.HasPrefix(name, "nginx/") {
			want = append(want, "x-forwarded-uri", "x-forwarded-method")
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s does not mention %s", name, w)
			}
		}
	}
}

// TestIntegrationsNamesEveryExample: integrations.md links every file
// among the proxy examples, every example it links exists (the Caddy and
// nginx ones once their sections are in), and every
// integrations.md#anchor an example cites is a heading of the page.
func TestIntegrationsNamesEveryExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("integrations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	pending := strings.Contains(doc, caddyNginxPending)
	linked := map[string]bool{}
	for _, m := range regexp.MustCompile(`\.\./examples/proxies/([A-Za-z0-9_./-]+)`).FindAllStringSubmatch(doc, -1) {
		linked[strings.TrimSuffix(m[1], ".")] = true
	}
	for name := range linked {
		if _, err := os.Stat(examplePath(name)); err != nil && !(pending && slices.Contains(caddyNginxExamples, name)) {
			t.Errorf("integrations.md links %s: %v", name, err)
		}
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{1,6} (.+)$`).FindAllStringSubmatch(doc, -1) {
		anchors[slug(m[1])] = true
	}
	cites := regexp.MustCompile(`integrations\.md#([a-z0-9_-]+)`)
	err = filepath.WalkDir(proxiesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(proxiesDir, path)
		if err != nil {
			return err
		}
		if !linked[filepath.ToSlash(rel)] {
			t.Errorf("integrations.md does not link examples/proxies/%s", filepath.ToSlash(rel))
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range cites.FindAllStringSubmatch(string(body), -1) {
			if !anchors[m[1]] {
				t.Errorf("%s cites integrations.md#%s, which is no heading", filepath.ToSlash(rel), m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// slug is the anchor GitHub gives a heading: lower case, punctuation
// other than '-' and '_' dropped, spaces as '-'.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
