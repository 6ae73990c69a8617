package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// newDeployCheck checks against this program and a real node on SQLite,
// and with haproxy -c where haproxy is installed (always in CI:
// GATEHOUSE_REQUIRE_HAPROXY=1).
func newDeployCheck(t *testing.T) *deployCheck {
	t.Helper()
	n := healthNode(t)
	c := &deployCheck{
		env: knownEnvNames(),
		tmp: t.TempDir(),
		status: func(path string) (int, error) {
			resp, err := http.Get(n.main.URL() + path)
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		},
	}
	// The other checks need no haproxy: only haproxy -c is left out
	// without it (and the test fails under GATEHOUSE_REQUIRE_HAPROXY=1).
	if c.haproxy = testenv.HAProxyIfInstalled(t); c.haproxy == "" {
		t.Log("haproxy is not installed: deploy/haproxy.cfg is not checked by haproxy -c (GATEHOUSE_REQUIRE_HAPROXY=1 fails instead)")
	}
	return c
}

func TestDeployFilesNameOnlyWhatTheProgramHas(t *testing.T) {
	t.Parallel()
	files, err := readDeployFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range newDeployCheck(t).run(files) {
		t.Error(err)
	}
}

// Each check must catch a file that names something the program does not
// have: each case alters one line of the real files and expects the check
// to say so.
func TestDeployCheckCatchesEachKindOfDrift(t *testing.T) {
	t.Parallel()
	files, err := readDeployFiles()
	if err != nil {
		t.Fatal(err)
	}
	c := newDeployCheck(t)
	for _, tc := range []struct {
		name, file, old, new, want string
		haproxy                    bool // needs haproxy -c
	}{
		{name: "an unknown variable in compose", file: composePath,
			old: "GATEHOUSE_REDIS_URL: redis", new: "GATEHOUSE_REDIS: redis", want: "GATEHOUSE_REDIS is no variable"},
		{name: "an unknown subcommand in compose", file: composePath,
			old: `command: ["serve"]`, new: `command: ["server"]`, want: `"server" is no command`},
		{name: "an unknown flag in compose", file: composePath,
			old: `command: ["init"]`, new: `command: ["init", "--force"]`, want: "unknown flag: --force"},
		{name: "a value the configuration refuses in compose", file: composePath,
			old: `GATEHOUSE_BEHIND_TLS_PROXY: "true"`, new: `GATEHOUSE_BEHIND_TLS_PROXY: "yes please"`, want: "GATEHOUSE_BEHIND_TLS_PROXY"},
		{name: "an issuer that is not the balancer", file: composePath,
			old: "http://localhost:8080}", new: "http://localhost:9090}", want: "not the balancer's published API port"},
		{name: "an unknown variable in the Dockerfile", file: dockerfilePath,
			old: "GATEHOUSE_GATEWAY_ADDR=:8081", new: "GATEHOUSE_GATEWAY=:8081", want: "GATEHOUSE_GATEWAY is no variable"},
		{name: "an unknown flag in the health check", file: dockerfilePath,
			old: `"--timeout", "3s"`, new: `"--deadline", "3s"`, want: "unknown flag: --deadline"},
		{name: "a health check on another port than the API's", file: dockerfilePath,
			old: "http://127.0.0.1:8080/readyz", new: "http://127.0.0.1:9090/readyz", want: "HEALTHCHECK asks port 9090"},
		{name: "a command the image has no shell for", file: dockerfilePath,
			old: `CMD ["serve"]`, new: `CMD serve`, want: "exec form"},
		{name: "an image that runs as root", file: dockerfilePath,
			old: "USER 65532:65532", new: "USER root", want: "non-root"},
		{name: "an unknown flag in the Deployment", file: "deploy/kubernetes/deployment.yaml",
			old: `"--config", "/etc`, new: `"--conf", "/etc`, want: "unknown flag: --conf"},
		{name: "an unknown variable in the Deployment", file: "deploy/kubernetes/deployment.yaml",
			old: "name: GATEHOUSE_DB", new: "name: GATEHOUSE_DATABASE", want: "GATEHOUSE_DATABASE is no variable"},
		{name: "a readiness probe on another endpoint", file: "deploy/kubernetes/deployment.yaml",
			old: "path: /readyz", new: "path: /ready", want: "readinessProbe asks /ready"},
		{name: "a grace period shorter than shutdown_timeout", file: "deploy/kubernetes/deployment.yaml",
			old: "terminationGracePeriodSeconds: 30", new: "terminationGracePeriodSeconds: 15", want: "terminationGracePeriodSeconds must exceed"},
		{name: "a grace period that does not cover shutdown_delay and shutdown_timeout", file: "deploy/kubernetes/gatehouse.yaml",
			old: "shutdown_timeout: 15s", new: "shutdown_timeout: 15s\nshutdown_delay: 20s", want: "terminationGracePeriodSeconds must exceed"},
		{name: "Service links that would set GATEHOUSE_ variables", file: "deploy/kubernetes/deployment.yaml",
			old: "enableServiceLinks: false", new: "enableServiceLinks: true", want: "enableServiceLinks: false"},
		{name: "a Secret key the README does not create", file: "deploy/kubernetes/deployment.yaml",
			old: "key: redis-url", new: "key: redis", want: `Secret key "redis"`},
		{name: "a Service on a port the container lacks", file: "deploy/kubernetes/service.yaml",
			old: "targetPort: gateway", new: "targetPort: gw", want: `targetPort "gw"`},
		{name: "an unknown setting in the config file", file: "deploy/kubernetes/gatehouse.yaml",
			old: "shutdown_timeout: 15s", new: "shutdown_timout: 15s", want: "shutdown_timout"},
		{name: "a setting Validate refuses in the config file", file: "deploy/kubernetes/gatehouse.yaml",
			old: "issuer: https://auth.example.com", new: "issuer: http://auth.example.com", want: "must be an https URL"},
		{name: "a balancer health check on an endpoint that does not answer", file: haproxyPath,
			old: "uri /readyz", new: "uri /ready", want: "a running node answers 404"},
		{name: "a balancer server that is no node", file: haproxyPath,
			old: "server gatehouse-3 gatehouse-3:8080 check", new: "server gatehouse-3 gatehouse-4:8080 check", want: "no Gatehouse node"},
		{name: "the gateway checked on its own port", file: haproxyPath,
			old: "gatehouse-1:8081 check port 8080", new: "gatehouse-1:8081 check", want: "checked on port 8081"},
		{name: "a balancer config haproxy refuses", file: haproxyPath, haproxy: true,
			old: "balance roundrobin", new: "balance roundrobbin", want: "haproxy -c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.haproxy && c.haproxy == "" {
				t.Skip("haproxy is not installed")
			}
			if !strings.Contains(files[tc.file], tc.old) {
				t.Fatalf("%s no longer holds %q: update this case", tc.file, tc.old)
			}
			altered := deployFiles{}
			for k, v := range files {
				altered[k] = v
			}
			altered[tc.file] = strings.ReplaceAll(files[tc.file], tc.old, tc.new)
			errs := c.run(altered)
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.want) {
					t.Log(err)
					return
				}
			}
			t.Errorf("no error says %q; got %v", tc.want, errs)
		})
	}
}
