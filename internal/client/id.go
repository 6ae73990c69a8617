package client

import "strings"

// IDPrefix starts every client ID.
const IDPrefix = "cli_"

// ValidID checks the shape of a client ID before any store work: IDs are
// "cli_" and a few dozen URL-safe characters.
func ValidID(id string) bool {
	if len(id) <= len(IDPrefix) || len(id) > 64 || !strings.HasPrefix(id, IDPrefix) {
		return false
	}
	for i := len(IDPrefix); i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
