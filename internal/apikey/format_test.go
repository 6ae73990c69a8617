package apikey_test

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
)

// prefixRE is the documented prefix grammar, as a regexp to check the
// hand-written parser against.
var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}_([a-z0-9]{1,16}_)?$`)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func generate(t testing.TB, prefix string) string {
	t.Helper()
	key, err := apikey.Generate(prefix)
	if err != nil {
		t.Fatalf("Generate(%q): %v", prefix, err)
	}
	return key
}

// testSecret is a server secret of the shortest length the hasher takes.
func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, apikey.MinSecretLength) }

func TestGoldenKeys(t *testing.T) {
	t.Parallel()
	// The format is a wire format: keys already issued must keep parsing.
	// These were checked against an independent implementation (Python's
	// zlib.crc32 and a base62 loop); docs/api-keys.md shows the first and last.
	for _, key := range []string{
		"sk_test_00000000000000000000000000000000127lYz",
		"sk_live_abcdefghijklmnopqrstuvwxyz0123451Mj83o",
		"sk_live_Fw3kQ0bZ8Lr2hT5xNc7Ym1pVa9Ud4Ej622rHWf", // the example in docs/api-keys.md
	} {
		if _, err := apikey.Parse(key); err != nil {
			t.Errorf("Parse(%s): %v", key, err)
		}
		body := key[len(key)-38 : len(key)-6]
		if got := apikey.Assemble(key[:len(key)-38], body); got != key {
			t.Errorf("checksum of %s: got %s", key, got)
		}
	}
}

func TestGenerateFormat(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"sk_live_", "sk_test_", "a_", "abcdefghijklmnop_0123456789abcdef_"} {
		seen := make(map[string]bool)
		for range 200 {
			key := generate(t, prefix)
			if len(key) != len(prefix)+apikey.BodyLength+apikey.ChecksumLength {
				t.Fatalf("len(%q) = %d, want %d", key, len(key), len(prefix)+38)
			}
			if !strings.HasPrefix(key, prefix) {
				t.Fatalf("%q does not start with %q", key, prefix)
			}
			for _, c := range []byte(key[len(prefix):]) {
				if !strings.ContainsRune(base62, rune(c)) {
					t.Fatalf("%q has %q after its prefix, not base62", key, c)
				}
			}
			got, err := apikey.Parse(key)
			if err != nil || got != prefix {
				t.Fatalf("Parse(generated key) = %q, %v; want %q, nil", got, err, prefix)
			}
			if seen[key] {
				t.Fatalf("Generate returned %q twice", key)
			}
			seen[key] = true
		}
	}
}

func TestGenerateRejectsInvalidPrefix(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "sk", "SK_", "sk-live-", "_sk_"} {
		if _, err := apikey.Generate(prefix); !errors.Is(err, apikey.ErrInvalidPrefix) {
			t.Errorf("Generate(%q): err = %v, want ErrInvalidPrefix", prefix, err)
		}
	}
}

func TestParseDetectsEverySingleCharacterTypo(t *testing.T) {
	t.Parallel()
	// Every printable ASCII character, and a few bytes that are not.
	var replacements []byte
	for c := byte(' '); c <= '~'; c++ {
		replacements = append(replacements, c)
	}
	replacements = append(replacements, 0, '\t', '\n', 0x7f, 0x80, 0xff)
	for range 30 {
		key := generate(t, "sk_live_")
		for i := range len(key) {
			for _, c := range replacements {
				if c == key[i] {
					continue
				}
				typo := key[:i] + string([]byte{c}) + key[i+1:]
				if _, err := apikey.Parse(typo); !errors.Is(err, apikey.ErrMalformed) {
					t.Fatalf("Parse accepted %q, which is %q with position %d changed to %q", typo, key, i, c)
				}
			}
		}
	}
}

func TestParseDetectsTranspositions(t *testing.T) {
	t.Parallel()
	for range 200 {
		key := generate(t, "sk_live_")
		for i := range len(key) - 1 {
			if key[i] == key[i+1] {
				continue
			}
			b := []byte(key)
			b[i], b[i+1] = b[i+1], b[i]
			if _, err := apikey.Parse(string(b)); err == nil {
				t.Fatalf("Parse accepted %q, %q with positions %d and %d swapped", b, key, i, i+1)
			}
		}
	}
}

func TestParseRejectsMalformedKeys(t *testing.T) {
	t.Parallel()
	key := generate(t, "sk_live_")
	body := key[len("sk_live_"):]
	tests := []struct {
		name string
		key  string
	}{
		{"empty", ""},
		{"prefix only", "sk_live_"},
		{"last character cut", key[:len(key)-1]},
		{"first character cut", key[1:]},
		{"one character added", key + "A"},
		{"doubled", key + key},
		{"oversized", "sk_live_" + strings.Repeat("A", 10_000)},
		{"no prefix", body},
		{"uppercase prefix", "SK_LIVE_" + body},
		{"prefix with dashes", "sk-live-" + body},
		{"three prefix segments", "sk_live_x_" + body},
		{"prefix segment too long", "abcdefghijklmnopq_" + body},
		{"prefix starting with a digit", "1sk_" + body},
		{"leading space", " " + key},
		{"trailing newline", key + "\n"},
		{"NUL inside", key[:20] + "\x00" + key[21:]},
		{"accented letter", key[:20] + "é" + key[22:]},
		{"Cyrillic a (2 bytes) for 2 characters", key[:20] + "а" + key[22:]},
		{"fullwidth digit", key[:20] + "１" + key[23:]},
		{"zero-width space", key[:20] + "\u200b" + key[20:len(key)-3]},
		{"invalid UTF-8", key[:20] + "\xff\xfe" + key[22:]},
		{"checksum case changed", key[:len(key)-6] + swapCase(key[len(key)-6:])},
		{"checksum zeroed", key[:len(key)-6] + "000000"},
		{"checksum of another body", key[:len(key)-6] + generate(t, "sk_live_")[len(key)-6:]},
		{"valid key of another prefix with this prefix", "sk_test_" + body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := apikey.Parse(tt.key)
			if !errors.Is(err, apikey.ErrMalformed) {
				t.Fatalf("Parse: err = %v, want ErrMalformed", err)
			}
		})
	}
}

func swapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 32
		case 'A' <= c && c <= 'Z':
			b[i] = c + 32
		}
	}
	return string(b)
}

func TestParseErrorsDoNotEchoTheKey(t *testing.T) {
	t.Parallel()
	key := generate(t, "sk_live_")
	last := "x"
	if strings.HasSuffix(key, "x") { // one key in 62 ends in "x" already
		last = "y"
	}
	for _, bad := range []string{
		key[:len(key)-1] + last,
		key + "x",
		"SK_LIVE_" + key[8:],
		key[:20] + "!" + key[21:],
	} {
		_, err := apikey.Parse(bad)
		if err == nil {
			t.Fatalf("Parse accepted a malformed key")
		}
		msg := err.Error()
		for i := 0; i+6 <= len(key); i++ {
			if strings.Contains(msg, key[i:i+6]) {
				t.Fatalf("error %q contains part of the key", msg)
			}
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	valid := []string{"sk_", "sk_live_", "sk_test_", "a_", "gh_", "a0_b1_", "abcdefghijklmnop_", "abcdefghijklmnop_0123456789abcdef_"}
	invalid := []string{"", "_", "sk", "sk_live", "Sk_", "sk__", "_sk_", "1sk_", "sk_live_x_", "sk-live_",
		"abcdefghijklmnopq_", "sk_0123456789abcdefg_", "sk_Live_", "sk_live_\x00", "ск_", "sk_ live_"}
	for _, p := range valid {
		if err := apikey.ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range invalid {
		if err := apikey.ValidatePrefix(p); !errors.Is(err, apikey.ErrInvalidPrefix) {
			t.Errorf("ValidatePrefix(%q) = %v, want ErrInvalidPrefix", p, err)
		}
	}
}

func TestValidatePrefixAgreesWithTheDocumentedGrammar(t *testing.T) {
	t.Parallel()
	// Every string of up to 4 characters over an alphabet that covers each
	// branch of the grammar, and longer strings around the length limits.
	alphabet := []byte{'a', 'z', '0', '9', '_', 'A', '-'}
	var walk func(prefix []byte)
	walk = func(prefix []byte) {
		p := string(prefix)
		if got, want := apikey.ValidatePrefix(p) == nil, prefixRE.MatchString(p); got != want {
			t.Fatalf("ValidatePrefix(%q) valid = %v, the grammar says %v", p, got, want)
		}
		if len(prefix) == 5 {
			return
		}
		for _, c := range alphabet {
			walk(append(prefix, c))
		}
	}
	walk(nil)
	for a := 0; a <= 18; a++ {
		for b := 0; b <= 18; b++ {
			for _, p := range []string{
				strings.Repeat("a", a) + "_" + strings.Repeat("b", b),
				strings.Repeat("a", a) + "_" + strings.Repeat("b", b) + "_",
			} {
				if got, want := apikey.ValidatePrefix(p) == nil, prefixRE.MatchString(p); got != want {
					t.Fatalf("ValidatePrefix(%q) valid = %v, the grammar says %v", p, got, want)
				}
			}
		}
	}
}

func TestScannerRegexpFindsGeneratedKeys(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(apikey.ScannerRegexp)
	for _, prefix := range []string{"sk_live_", "sk_test_", "a_", "abcdefghijklmnop_0123456789abcdef_", "gh9_x_"} {
		for range 50 {
			key := generate(t, prefix)
			for _, text := range []string{
				key,
				"GATEHOUSE_KEY=" + key + "\n",
				`{"api_key": "` + key + `"}`,
				"curl -H 'X-API-Key: " + key + "' https://api.example",
				"Authorization: Bearer " + key,
			} {
				if got := re.FindAllString(text, -1); len(got) != 1 || got[0] != key {
					t.Fatalf("in %q the scanner found %q, want exactly the key", text, got)
				}
			}
			// Glued to a word, the match may take in part of the word,
			// but still contains the key.
			if got := re.FindString("MY_" + key); !strings.HasSuffix(got, key) {
				t.Fatalf("in MY_<key> the scanner found %q", got)
			}
		}
	}
}

func TestScannerRegexpSkipsLongerRuns(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(apikey.ScannerRegexp)
	key := generate(t, "sk_live_")
	for _, text := range []string{key + "A", key + "_x", key[:len(key)-1], "sk_live_" + strings.Repeat("a", 37)} {
		if re.MatchString(text) {
			t.Errorf("the scanner matched %q, which is no key", text)
		}
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	key := generate(t, "sk_live_")
	bad := key[:len(key)-1] + "x"
	for _, k := range []string{key, bad, "", "sk_live_\x00"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = apikey.Parse(k) }); n != 0 {
			t.Errorf("Parse allocates %.0f times per call", n)
		}
	}
}

// FuzzParse checks that Parse never panics, and accepts exactly what
// Generate can produce: a valid prefix, 32 base62 characters, and their
// checksum (so that re-assembling the parts gives the input back).
func FuzzParse(f *testing.F) {
	for _, prefix := range []string{"sk_live_", "sk_test_", "a_", "abcdefghijklmnop_0123456789abcdef_"} {
		key := generate(f, prefix)
		f.Add(key)
		f.Add(key[:len(key)-1])
		f.Add(key + "0")
		f.Add(strings.ToUpper(key))
	}
	f.Add("")
	f.Add("sk_live_")
	f.Add("sk_live_" + strings.Repeat("é", 19))
	f.Add("sk_test_00000000000000000000000000000000127lYz")
	f.Fuzz(func(t *testing.T, key string) {
		prefix, err := apikey.Parse(key)
		if err != nil {
			if !errors.Is(err, apikey.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if len(key) >= 8 && strings.Contains(err.Error(), key) {
				t.Fatalf("error %q echoes the input", err)
			}
			return
		}
		if !prefixRE.MatchString(prefix) || !strings.HasPrefix(key, prefix) {
			t.Fatalf("Parse(%q) returned the invalid prefix %q", key, prefix)
		}
		if !utf8.ValidString(key) || len(key) > apikey.MaxKeyLength || len(key) < apikey.MinKeyLength {
			t.Fatalf("Parse accepted %q: invalid UTF-8 or length out of bounds", key)
		}
		body := key[len(prefix) : len(prefix)+apikey.BodyLength]
		for _, c := range []byte(body) {
			if !strings.ContainsRune(base62, rune(c)) {
				t.Fatalf("Parse accepted %q, whose body has %q", key, c)
			}
		}
		if again := apikey.Assemble(prefix, body); again != key {
			t.Fatalf("Parse accepted %q, but its parts re-assemble to %q", key, again)
		}
	})
}
