package main

// deployCheck of the Dockerfile: the final image, its command lines, its
// health check.

import (
	"bufio"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

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

// checkDockerfile reads the instructions of the Dockerfile (continuation
// lines joined, comments dropped), keeps the final stage's image in
// c.image, and checks it: several stages, a non-root user, the data folder
// a volume, the ports exposed, and gatehouse command lines in the exec
// (JSON) form, since the image has no shell to run the other.
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
