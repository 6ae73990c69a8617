package testcluster

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A process the harness starts (a node, haproxy) dies with the test binary
// even when the binary gets no chance to clean up (SIGKILL, as a CI job
// cancelled or the -timeout panic), and leads a process group of its own.
// The test re-runs its own binary as the one that dies.
func TestProcessesDieWithTheTestBinary(t *testing.T) {
	if os.Getenv("TESTCLUSTER_ORPHAN_PARENT") == "1" {
		cmd := exec.Command("sleep", "60")
		ownProcess(cmd)
		if err := cmd.Start(); err != nil {
			fmt.Println("start:", err)
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
		select {} // until killed
	}
	t.Parallel()
	parent := exec.Command(os.Args[0], "-test.run=^TestProcessesDieWithTheTestBinary$")
	parent.Env = append(os.Environ(), "TESTCLUSTER_ORPHAN_PARENT=1")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parent.Process.Kill(); parent.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the parent printed no pid: %v", err)
	}
	child, err := strconv.Atoi(line[:len(line)-1])
	if err != nil {
		t.Fatalf("the parent printed %q", line)
	}
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	if pgid, err := syscall.Getpgid(child); err != nil || pgid != child {
		t.Errorf("the child's process group is %d (%v), want its own (%d)", pgid, err, child)
	}

	parent.Process.Kill()
	parent.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(child) {
		if time.Now().After(deadline) {
			t.Fatal("the child outlived its parent by 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive says whether pid runs (a zombie, dead but not yet reaped by init,
// counts as dead).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command's closing parenthesis.
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] != 'Z'
		}
	}
	return true
}
