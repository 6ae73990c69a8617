package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// HAProxy returns the path of Debian's haproxy, which the cluster tests put
// in front of their nodes, or fails the test when it is missing and
// GATEHOUSE_REQUIRE_HAPROXY=1 (as in CI: scripts/test installs it), or
// skips it otherwise.
func HAProxy(t testing.TB) string {
	t.Helper()
	p := HAProxyIfInstalled(t)
	if p == "" {
		t.Skip("haproxy is not installed; set GATEHOUSE_REQUIRE_HAPROXY=1 to fail instead")
	}
	return p
}

// HAProxyIfInstalled is HAProxy for a test that has work to do without
// haproxy: it returns "" rather than skipping when haproxy is missing, and
// still fails the test under GATEHOUSE_REQUIRE_HAPROXY=1.
func HAProxyIfInstalled(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"haproxy", "/usr/sbin/haproxy"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("GATEHOUSE_REQUIRE_HAPROXY") == "1" {
		t.Fatal("haproxy is not installed (GATEHOUSE_REQUIRE_HAPROXY=1); apt-get install -y haproxy")
	}
	return ""
}
