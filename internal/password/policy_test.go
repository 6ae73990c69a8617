package password

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	def := Policy{}
	for _, tc := range []struct {
		name     string
		p        Policy
		username string
		pw       string
		want     string // "" for accepted, else part of the message
	}{
		{"seven characters", def, "", "trsvqzk", "at least 8"},
		{"eight characters", def, "", "trsvqzkw", ""},
		{"a passphrase with spaces and no composition", def, "", "correct horse battery", ""},
		{"no composition rule: lower-case letters only", def, "", "zebrafinchlantern", ""},
		{"seven characters of two bytes", def, "", "ééééééé", "at least 8"},
		{"eight characters of two bytes", def, "", "éééééééé", ""},
		{"combining marks count after NFKC", def, "", strings.Repeat("e\u0301", 7), "at least 8"},
		{"a ligature counts as its letters after NFKC", def, "", "ﬁﬁﬁﬁ", ""},
		{"the default maximum", def, "", strings.Repeat("x", DefaultMaxLength), ""},
		{"over the default maximum", def, "", strings.Repeat("x", DefaultMaxLength+1), "at most 128"},
		{"a configured minimum", Policy{MinLength: 15}, "", "fourteen chars", "at least 15"},
		{"a configured maximum", Policy{MaxLength: 64}, "", strings.Repeat("y", 65), "at most 64"},
		{"over the byte cap", Policy{MaxLength: 1024}, "", strings.Repeat("ü", 600), "at most 1024"},
		{"invalid UTF-8", def, "", "abcdefg\xff", "UTF-8"},
		{"breached", def, "", "password1", "data breaches"},
		{"breached in other case", def, "", "PassWord1", "data breaches"},
		{"breached in full-width letters", def, "", "ｐａｓｓｗｏｒｄ１", "data breaches"},
		{"breached, the most common long one", def, "", "12345678", "data breaches"},
		{"the username", def, "ann.lee.corp", "ann.lee.corp", "username"},
		{"the username in other case", def, "ann.lee.corp", "ANN.LEE.CORP", "username"},
		{"the username as a part is fine", def, "annlee", "annlee likes tea", ""},
		{"no username to compare", def, "", "zebrafinchlantern", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPolicy(tc.p, tc.username, tc.pw)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckPolicy = %v, want accepted", err)
				}
				return
			}
			if auth.ErrorCode(err) != auth.EINVALID || !strings.Contains(auth.ErrorMessage(err), tc.want) {
				t.Fatalf("CheckPolicy = %v, want EINVALID saying %q", err, tc.want)
			}
		})
	}
}

func TestBreachedMessage(t *testing.T) {
	t.Parallel()
	err := CheckPolicy(Policy{}, "", "iloveyou1")
	if got := auth.ErrorMessage(err); got != "This password is on a list of passwords exposed in data breaches; choose another." {
		t.Fatalf("message %q", got)
	}
}

// The embedded list is the documented one: sorted, unique, folded, long
// enough to matter, and holding the most common passwords of 8 or more.
func TestEmbeddedBreachedList(t *testing.T) {
	t.Parallel()
	list := breachedList()
	if len(list) < 10000 {
		t.Fatalf("the embedded list has %d passwords, want the top lists' >= 10000", len(list))
	}
	for _, pw := range list {
		if pw != fold(pw) || utf8.RuneCountInString(pw) < MinLength {
			t.Fatalf("entry %q is not folded or is shorter than %d", pw, MinLength)
		}
	}
	for _, pw := range []string{"password", "12345678", "qwertyuiop", "iloveyou", "sunshine", "trustno1"} {
		if !Breached(pw) {
			t.Errorf("%q is not refused", pw)
		}
	}
	if Breached("correct horse battery staple zebra") {
		t.Error("a long unusual passphrase is refused")
	}
}

