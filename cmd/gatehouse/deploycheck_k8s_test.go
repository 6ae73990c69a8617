package main

// deployCheck of deploy/kubernetes/: the objects kustomization.yaml lists,
// the Deployment's command line, configuration file, probes and security.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

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
			TerminationGracePeriodSeconds *int  `yaml:"terminationGracePeriodSeconds"`
			EnableServiceLinks            *bool `yaml:"enableServiceLinks"`
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
	// Service links are variables named after each Service of the
	// namespace (gatehouse-api: GATEHOUSE_API_PORT...), among Gatehouse's.
	if l := d.Template.Spec.EnableServiceLinks; l == nil || *l {
		c.failf(where, "set enableServiceLinks: false: Services named gatehouse-* would set GATEHOUSE_* variables")
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
	// A pod told to stop serves on for shutdown_delay (while Kubernetes
	// removes its endpoint), then gives requests in flight on both
	// listeners up to shutdown_timeout, then has at most 5 s of final
	// writes (docs/operations.md): SIGKILL must not come before all have
	// passed.
	if grace == nil || time.Duration(*grace)*time.Second <= cfg.ShutdownDelay+cfg.ShutdownTimeout+5*time.Second {
		c.failf(where, "terminationGracePeriodSeconds must exceed shutdown_delay (%s) plus shutdown_timeout (%s) plus 5s", cfg.ShutdownDelay, cfg.ShutdownTimeout)
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
