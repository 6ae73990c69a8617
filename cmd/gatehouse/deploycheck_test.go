package main

// The deployment files (Dockerfile, deploy/compose.yaml, deploy/haproxy.cfg,
// deploy/kubernetes/) name environment variables, subcommands, flags,
// settings, ports and health endpoints of this program. deployCheck holds
// them to the program itself, so that they cannot drift from it: the names
// come from config.EnvNames and the variables serve and the CLI read, the
// commands and flags from the cobra tree, the settings from config.LoadFile
// (strict) and Validate, the endpoints from a running node.

import (
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

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
	for _, p := range slices.Sorted(maps.Keys(files)) {
		c.checkEnvNames(p, files[p])
	}
	c.checkDockerfile()
	services := c.checkCompose()
	c.checkHAProxy(services)
	c.checkKubernetes()
	return c.errs
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

// gatehouseArgs returns the arguments a container command line passes to
// the gatehouse binary, or false when it runs another program.
func gatehouseArgs(argv []string) ([]string, bool) {
	if len(argv) == 0 || path.Base(argv[0]) != "gatehouse" {
		return nil, false
	}
	return argv[1:], true
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
