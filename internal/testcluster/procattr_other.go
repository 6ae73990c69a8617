//go:build !linux

package testcluster

import (
	"os"
	"os/exec"
)

// ownProcess does nothing where there is no Pdeathsig: the cluster tests
// run on Linux (CI); elsewhere a dying test binary may leave its
// processes behind.
func ownProcess(*exec.Cmd) {}

// killGroup kills the process alone, there being no group of its own.
func killGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
