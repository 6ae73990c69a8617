//go:build race

// raceEnabled: allocation counts differ under the race detector, so the
// allocation tests skip; scripts/test runs them again without it in every
// package with this file.

package gateway

const raceEnabled = true
