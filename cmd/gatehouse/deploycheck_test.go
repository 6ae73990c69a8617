package main

// The deployment files (Dockerfile, deploy/compose.yaml, deploy/haproxy.cfg,
// deploy/kubernetes/) name environment variables, subcommands, flags,
// settings, ports and health endpoints of this program. deployCheck holds
// them to the program itself, so that they cannot drift from it: the names
// come from config.EnvNames and the variables serve and the CLI read, the
// commands and flags from the cobra tree, the settings from config.LoadFile
// (strict) and Validate, the endpoints from a running node.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// repoRoot is the repository, seen from this package's directory (where
// go test runs).
const repoRoot = "../.."

// deployFiles are the deployment files by path from the repository root,
// read into memory so that tests can check altered copies.
type deployFiles map[string]string

// The files deployCheck reads; deploy/kubernetes/ is found through its
// kustomization.yaml.
const (
	dockerfilePath    = "Dockerfile"
	composePath       = "deploy/compose.yaml"
	haproxyPath       = "deploy/haproxy.cfg"
	kustomizationPath = "deploy/kubernetes/kustomization.yaml"
	deployReadmePath  = "deploy/README.md"
)

func readDeployFiles() (deployFiles, error) {
	files := deployFiles{}
	paths := []string{dockerfilePath, composePath, haproxyPath, kustomizationPath, deployReadmePath}
	k8s, err := filepath.Glob(filepath.Join(repoRoot, "deploy/kubernetes/*"))
	if err != nil {
		return nil, err
	}
	for _, p := range k8s {
		rel, _ := filepath.Rel(repoRoot, p)
		paths = append(paths, filepath.ToSlash(rel))
	}
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(repoRoot, p))
		if err != nil {
			return nil, err
		}
		files[p] = string(b)
	}
	return files, nil
}

// knownEnvNames are the GATEHOUSE_* variables this program reads: the
// configuration's, and those serve, init and the CLI read themselves,
// recorded by calling the code that reads them.
func knownEnvNames() map[string]bool {
	names := map[string]bool{}
	for _, n := range config.EnvNames() {
		names[n] = true
	}
	record := func(n string) string { names[n] = true; return "" }
	var sf serverFlags
	cmd := &cobra.Command{Use: "serve"}
	sf.register(cmd, true)
	sf.load(cmd, record) // only the names it asks for matter here
	var cf clientFlags
	cf.client(record)
	return names
}

// deployCheck checks a set of deployment files.
type deployCheck struct {
	env map[string]bool
	// status GETs a path on a running node and returns the status code.
	status func(path string) (int, error)
	// haproxy is the haproxy program, "" when it is not installed.
	haproxy string
	// tmp is a folder for files that must be on disk (config files for
	// config.LoadFile, haproxy.cfg for haproxy -c).
	tmp string
	// haproxyChecked holds what haproxy -c said of each content checked,
	// which most runs of a test repeat.
	haproxyChecked map[string][]string

	files deployFiles
	errs  []error
	// image is what the Dockerfile's final stage gives every container.
	image dockerImage
}

func (c *deployCheck) failf(file, format string, args ...any) {
	// Files written to tmp are named by their path in the repository.
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), c.tmp+string(filepath.Separator), "")
	c.errs = append(c.errs, fmt.Errorf("%s: %s", file, msg))
}

// run checks files and returns every problem found.
func (c *deployCheck) run(files deployFiles) []error {
	c.files, c.errs = files, nil
	for _, p := range slices.Sorted(mapKeys(files)) {
		c.checkEnvNames(p, files[p])
	}
	c.checkDockerfile()
	services := c.checkCompose()
	c.checkHAProxy(services)
	c.checkKubernetes()
	return c.errs
}

func mapKeys[M ~map[K]V, K comparable, V any](m M) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var envNameRE = regexp.MustCompile(`\bGATEHOUSE_[A-Z0-9_]+`)

