package mfa

import (
	"strings"
	"testing"
)

func TestParseCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		kind CodeKind
		norm string
	}{
		{"123456", CodeTOTP, "123456"},
		{" 123 456 ", CodeTOTP, "123456"},
		{"123-456", CodeTOTP, "123456"},
		{"012345", CodeTOTP, "012345"},
		{"12345", CodeInvalid, ""},
		{"1234567", CodeInvalid, ""},
		{"12345o", CodeInvalid, ""}, // a letter is no TOTP digit, and six is no recovery code
		{"abcde-fghjk", CodeRecovery, "abcdefghjk"},
		{"ABCDE FGHJK", CodeRecovery, "abcdefghjk"},
		{"abcdefghjk", CodeRecovery, "abcdefghjk"},
		{"0oOiIlL1ab", CodeRecovery, "00011111ab"},
		{"1234567890", CodeRecovery, "1234567890"},
		{"abcde-fghju", CodeInvalid, ""}, // u is not in the alphabet
		{"abcde-fghjkm", CodeInvalid, ""},
		{"", CodeInvalid, ""},
		{"      ", CodeInvalid, ""},
		{"１２３４５６", CodeInvalid, ""}, // full-width digits
		{"12345\x00", CodeInvalid, ""},
		{strings.Repeat(" ", 60) + "123456", CodeInvalid, ""}, // over 64 bytes
		{"+123456", CodeInvalid, ""},
	} {
		kind, norm := ParseCode(tc.in)
		if kind != tc.kind || norm != tc.norm {
			t.Errorf("ParseCode(%q) = %v, %q; want %v, %q", tc.in, kind, norm, tc.kind, tc.norm)
		}
	}
}

func TestRecoveryCodesAreFormattedAndParseBack(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		c, err := newRecoveryCode()
		if err != nil {
			t.Fatal(err)
		}
		f := FormatRecoveryCode(c)
		if len(f) != 11 || f[5] != '-' {
			t.Fatalf("formatted %q", f)
		}
		if kind, norm := ParseCode(strings.ToUpper(f)); kind != CodeRecovery || norm != c {
			t.Fatalf("ParseCode(%q) = %v, %q; want %q", f, kind, norm, c)
		}
		seen[c] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct codes of 100", len(seen))
	}
}

// FuzzParseCode: whatever is typed, ParseCode does not panic, and what it
// accepts is canonical — six digits or ten characters of the alphabet —
// and parses back to itself, also in its printed form.
func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"123456", " 123 456 ", "abcde-fghjk", "ABCDE FGHJK", "0oOiIlL1ab", "", "12345\x00", "１２３４５６", strings.Repeat("-", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, norm := ParseCode(s)
		switch kind {
		case CodeInvalid:
			if norm != "" {
				t.Fatalf("invalid with %q", norm)
			}
			return
		case CodeTOTP:
			if len(norm) != Digits || strings.Trim(norm, "0123456789") != "" {
				t.Fatalf("TOTP %q from %q", norm, s)
			}
		case CodeRecovery:
			if len(norm) != RecoveryCodeLen || strings.Trim(norm, recoveryAlphabet) != "" {
				t.Fatalf("recovery %q from %q", norm, s)
			}
			if k2, n2 := ParseCode(FormatRecoveryCode(norm)); k2 != kind || n2 != norm {
				t.Fatalf("printed form of %q parses as %v %q", norm, k2, n2)
			}
		default:
			t.Fatalf("kind %v", kind)
		}
		if len(s) > maxCodeInput {
			t.Fatalf("accepted %d bytes", len(s))
		}
		if k2, n2 := ParseCode(norm); k2 != kind || n2 != norm {
			t.Fatalf("%q parses as %v %q, then %v %q", s, kind, norm, k2, n2)
		}
	})
}
