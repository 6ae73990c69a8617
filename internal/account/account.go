// Package account keeps local user accounts.
package account

// Service manages user accounts. (Being built.)
type Service struct{}
