package auth

import (
	"errors"
	"fmt"
)

// Error codes. Transports map each to one status in one table (see
// internal/admin); the message of an Error is safe to show to a caller.
const (
	ECONFLICT     = "conflict"     // the change contradicts the current state
	EINTERNAL     = "internal"     // a fault on our side; details are logged, not returned
	EINVALID      = "invalid"      // the input is malformed or breaks a rule
	ENOTFOUND     = "not_found"    // no such record
	EUNAUTHORIZED = "unauthorized" // no credential, or one that is not valid
	EFORBIDDEN    = "forbidden"    // a valid credential without the right to do this
	ERATELIMITED  = "rate_limited" // too many requests for this credential
	ETOOLARGE     = "too_large"    // the request body is over the limit
	EUNAVAILABLE  = "unavailable"  // a dependency is down; try again later
)

// Error is an application error whose Message can be shown to the caller.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("gatehouse error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns a new *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil,
// and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err: the message of its
// *Error, or a generic text for anything else, so internal details never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
