package oauth

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeUserCode(t *testing.T) {
	for typed, want := range map[string]string{
		"BCDF-GHJK":       "BCDFGHJK",
		"bcdf-ghjk":       "BCDFGHJK",
		" bcdf ghjk ":     "BCDFGHJK",
		"BCDFGHJK":        "BCDFGHJK",
		"b-c-d-f-g-h-j-k": "BCDFGHJK",
		"BCDF\u2013GHJK":  "BCDFGHJK", // an en dash, as phones type it
		"BCDF\tGHJK":      "BCDFGHJK",
	} {
		if got, ok := normalizeUserCode(typed); !ok || got != want {
			t.Errorf("normalizeUserCode(%q) = %q, %v; want %q", typed, got, ok, want)
		}
	}
	for _, typed := range []string{
		"", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-FGHJ", "BCDF-GHJ0", "BCDF_GHJK", "BCDF-GHJK\x00",
		"ＢCDF-GHJK", // fullwidth B: not ours
		"BCDF-GHJK" + strings.Repeat(" ", 30),
	} {
		if got, ok := normalizeUserCode(typed); ok {
			t.Errorf("normalizeUserCode(%q) = %q, want refused", typed, got)
		}
	}
}

func TestNewUserCode(t *testing.T) {
	counts := map[rune]int{}
	const n = 2000
	for range n {
		code, err := newUserCode()
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := normalizeUserCode(displayUserCode(code)); !ok || got != code {
			t.Fatalf("code %q does not survive display and normalisation (%q)", code, got)
		}
		for _, r := range code {
			counts[r]++
		}
	}
	// Every letter shows up about n×8/20 = 800 times; a modulo bias of
	// 256 % 20 would give the first 16 letters 16/12 more than the rest.
	for _, r := range userCodeAlphabet {
		if c := counts[r]; c < 650 || c > 950 {
			t.Errorf("letter %c drawn %d times in %d codes, want about 800", r, c, n)
		}
	}
}

// FuzzNormalizeUserCode: whatever is typed, the normaliser either refuses
// it or returns 8 letters of the alphabet, which normalise to themselves
// in both their forms, and never reads more than maxUserCodeInput bytes.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", " B-C-D-F-G-H-J-K ", "BCDF\u2013GHJK", "AEIOU", "", "ＢCDF-GHJK", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		code, ok := normalizeUserCode(typed)
		if !ok {
			if code != "" {
				t.Fatalf("refused %q but returned %q", typed, code)
			}
			return
		}
		if len(typed) > maxUserCodeInput || !utf8.ValidString(code) || len(code) != userCodeLength || strings.Trim(code, userCodeAlphabet) != "" {
			t.Fatalf("normalizeUserCode(%q) = %q", typed, code)
		}
		for _, again := range []string{code, displayUserCode(code), strings.ToLower(displayUserCode(code))} {
			if got, ok := normalizeUserCode(again); !ok || got != code {
				t.Fatalf("normalizeUserCode(%q) = %q, %v; want %q", again, got, ok, code)
			}
		}
	})
}
