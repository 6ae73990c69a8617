package loadtest

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ProofPool signs n DPoP proofs with sign, on every CPU, before any load
// is timed, and returns a func that hands each out once (false when they
// are used up). Signing proofs is the client's work: made ahead, it does
// not share the CPUs with the server while it is measured. Proofs carry
// their iat, so a pool must be used within the server's proof window
// (60 s by default) of its making.
func ProofPool(n int, sign func() string) func() (string, bool) {
	// At most what the CPUs sign in maxSigning, so that the first proofs
	// are still inside the window when the last are used; a pool that runs
	// out ends the run early (throughput is over the time it ran).
	proofs := make([]string, n)
	made := make([]int64, n) // when each was signed, Unix nanoseconds
	deadline := time.Now().Add(maxSigning)
	var claimed atomic.Int64
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := claimed.Add(1) - 1
				if i >= int64(n) {
					return
				}
				proofs[i] = sign()
				made[i] = time.Now().UnixNano()
			}
		})
	}
	wg.Wait()
	n = int(min(claimed.Load(), int64(n)))
	var next atomic.Int64
	return func() (string, bool) {
		i := next.Add(1) - 1
		// A proof about to leave the server's window (60 s by default) is
		// not sent: the pool counts as used up.
		if i >= int64(n) || time.Now().UnixNano()-made[i] > int64(maxAge) {
			return "", false
		}
		return proofs[i], true
	}
}

// maxSigning bounds the time spent signing a pool.
const maxSigning = 20 * time.Second

// maxAge is the age past which a proof is not handed out.
const maxAge = 45 * time.Second
