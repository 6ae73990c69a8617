//go:build race

package client_test

// raceEnabled skips allocation counts, which the race detector changes.
const raceEnabled = true
