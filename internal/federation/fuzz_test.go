package federation

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// FuzzParseCallback: whatever the query, parsing never panics, and what
// it accepts has each parameter within bounds.
func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{
		"code=abc&state=xyz&iss=https%3A%2F%2Fidp.example",
		"error=access_denied&state=s",
		"code=a&code=b",
		"state=%zz",
		"",
		strings.Repeat("a", 5000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		p, err := ParseCallback(q)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		for _, v := range []string{p.Code, p.State, p.Iss, p.Error} {
			if len(v) > maxCallbackValue {
				t.Fatalf("a value of %d bytes was accepted", len(v))
			}
		}
	})
}

// FuzzParseClaimMapping: a mapping either parses into known keys mapped
// to valid claim names, or is refused with EINVALID.
func FuzzParseClaimMapping(f *testing.F) {
	for _, s := range []string{
		"email=mail,name=displayName",
		"sub=id, email_verified = verified",
		"email=mail,email=other",
		"role=admin",
		"=x",
		"sub=",
		"sub=http://schemas.example/claims/id",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseClaimMapping(s)
		if err != nil {
			if auth.ErrorCode(err) != auth.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if err := CheckClaimMapping(m); err != nil {
			t.Fatalf("parsed mapping %v fails the check: %v", m, err)
		}
	})
}

// FuzzUsernameFrom: a username made from any claim is "" or valid.
func FuzzUsernameFrom(f *testing.F) {
	for _, s := range []string{"ada", "Ada Lovelace", "été", "a/b\x00c", strings.Repeat("x", 100), "--"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, claim string) {
		u := usernameFrom(claim)
		if u != "" && validUsername(u) != nil {
			t.Fatalf("usernameFrom(%q) = %q, not a valid username", claim, u)
		}
	})
}

func validUsername(u string) error {
	if u == "" {
		return nil
	}
	return account.ValidateUsername(u)
}