// checkEnvNames holds every GATEHOUSE_ name in a file, wherever it is (a
// variable, an interpolation, a comment), to the names the program reads.
func (c *deployCheck) checkEnvNames(file, text string) {
	for i, line := range strings.Split(text, "\n") {
		for _, n := range envNameRE.FindAllString(line, -1) {
			if !c.env[n] {
				c.failf(file, "line %d: %s is no variable Gatehouse reads", i+1, n)
			}
		}
	}
}

// checkCommandLine holds a command line given to the gatehouse binary
// (without the program name) to the cobra tree: a known command, known
// flags with values of their type, arguments it takes. It returns the
// command with its flags parsed and the flags and arguments it was given,
// or nil after a failure.
func (c *deployCheck) checkCommandLine(file string, args []string) (*cobra.Command, []string) {
	root := newRootCommand(io.Discard, io.Discard, func(string) string { return "" })
	cmd := root
	i := 0
	for ; i < len(args) && !strings.HasPrefix(args[i], "-") && cmd.HasSubCommands(); i++ {
		var next *cobra.Command
		for _, sub := range cmd.Commands() {
			if sub.Name() == args[i] || slices.Contains(sub.Aliases, args[i]) {
				next = sub
			}
		}
		if next == nil {
			c.failf(file, "gatehouse %s: %q is no command of %q", strings.Join(args, " "), args[i], cmd.CommandPath())
			return nil, nil
		}
		cmd = next
	}
	if cmd == root {
		c.failf(file, "gatehouse %s: no command", strings.Join(args, " "))
		return nil, nil
	}
	if err := cmd.ParseFlags(args[i:]); err != nil {
		c.failf(file, "gatehouse %s: %v", strings.Join(args, " "), err)
		return nil, nil
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		c.failf(file, "gatehouse %s: %v", strings.Join(args, " "), err)
		return nil, nil
	}
	if err := checkFlags(cmd, nil); err != nil {
		c.failf(file, "gatehouse %s: %v", strings.Join(args, " "), err)
		return nil, nil
	}
	return cmd, args[i:]
}

// serverConfig builds the configuration a serve or init command line
// starts with, through the code serve uses (serverFlags.load): env is the
// container's environment, and mounts maps config file paths inside the
// container to local files. It returns the configuration and its file
// ("" for none), and ok=false when cmd takes no server configuration or
// it is invalid.
func (c *deployCheck) serverConfig(file string, cmd *cobra.Command, args []string, env map[string]string, mounts map[string]string) (cfg config.Config, configFile string, ok bool) {
	if cmd.Name() != "serve" && cmd.Name() != "init" {
		return cfg, "", false
	}
	var f serverFlags
	fresh := &cobra.Command{Use: cmd.Name()}
	f.register(fresh, cmd.Name() == "serve")
	fresh.ParseFlags(args) // parsed once already by checkCommandLine
	local := func(p string) string {
		if p == "" {
			return ""
		}
		if l, ok := mounts[p]; ok {
			return l
		}
		c.failf(file, "the config file %s is not mounted in the container", p)
		return os.DevNull // an empty configuration, to go on checking the rest
	}
	configFile = f.configFile
	if configFile == "" {
		configFile = env["GATEHOUSE_CONFIG"]
	}
	f.configFile = local(configFile)
	cfg, err := f.load(fresh, func(k string) string {
		if k == "GATEHOUSE_CONFIG" {
			return "" // in f.configFile already
		}
		return env[k]
	})
	if err != nil {
		c.failf(file, "gatehouse %s: %v", cmd.Name(), err)
		return cfg, configFile, false
	}
	return cfg, configFile, true
}

// checkProbe asks a running node for path, which must answer 200.
func (c *deployCheck) checkProbe(file, what, path string) {
	code, err := c.status(path)
	switch {
	case err != nil:
		c.failf(file, "%s %s: %v", what, path, err)
	case code != 200:
		c.failf(file, "%s %s: a running node answers %d, not 200", what, path, code)
	}
}

