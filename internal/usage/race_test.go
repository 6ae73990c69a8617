//go:build race

package usage

// raceEnabled skips allocation counts, which the race detector changes.
const raceEnabled = true
