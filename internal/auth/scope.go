package auth

import (
	"errors"
	"slices"
	"strings"
)

// One grammar for every scope Gatehouse handles: those API keys hold, OAuth
// clients may request, routes require and requests ask for. It is RFC 6749
// §3.3's:
//
//	scope       = scope-token *( SP scope-token )
//	scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
//
// so that any scope a route can require can be held by a key and granted
// to a client alike.
const (
	// MaxScopeTokenLength bounds one scope token, in bytes.
	MaxScopeTokenLength = 128
	// MaxScopeStringLength bounds a space-delimited scope string (a request's
	// scope parameter), so that no request can make us sort megabytes.
	MaxScopeStringLength = 2048
	// MaxScopeStringTokens bounds the tokens of one scope string.
	MaxScopeStringTokens = 64
)

// ValidScopeToken reports whether s is an RFC 6749 §3.3 scope-token of at
// most MaxScopeTokenLength bytes.
func ValidScopeToken(s string) bool {
	if len(s) == 0 || len(s) > MaxScopeTokenLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !scopeTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// scopeTokenChar is %x21 / %x23-5B / %x5D-7E: printable ASCII but space,
// '"' and '\'.
func scopeTokenChar(c byte) bool {
	return c >= 0x21 && c <= 0x7e && c != 0x22 && c != 0x5c
}

// Errors of ParseScope, fixed values that never echo the input. Callers map
// them to their protocol's error (invalid_scope, EINVALID).
var (
	ErrScopeTooLong   = errors.New("the scope is too long")
	ErrScopeSpacing   = errors.New("the scope must be scope tokens separated by single spaces")
	ErrScopeCharacter = errors.New("the scope has a character scope tokens may not contain")
	ErrScopeTooMany   = errors.New("the scope has too many tokens")
)

// ParseScope parses a space-delimited scope string (RFC 6749 §3.3): scope
// tokens separated by single spaces, at most MaxScopeStringLength bytes
// and MaxScopeStringTokens tokens. A token longer than MaxScopeTokenLength
// is well formed here but can never be held, so whoever compares it with
// what the caller holds refuses it. It returns the tokens sorted and deduplicated, nil for "". The error is
// one of the ErrScope* values.
func ParseScope(scope string) ([]string, error) {
	if scope == "" {
		return nil, nil
	}
	if len(scope) > MaxScopeStringLength {
		return nil, ErrScopeTooLong
	}
	var out []string
	for tok := range strings.SplitSeq(scope, " ") {
		if tok == "" {
			return nil, ErrScopeSpacing
		}
		for i := 0; i < len(tok); i++ {
			if !scopeTokenChar(tok[i]) {
				return nil, ErrScopeCharacter
			}
		}
		out = append(out, tok)
		if len(out) > MaxScopeStringTokens {
			return nil, ErrScopeTooMany
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// CheckScopes returns a sorted, deduplicated copy of scopes (nil when there
// are none), or the index of the first one that is not a valid scope token
// (ValidScopeToken) and false. Callers word the error in their own terms.
func CheckScopes(scopes []string) (out []string, bad int, ok bool) {
	for i, s := range scopes {
		if !ValidScopeToken(s) {
			return nil, i, false
		}
	}
	if len(scopes) == 0 {
		return nil, -1, true
	}
	out = slices.Clone(scopes)
	slices.Sort(out)
	return slices.Clip(slices.Compact(out)), -1, true
}