// dockerImage is what the final stage of the Dockerfile gives a container.
type dockerImage struct {
	env         map[string]string
	entrypoint  []string
	cmd         []string
	healthcheck []string // the CMD of HEALTHCHECK
	exposed     []string
	user        string
	volumes     []string
}

// gatehouseArgs returns the arguments a container command line passes to
// the gatehouse binary, or false when it runs another program.
func gatehouseArgs(argv []string) ([]string, bool) {
	if len(argv) == 0 || path.Base(argv[0]) != "gatehouse" {
		return nil, false
	}
	return argv[1:], true
}

// parseDockerfile reads the instructions of a Dockerfile, continuation
// lines joined and comments dropped, and keeps the final stage's image.
// ENTRYPOINT, CMD and HEALTHCHECK must use the exec (JSON) form there: the
// image has no shell to run the other.
func (c *deployCheck) checkDockerfile() {
	file := dockerfilePath
	img := dockerImage{env: map[string]string{}}
	var logical []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(c.files[file]))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	execForm := func(instr, rest string) []string {
		var argv []string
		if err := json.Unmarshal([]byte(rest), &argv); err != nil {
			c.failf(file, "%s %s: use the exec form [\"...\"]: the image has no shell", instr, rest)
			return nil
		}
		return argv
	}
	stages := 0
	for _, l := range logical {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			stages++
			img = dockerImage{env: map[string]string{}}
		case "ENV":
			for k, v := range parseDockerEnv(rest) {
				img.env[k] = v
			}
		case "ENTRYPOINT":
			img.entrypoint = execForm(instr, rest)
		case "CMD":
			img.cmd = execForm(instr, rest)
		case "EXPOSE":
			img.exposed = strings.Fields(rest)
		case "USER":
			img.user = rest
		case "VOLUME":
			if err := json.Unmarshal([]byte(rest), &img.volumes); err != nil {
				img.volumes = strings.Fields(rest)
			}
		case "HEALTHCHECK":
			fields := strings.Fields(rest)
			for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
				fields = fields[1:]
			}
			if len(fields) > 1 && strings.ToUpper(fields[0]) == "CMD" {
				_, argv, _ := strings.Cut(rest, fields[0]+" ")
				img.healthcheck = execForm("HEALTHCHECK CMD", strings.TrimSpace(argv))
			}
		}
	}
	c.image = img
	if stages < 2 {
		c.failf(file, "%d stage(s): build in one stage, copy the binary into a small final one", stages)
	}
	args, ok := gatehouseArgs(img.entrypoint)
	if !ok {
		c.failf(file, "ENTRYPOINT %q does not run gatehouse", img.entrypoint)
		return
	}
	// The image alone is not a valid node (it needs a secret, and TLS or
	// behind_tls_proxy): only its command line is checked here.
	c.checkCommandLine(file, append(args, img.cmd...))
	if img.user == "" || img.user == "root" || strings.HasPrefix(img.user, "0:") || img.user == "0" {
		c.failf(file, "USER %q: the image must run as a non-root user", img.user)
	}
	if data := img.env["GATEHOUSE_DATA"]; !slices.Contains(img.volumes, data) {
		c.failf(file, "VOLUME %v does not hold the data folder GATEHOUSE_DATA=%q", img.volumes, data)
	}
	apiPort, gwPort := c.ports(file, img.env)
	for _, p := range []string{apiPort, gwPort} {
		if p != "" && !slices.Contains(img.exposed, p) {
			c.failf(file, "port %s is not in EXPOSE %v", p, img.exposed)
		}
	}
	hc, ok := gatehouseArgs(img.healthcheck)
	if !ok {
		c.failf(file, "HEALTHCHECK %q does not run gatehouse", img.healthcheck)
		return
	}
	if cmd, _ := c.checkCommandLine(file, hc); cmd != nil && cmd.Name() == "healthcheck" {
		u, err := url.Parse(cmd.Flags().Lookup("url").Value.String())
		if err != nil {
			c.failf(file, "HEALTHCHECK --url: %v", err)
			return
		}
		if u.Port() != apiPort {
			c.failf(file, "HEALTHCHECK asks port %s, the API listens on %s", u.Port(), apiPort)
		}
		c.checkProbe(file, "HEALTHCHECK", u.Path)
	}
}

