package auth

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxOwnerLength bounds an owner name in bytes: API keys and OAuth clients
// name their owner under the same rule, so that one owner can be matched
// across both.
const MaxOwnerLength = 128

// CheckOwner returns EINVALID unless owner is a storable owner name: at
// most MaxOwnerLength bytes of printable UTF-8 without control
// characters. The empty string passes; whether an owner is required is the
// caller's rule (keys need one, clients do not).
func CheckOwner(owner string) error {
	if len(owner) > MaxOwnerLength {
		return Errorf(EINVALID, "owner must have at most %d bytes", MaxOwnerLength)
	}
	if !utf8.ValidString(owner) {
		return Errorf(EINVALID, "owner must be printable UTF-8 text without control characters")
	}
	for _, r := range owner {
		if !unicode.IsPrint(r) {
			return Errorf(EINVALID, "owner must be printable UTF-8 text without control characters")
		}
	}
	return nil
}

// SplitOwners reads an owner list separated by commas, as people type it
// (the CLI's --owners, the dashboard's owners field): spaces around each
// owner are dropped, spaces inside kept ("billing team"), empty entries
// skipped. An owner holding a comma cannot be written this way.
func SplitOwners(s string) []string {
	var out []string
	for o := range strings.SplitSeq(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}
