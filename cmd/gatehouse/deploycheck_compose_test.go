package main

// deployCheck of deploy/compose.yaml: its services, their environment,
// command lines and configuration.

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

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
	for _, name := range slices.Sorted(maps.Keys(doc.Services)) {
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