// parseDockerEnv reads ENV K=V K2=V2 (values optionally in double
// quotes) or the older ENV K V.
func parseDockerEnv(rest string) map[string]string {
	env := map[string]string{}
	if k, v, ok := strings.Cut(rest, " "); ok && !strings.Contains(k, "=") {
		env[k] = strings.TrimSpace(v)
		return env
	}
	for _, kv := range strings.Fields(rest) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = strings.Trim(v, `"`)
	}
	return env
}

// ports returns the API's and the gateway's port in an environment over
// the configuration's defaults.
func (c *deployCheck) ports(file string, env map[string]string) (api, gateway string) {
	cfg := config.Default(false)
	if err := cfg.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		c.failf(file, "%v", err)
	}
	_, api, _ = net.SplitHostPort(cfg.Addr)
	if cfg.Gateway.Enabled() {
		_, gateway, _ = net.SplitHostPort(cfg.Gateway.Addr)
	}
	return api, gateway
}

// composeService is a service of compose.yaml, as far as it is checked.
type composeService struct {
	Image       string         `yaml:"image"`
	Build       any            `yaml:"build"`
	Command     any            `yaml:"command"`
	Entrypoint  any            `yaml:"entrypoint"`
	Environment any            `yaml:"environment"`
	Ports       []string       `yaml:"ports"`
	Profiles    []string       `yaml:"profiles"`
	Healthcheck map[string]any `yaml:"healthcheck"`
	Networks    any            `yaml:"networks"`

	name string
	env  map[string]string // the image's environment under the service's, interpolated
	cfg  *config.Config    // the configuration of a serve or init service
}

func (s *composeService) gatehouse() bool {
	name, _, _ := strings.Cut(s.Image, ":")
	return path.Base(name) == "gatehouse"
}

// serves reports whether the service is a node of the cluster: serve,
// started by `docker compose up` (no profile).
func (s *composeService) serves() bool { return s.cfg != nil && len(s.Profiles) == 0 }

// composeSamples stand for the values .env gives the variables a compose
// file requires (${VAR:?...}), which are never committed.
var composeSamples = map[string]string{
	"GATEHOUSE_SECRET":  strings.Repeat("ab", 32),
	"POSTGRES_PASSWORD": "sample-password",
}

var interpolationRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate resolves ${VAR}, ${VAR:-default} and ${VAR:?message} as
// docker compose does, with composeSamples as the environment.
func (c *deployCheck) interpolate(file, s string) string {
	return interpolationRE.ReplaceAllStringFunc(s, func(m string) string {
		p := interpolationRE.FindStringSubmatch(m)
		if v, ok := composeSamples[p[1]]; ok {
			return v
		}
		switch p[2] {
		case ":-", "-":
			return p[3]
		case ":?", "?":
			c.failf(file, "%s is required (%s) and has no sample value in this test", p[1], p[3])
		}
		return ""
	})
}