func TestBreachedListRoundTrip(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"json array": `["123456", "Password", "sunshine!", "password", "ＳＵＮＳＨＩＮＥ!", "short", "zebrafinch"]`,
		"plain text": "123456\r\nPassword\nsunshine!\npassword\nＳＵＮＳＨＩＮＥ!\nshort\n\nzebrafinch\n",
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			n, err := WriteBreachedList(&buf, strings.NewReader(in), 0)
			if err != nil {
				t.Fatal(err)
			}
			list, err := ReadBreachedList(&buf)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"password", "sunshine!", "zebrafinch"}
			if n != 3 || strings.Join(list, ",") != strings.Join(want, ",") {
				t.Fatalf("list %q (%d), want %q", list, n, want)
			}
		})
	}
	var buf bytes.Buffer
	if n, err := WriteBreachedList(&buf, strings.NewReader("aaaaaaaa\nbbbbbbbb\ncccccccc\n"), 2); err != nil || n != 2 {
		t.Fatalf("limit 2: %d, %v", n, err)
	}
	if _, err := WriteBreachedList(&buf, strings.NewReader("short\n"), 0); err == nil {
		t.Fatal("an input without usable passwords was accepted")
	}
	if _, err := WriteBreachedList(&buf, strings.NewReader(`[1, 2]`), 0); err == nil {
		t.Fatal("a JSON array of numbers was accepted")
	}
}

// A password typed in another Unicode form verifies against the hash of
// its NFKC form, and a hash written before normalisation (of the password
// as typed) still verifies.
func TestVerifyNormalises(t *testing.T) {
	t.Parallel()
	composed, decomposed := "caf\u00e9 au lait", "cafe\u0301 au lait"
	h, err := HashWith(cheap, decomposed)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Verify(h, composed); !ok || err != nil {
		t.Fatalf("Verify(composed) against a hash of the decomposed form = %v, %v", ok, err)
	}
	legacy := encodeRaw(t, decomposed)
	if ok, _ := Verify(legacy, decomposed); !ok {
		t.Fatal("a hash of the password as typed no longer verifies")
	}
	if ok, _ := Verify(legacy, "cafe\u0301 au laiT"); ok {
		t.Fatal("a wrong password verified against a legacy hash")
	}
}

// encodeRaw hashes pw without normalising it, as Hash did before.
func encodeRaw(t *testing.T, pw string) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	return encode(cheap, salt, rawKey(cheap, salt, pw))
}

func FuzzCheckPolicy(f *testing.F) {
	for _, s := range []string{"", "password1", "ann", "ｐａｓｓｗｏｒｄ１", "e\u0301e\u0301e\u0301e\u0301", "\xff\xfe", strings.Repeat("x", 200)} {
		f.Add("ann", s, 8, 128)
	}
	f.Fuzz(func(t *testing.T, username, pw string, minLen, maxLen int) {
		p := Policy{MinLength: minLen % 80, MaxLength: maxLen % 2000}
		err := CheckPolicy(p, username, pw)
		if err == nil {
			n := Normalize(pw)
			count := utf8.RuneCountInString(n)
			wantMin, wantMax := p.MinLength, p.MaxLength
			if wantMin <= 0 {
				wantMin = DefaultMinLength
			}
			if wantMax <= 0 {
				wantMax = DefaultMaxLength
			}
			switch {
			case !utf8.ValidString(pw) || len(pw) > MaxLength || len(n) > MaxLength:
				t.Fatalf("accepted %q: invalid or over the byte cap", pw)
			case count < wantMin || count > wantMax:
				t.Fatalf("accepted %q of %d characters outside [%d, %d]", pw, count, wantMin, wantMax)
			case Breached(pw):
				t.Fatalf("accepted breached %q", pw)
			case username != "" && fold(username) == fold(pw):
				t.Fatalf("accepted the username %q", pw)
			}
			return
		}
		if auth.ErrorCode(err) != auth.EINVALID || auth.ErrorMessage(err) == "" {
			t.Fatalf("CheckPolicy error %v is not an EINVALID with a message", err)
		}
	})
}
