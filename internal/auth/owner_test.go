package auth

import (
	"slices"
	"strings"
	"testing"
)

func TestCheckOwner(t *testing.T) {
	for _, ok := range []string{"", "billing", "team 請求 😀", strings.Repeat("o", MaxOwnerLength), strings.Repeat("ö", MaxOwnerLength/2)} {
		if err := CheckOwner(ok); err != nil {
			t.Errorf("CheckOwner(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{strings.Repeat("o", MaxOwnerLength+1), strings.Repeat("ö", MaxOwnerLength/2) + "o",
		"a\x00b", "a\nb", "a\tb", "a\u200bb", "\xff"} {
		if err := CheckOwner(bad); ErrorCode(err) != EINVALID {
			t.Errorf("CheckOwner(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestSplitOwners(t *testing.T) {
	for in, want := range map[string][]string{
		"":                          nil,
		" , ,":                      nil,
		"billing":                   {"billing"},
		" billing , billing team ,": {"billing", "billing team"},
	} {
		if got := SplitOwners(in); !slices.Equal(got, want) {
			t.Errorf("SplitOwners(%q) = %q, want %q", in, got, want)
		}
	}
}
