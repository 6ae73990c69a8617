package main

// deployCheck of deploy/haproxy.cfg: the balancer against the compose
// nodes, the issuer, and haproxy -c.

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// haproxySection is a frontend, backend or listen section of haproxy.cfg.
type haproxySection struct {
	kind, name     string
	binds          []string // ports
	defaultBackend string
	checkURI       string
	servers        []haproxyServer
}

type haproxyServer struct {
	name, host, port string
	checked          bool
	checkPort        string // "port N"; the server's port otherwise
}

func parseHAProxy(text string) []*haproxySection {
	var out []*haproxySection
	var cur *haproxySection
	for _, raw := range strings.Split(text, "\n") {
		line, _, _ := strings.Cut(raw, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if raw[0] != ' ' && raw[0] != '\t' {
			cur = &haproxySection{kind: f[0]}
			if len(f) > 1 {
				cur.name = f[1]
			}
			out = append(out, cur)
			continue
		}
		if cur == nil {
			continue
		}
		switch f[0] {
		case "bind":
			if len(f) > 1 {
				_, port, _ := net.SplitHostPort(f[1])
				cur.binds = append(cur.binds, port)
			}
		case "default_backend":
			if len(f) > 1 {
				cur.defaultBackend = f[1]
			}
		case "http-check":
			if i := slices.Index(f, "uri"); i > 0 && i+1 < len(f) {
				cur.checkURI = f[i+1]
			}
		case "server":
			if len(f) < 3 {
				continue
			}
			host, port, _ := net.SplitHostPort(f[2])
			s := haproxyServer{name: f[1], host: host, port: port, checked: slices.Contains(f, "check"), checkPort: port}
			if i := slices.Index(f, "port"); i > 0 && i+1 < len(f) {
				s.checkPort = f[i+1]
			}
			cur.servers = append(cur.servers, s)
		}
	}
	return out
}

// checkHAProxy checks haproxy.cfg against the compose services it
// balances: every node in every backend, on the right ports, checked on
// the API port at an endpoint that answers; the issuer is the balancer's
// published API port; and haproxy -c accepts the file.
func (c *deployCheck) checkHAProxy(services map[string]*composeService) {
	file := haproxyPath
	sections := parseHAProxy(c.files[file])
	backends := map[string]*haproxySection{}
	for _, s := range sections {
		if s.kind == "backend" {
			backends[s.name] = s
		}
	}
	var nodes []string
	for name, s := range services {
		if s.serves() {
			nodes = append(nodes, name)
		}
	}
	slices.Sort(nodes)
	// backendPorts: for each backend, the node port its servers use.
	backendPorts := map[string]string{}
	for _, b := range sections {
		if b.kind != "backend" {
			continue
		}
		var names []string
		for _, srv := range b.servers {
			svc := services[srv.host]
			if svc == nil || !svc.serves() {
				c.failf(file, "backend %s: server %s is %q, no Gatehouse node of compose.yaml", b.name, srv.name, srv.host)
				continue
			}
			names = append(names, srv.host)
			api, gw := c.ports(composePath, svc.env)
			if srv.port != api && srv.port != gw {
				c.failf(file, "backend %s: server %s on port %s; %s listens on %s (API) and %s (gateway)", b.name, srv.name, srv.port, srv.host, api, gw)
			}
			if !srv.checked {
				c.failf(file, "backend %s: server %s is not health-checked", b.name, srv.name)
			} else if srv.checkPort != api {
				c.failf(file, "backend %s: server %s is checked on port %s; /readyz is on the API port %s", b.name, srv.name, srv.checkPort, api)
			}
			if bp, ok := backendPorts[b.name]; ok && bp != srv.port {
				c.failf(file, "backend %s mixes ports %s and %s", b.name, bp, srv.port)
			}
			backendPorts[b.name] = srv.port
		}
		slices.Sort(names)
		if !slices.Equal(names, nodes) {
			c.failf(file, "backend %s balances %v; the nodes are %v", b.name, names, nodes)
		}
		if b.checkURI == "" {
			c.failf(file, "backend %s has no http-check uri", b.name)
		} else {
			c.checkProbe(file, "backend "+b.name+" http-check", b.checkURI)
		}
	}
	// Both of a node's ports are balanced.
	var api, gw string
	if len(nodes) > 0 {
		api, gw = c.ports(composePath, services[nodes[0]].env)
	}
	frontendPort := map[string]string{} // node port -> HAProxy port that reaches it
	for _, f := range sections {
		if b := backends[f.defaultBackend]; f.kind == "frontend" && b != nil {
			for _, p := range f.binds {
				frontendPort[backendPorts[b.name]] = p
			}
		}
	}
	for _, p := range []string{api, gw} {
		if _, ok := frontendPort[p]; p != "" && !ok {
			c.failf(file, "no frontend balances the nodes' port %s", p)
		}
	}
	c.checkIssuerIsTheBalancer(services, frontendPort[api])
	c.haproxyCheck()
}

// checkIssuerIsTheBalancer: the nodes' issuer must be the URL of the
// balancer's published API port, not a node's, or tokens and the
// dashboard's redirects would name one node.
func (c *deployCheck) checkIssuerIsTheBalancer(services map[string]*composeService, apiFrontend string) {
	var published []string // host ports mapped to the API frontend
	for _, s := range services {
		if !strings.HasPrefix(path.Base(s.Image), "haproxy") {
			continue
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) >= 2 && parts[len(parts)-1] == apiFrontend {
				published = append(published, parts[len(parts)-2])
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		if s.cfg == nil {
			continue
		}
		u, err := url.Parse(s.cfg.OAuth.Issuer)
		if s.cfg.OAuth.Issuer == "" || err != nil {
			c.failf(composePath, "services.%s: no issuer: set GATEHOUSE_ISSUER to the balancer's URL", name)
			continue
		}
		if u.Scheme == "http" && !slices.Contains(published, u.Port()) {
			c.failf(composePath, "services.%s: the issuer %s is not the balancer's published API port (%v)", name, s.cfg.OAuth.Issuer, published)
		}
	}
}

// haproxyCheck runs haproxy -c on the file. Names of compose services do
// not resolve here, so those warnings are expected; any other is not.
func (c *deployCheck) haproxyCheck() {
	if c.haproxy == "" {
		return
	}
	text := c.files[haproxyPath]
	problems, ok := c.haproxyChecked[text]
	if !ok {
		problems = c.runHAProxyCheck(text)
		if c.haproxyChecked == nil {
			c.haproxyChecked = map[string][]string{}
		}
		c.haproxyChecked[text] = problems
	}
	for _, p := range problems {
		c.failf(haproxyPath, "haproxy -c: %s", p)
	}
}

func (c *deployCheck) runHAProxyCheck(text string) []string {
	p := filepath.Join(c.tmp, "haproxy.cfg")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		return []string{err.Error()}
	}
	out, err := exec.Command(c.haproxy, "-c", "-f", p).CombinedOutput()
	if err != nil {
		return []string{fmt.Sprintf("%v\n%s", err, out)}
	}
	var problems []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "[WARNING]") && !strings.Contains(line, "could not resolve address") {
			problems = append(problems, strings.TrimSpace(line))
		}
	}
	return problems
}
