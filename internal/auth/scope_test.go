package auth_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestValidScopeToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"read", true},
		{"orders:read", true},
		{"https://api.example.com/orders.read", true},
		{":read", true},
		{"a!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~", true},
		{strings.Repeat("s", auth.MaxScopeTokenLength), true},
		{"", false},
		{strings.Repeat("s", auth.MaxScopeTokenLength+1), false},
		{"read write", false},
		{`say"hi"`, false},
		{`back\slash`, false},
		{"tab\t", false},
		{"del\x7f", false},
		{"lire:é", false},
	} {
		if got := auth.ValidScopeToken(tc.s); got != tc.want {
			t.Errorf("ValidScopeToken(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
		err  error
	}{
		{"", nil, nil},
		{"read", []string{"read"}, nil},
		{"write read write", []string{"read", "write"}, nil},
		{"a  b", nil, auth.ErrScopeSpacing},
		{" a", nil, auth.ErrScopeSpacing},
		{"a ", nil, auth.ErrScopeSpacing},
		{`a"b`, nil, auth.ErrScopeCharacter},
		{"a\tb", nil, auth.ErrScopeCharacter},
		{strings.Repeat("a ", auth.MaxScopeStringTokens) + "b", nil, auth.ErrScopeTooMany},
		{strings.Repeat("a", auth.MaxScopeStringLength+1), nil, auth.ErrScopeTooLong},
	} {
		got, err := auth.ParseScope(tc.in)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("ParseScope(%.40q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestCheckScopes(t *testing.T) {
	t.Parallel()
	out, _, ok := auth.CheckScopes([]string{"b", "a", "b"})
	if !ok || !slices.Equal(out, []string{"a", "b"}) {
		t.Fatalf("CheckScopes = %q, %v", out, ok)
	}
	if out, _, ok := auth.CheckScopes(nil); !ok || out != nil {
		t.Fatalf("CheckScopes(nil) = %q, %v", out, ok)
	}
	if _, bad, ok := auth.CheckScopes([]string{"a", "b c", ""}); ok || bad != 1 {
		t.Fatalf("CheckScopes with a space: bad %d, ok %v; want 1, false", bad, ok)
	}
}

// FuzzParseScope holds the one scope grammar to its promises: what parses
// is sorted, unique, made of valid tokens, and parses back from its
// canonical form; every token of it is one a key, a client and a route can
// hold.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "openid profile", "a  b", "x\"y", "read write read", "orders:read https://x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := auth.ParseScope(in)
		if err != nil {
			return
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("%q: not sorted and unique: %q", in, got)
		}
		for _, s := range got {
			if s == "" || strings.ContainsAny(s, " \"\\") {
				t.Fatalf("%q: bad token %q", in, s)
			}
			if len(s) <= auth.MaxScopeTokenLength && !auth.ValidScopeToken(s) {
				t.Fatalf("%q: token %q parsed but is not a valid scope token", in, s)
			}
		}
		again, err := auth.ParseScope(strings.Join(got, " "))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("%q: canonical form does not parse back", in)
		}
	})
}

func TestKeyEnvironmentOf(t *testing.T) {
	t.Parallel()
	for prefix, want := range map[string]string{
		"sk_live_":   auth.KeyEnvLive,
		"sk_test_":   auth.KeyEnvTest,
		"acme_test_": auth.KeyEnvTest,
		"acme_prod_": auth.KeyEnvLive,
		"gh_":        auth.KeyEnvLive,
		"test_":      auth.KeyEnvLive,
		"sk_tests_":  auth.KeyEnvLive,
	} {
		if got := auth.KeyEnvironmentOf(prefix); got != want {
			t.Errorf("KeyEnvironmentOf(%q) = %q, want %q", prefix, got, want)
		}
	}
}
