//go:build race

package ratelimit_test

// raceEnabled skips allocation counts, which the race detector changes.
const raceEnabled = true