// stringList reads a compose command or entrypoint: a list, or a string
// split on spaces.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// checkCompose checks compose.yaml and returns its services by name.
func (c *deployCheck) checkCompose() map[string]*composeService {
	file := composePath
	var doc struct {
		Services map[string]*composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(c.files[file]), &doc); err != nil {
		c.failf(file, "%v", err)
		return nil
	}
	nodes := 0
	for _, name := range slices.Sorted(mapKeys(doc.Services)) {
		s := doc.Services[name]
		s.name = name
		where := file + ": services." + name
		env := map[string]string{}
		switch e := s.Environment.(type) {
		case map[string]any:
			for k, v := range e {
				if v != nil {
					env[k] = c.interpolate(where, fmt.Sprint(v))
				}
			}
		case []any:
			for _, kv := range e {
				k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
				env[k] = c.interpolate(where, v)
			}
		}
		if !s.gatehouse() {
			continue
		}
		if s.Entrypoint != nil {
			c.failf(where, "sets an entrypoint: the image's runs gatehouse")
		}
		s.env = map[string]string{}
		for k, v := range c.image.env {
			s.env[k] = v
		}
		for k, v := range env {
			s.env[k] = v
		}
		if test := stringList(s.Healthcheck["test"]); len(test) > 0 && test[0] != "NONE" {
			if args, ok := gatehouseArgs(test[1:]); !ok || test[0] != "CMD" {
				c.failf(where, "healthcheck %q: run gatehouse healthcheck in the exec form (CMD)", test)
			} else {
				c.checkCommandLine(where, args)
			}
		}
		args := stringList(s.Command)
		if args == nil {
			args = c.image.cmd
		}
		cmd, rest := c.checkCommandLine(where, args)
		if cmd == nil {
			continue
		}
		if cfg, _, ok := c.serverConfig(where, cmd, rest, s.env, nil); ok {
			s.cfg = &cfg
		}
		if s.serves() {
			nodes++
		}
	}
	if nodes < 2 {
		c.failf(file, "%d node(s) serve: a cluster needs several", nodes)
	}
	return doc.Services
}

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
	for _, name := range slices.Sorted(mapKeys(services)) {
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

// Kubernetes objects, as far as they are checked.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec yaml.Node `yaml:"spec"`

	file string // where it was read
}

// where names the object in errors.
func (o *k8sObject) where() string {
	return o.file + ": " + strings.ToLower(o.Kind) + " " + o.Metadata.Name
}

type k8sDeployment struct {
	Replicas int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
			SecurityContext               struct {
				RunAsNonRoot *bool `yaml:"runAsNonRoot"`
			} `yaml:"securityContext"`
			Containers []k8sContainer `yaml:"containers"`
			Volumes    []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sService struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort any    `yaml:"targetPort"`
	} `yaml:"ports"`
}

type kustomization struct {
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
}

