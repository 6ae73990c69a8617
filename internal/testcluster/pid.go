package testcluster

// PID is the process ID of the node's running process, 0 when it does not
// run: the cluster harness reads the process's /proc entries (resident
// memory, open files) through it.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}
