package signing

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds Verify arbitrary strings, seeded with a genuine token
// and mangled versions of it. Verify must never panic, and whatever it
// accepts must carry exactly the claims the keyring signed: base64 that
// differs only in unused trailing bits decodes to the same bytes, so such a
// variant may verify, but no input may yield other claims.
func FuzzVerify(f *testing.F) {
	c := newClock()
	opts := testOptions(c)
	k := newKeyring(f, newStore(f), opts)
	signed := accessClaims(c.Now())
	tok, err := k.Sign("at+jwt", signed)
	if err != nil {
		f.Fatal(err)
	}
	segs := strings.Split(tok, ".")
	for _, seed := range []string{
		tok,
		"",
		".",
		"..",
		"...",
		segs[0] + "." + segs[1] + ".",
		segs[0] + ".." + segs[2],
		"." + segs[1] + "." + segs[2],
		tok + "=",
		strings.ToUpper(tok),
		`{"protected":"` + segs[0] + `","payload":"` + segs[1] + `","signature":"` + segs[2] + `"}`,
		"eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
		"eyJhbGciOiJIUzI1NiJ9.e30.ZmFrZQ",
		strings.Repeat("a.", 5000),
		"\x00.\xff.\x80",
	} {
		f.Add(seed)
	}
	want := Expect{Type: "at+jwt", Issuer: testIssuer, Audience: "https://api.example.test", Leeway: time.Hour}
	f.Fuzz(func(t *testing.T, token string) {
		got, err := k.Verify(token, want)
		if err != nil {
			if got != nil {
				t.Fatal("claims returned with an error")
			}
			if len(token) >= 8 && strings.Contains(err.Error(), token) {
				t.Fatal("the error quotes the token")
			}
			return
		}
		if got.Subject != signed.Subject || got.ID != signed.ID || got.Expiry != signed.Expiry ||
			got.Scope != signed.Scope || got.ClientID != signed.ClientID || !slices.Equal(got.Audience, signed.Audience) {
			t.Fatalf("Verify accepted claims the keyring never signed: %+v", got)
		}
	})
}