// checkKubernetes checks the objects kustomization.yaml lists.
func (c *deployCheck) checkKubernetes() {
	dir := path.Dir(kustomizationPath)
	var k kustomization
	if err := yaml.Unmarshal([]byte(c.files[kustomizationPath]), &k); err != nil {
		c.failf(kustomizationPath, "%v", err)
		return
	}
	// The generated ConfigMaps' files, written where config.LoadFile can
	// read them: configMaps[name][key] = local path.
	configMaps := map[string]map[string]string{}
	for _, g := range k.ConfigMapGenerator {
		configMaps[g.Name] = map[string]string{}
		for _, f := range g.Files {
			key, src, ok := strings.Cut(f, "=")
			if !ok {
				key, src = path.Base(f), f
			}
			text, ok := c.files[path.Join(dir, src)]
			if !ok {
				c.failf(kustomizationPath, "configMapGenerator %s: no file %s", g.Name, src)
				continue
			}
			local := filepath.Join(c.tmp, filepath.FromSlash(path.Join(dir, src)))
			if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
				c.failf(kustomizationPath, "%v", err)
			}
			if err := os.WriteFile(local, []byte(text), 0o600); err != nil {
				c.failf(kustomizationPath, "%v", err)
			}
			configMaps[g.Name][key] = local
		}
	}
	var objects []k8sObject
	for _, r := range k.Resources {
		file := path.Join(dir, r)
		text, ok := c.files[file]
		if !ok {
			c.failf(kustomizationPath, "resource %s is missing", r)
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(text))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				c.failf(file, "%v", err)
				break
			}
			if o.Kind == "" {
				c.failf(file, "a document without a kind")
				continue
			}
			o.file = file
			objects = append(objects, o)
		}
	}
	var deployments int
	portNames := map[string]bool{}
	var podLabels map[string]string
	for _, o := range objects {
		if o.Kind != "Deployment" {
			continue
		}
		deployments++
		where := o.where()
		var d k8sDeployment
		if err := o.Spec.Decode(&d); err != nil {
			c.failf(where, "%v", err)
			continue
		}
		podLabels = d.Template.Metadata.Labels
		c.checkDeployment(where, &d, configMaps, portNames)
	}
	if deployments != 1 {
		c.failf(dir, "%d Deployments, want 1", deployments)
	}
	services := map[string]bool{}
	for _, o := range objects {
		where := o.where()
		switch o.Kind {
		case "Service":
			services[o.Metadata.Name] = true
			var s k8sService
			if err := o.Spec.Decode(&s); err != nil {
				c.failf(where, "%v", err)
				continue
			}
			if !selects(s.Selector, podLabels) {
				c.failf(where, "selector %v matches no Gatehouse pod (labels %v)", s.Selector, podLabels)
			}
			for _, p := range s.Ports {
				if name, ok := p.TargetPort.(string); ok && !portNames[name] {
					c.failf(where, "targetPort %q is no port of the Gatehouse container", name)
				}
			}
		case "PodDisruptionBudget":
			var p struct {
				Selector struct {
					MatchLabels map[string]string `yaml:"matchLabels"`
				} `yaml:"selector"`
			}
			if err := o.Spec.Decode(&p); err != nil || !selects(p.Selector.MatchLabels, podLabels) {
				c.failf(where, "selector %v matches no Gatehouse pod (labels %v)", p.Selector.MatchLabels, podLabels)
			}
		}
	}
	for _, o := range objects {
		if o.Kind != "Ingress" {
			continue
		}
		var in struct {
			Rules []struct {
				HTTP struct {
					Paths []struct {
						Backend struct {
							Service struct {
								Name string `yaml:"name"`
							} `yaml:"service"`
						} `yaml:"backend"`
					} `yaml:"paths"`
				} `yaml:"http"`
			} `yaml:"rules"`
		}
		if err := o.Spec.Decode(&in); err != nil {
			c.failf(o.where(), "%v", err)
			continue
		}
		for _, r := range in.Rules {
			for _, p := range r.HTTP.Paths {
				if !services[p.Backend.Service.Name] {
					c.failf(o.where(), "backend service %q is not among the Services", p.Backend.Service.Name)
				}
			}
		}
	}
}

