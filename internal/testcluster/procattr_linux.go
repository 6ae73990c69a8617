package testcluster

import (
	"os/exec"
	"syscall"
)

// ownProcess makes cmd (a node, haproxy) die with the test binary and
// leader of a process group of its own. A test binary that dies without
// its cleanups (the -timeout panic, a cancelled CI job, SIGKILL) would
// otherwise leave them running, holding their ports and PostgreSQL
// connections for the next run. Pdeathsig fires when the thread that
// started the process exits; Go keeps its threads for the process's life
// (none here is locked to a goroutine that ends), so that is the test
// binary's own death.
func ownProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup sends SIGKILL to the process group that ownProcess gave the
// process whose id is pid: the process and anything it started.
func killGroup(pid int) error {
	return syscall.Kill(-pid, syscall.SIGKILL)
}