// selects reports whether a non-empty label selector matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (c *deployCheck) checkDeployment(where string, d *k8sDeployment, configMaps map[string]map[string]string, portNames map[string]bool) {
	if d.Replicas < 2 {
		c.failf(where, "%d replica(s): a cluster needs several", d.Replicas)
	}
	if !selects(d.Selector.MatchLabels, d.Template.Metadata.Labels) {
		c.failf(where, "the selector does not match the pod template's labels")
	}
	if r := d.Template.Spec.SecurityContext.RunAsNonRoot; r == nil || !*r {
		c.failf(where, "the pod must set runAsNonRoot: true")
	}
	volumes := map[string]string{} // volume -> ConfigMap
	for _, v := range d.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			volumes[v.Name] = v.ConfigMap.Name
		}
	}
	if len(d.Template.Spec.Containers) != 1 {
		c.failf(where, "%d containers, want the one Gatehouse container", len(d.Template.Spec.Containers))
		return
	}
	ct := d.Template.Spec.Containers[0]
	where += " container " + ct.Name
	env := map[string]string{}
	for k, v := range c.image.env {
		env[k] = v
	}
	var secretKeys []string
	for _, e := range ct.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			secretKeys = append(secretKeys, e.ValueFrom.SecretKeyRef.Key)
			delete(env, e.Name) // unknown here: the configuration is checked without it
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		}
	}
	c.checkSecretKeysAreDocumented(where, secretKeys)
	// Config files mounted from generated ConfigMaps.
	mounts := map[string]string{}
	for _, m := range ct.VolumeMounts {
		for key, local := range configMaps[volumes[m.Name]] {
			mounts[path.Join(m.MountPath, key)] = local
		}
	}
	argv := ct.Command
	if argv == nil {
		argv = c.image.entrypoint
	}
	args, ok := gatehouseArgs(argv)
	if !ok {
		c.failf(where, "command %q does not run gatehouse", argv)
		return
	}
	if ct.Args != nil || ct.Command != nil {
		args = append(args, ct.Args...)
	} else {
		args = append(args, c.image.cmd...)
	}
	cmd, rest := c.checkCommandLine(where, args)
	if cmd == nil {
		return
	}
	cfg, configFile, ok := c.serverConfig(where, cmd, rest, env, mounts)
	if !ok {
		return
	}
	if configFile == "" {
		c.failf(where, "no config file from the ConfigMap")
	}
	grace := d.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= cfg.ShutdownTimeout+5*time.Second {
		c.failf(where, "terminationGracePeriodSeconds must exceed shutdown_timeout (%s) by more than 5s", cfg.ShutdownTimeout)
	}
	_, api, _ := net.SplitHostPort(cfg.Addr)
	_, gw, _ := net.SplitHostPort(cfg.Gateway.Addr)
	ports := map[string]string{} // name -> number
	for _, p := range ct.Ports {
		portNames[p.Name] = true
		ports[p.Name] = strconv.Itoa(p.ContainerPort)
		if n := strconv.Itoa(p.ContainerPort); n != api && n != gw {
			c.failf(where, "port %s (%d): the node listens on %s and %s", p.Name, p.ContainerPort, api, gw)
		}
	}
	for _, probe := range []struct {
		name string
		p    *k8sProbe
		path string // the one it must ask, "" for either
	}{
		{"startupProbe", ct.StartupProbe, ""},
		{"readinessProbe", ct.ReadinessProbe, "/readyz"},
		{"livenessProbe", ct.LivenessProbe, "/healthz"},
	} {
		if probe.p == nil || probe.p.HTTPGet == nil {
			if probe.path != "" {
				c.failf(where, "no %s (httpGet %s)", probe.name, probe.path)
			}
			continue
		}
		g := probe.p.HTTPGet
		if probe.path != "" && g.Path != probe.path {
			c.failf(where, "%s asks %s, want %s", probe.name, g.Path, probe.path)
		}
		port := fmt.Sprint(g.Port)
		if n, ok := ports[port]; ok {
			port = n
		}
		if port != api {
			c.failf(where, "%s asks port %v; the API, which serves it, is on %s", probe.name, g.Port, api)
		}
		c.checkProbe(where, probe.name, g.Path)
	}
	if ro := ct.SecurityContext.ReadOnlyRootFilesystem; ro == nil || !*ro {
		c.failf(where, "readOnlyRootFilesystem must be true")
	}
	if ape := ct.SecurityContext.AllowPrivilegeEscalation; ape == nil || *ape {
		c.failf(where, "allowPrivilegeEscalation must be false")
	}
	if ct.Resources.Requests["cpu"] == "" || ct.Resources.Requests["memory"] == "" || ct.Resources.Limits["memory"] == "" {
		c.failf(where, "resources: set requests.cpu, requests.memory and limits.memory")
	}
}

var fromLiteralRE = regexp.MustCompile(`--from-literal=([a-z0-9-]+)=`)

// checkSecretKeysAreDocumented: deploy/README.md's command that creates
// the Secret creates every key the Deployment reads from it.
func (c *deployCheck) checkSecretKeysAreDocumented(where string, keys []string) {
	created := map[string]bool{}
	for _, m := range fromLiteralRE.FindAllStringSubmatch(c.files[deployReadmePath], -1) {
		created[m[1]] = true
	}
	for _, k := range keys {
		if !created[k] {
			c.failf(where, "the Secret key %q is not created by the command in %s", k, deployReadmePath)
		}
	}
}
