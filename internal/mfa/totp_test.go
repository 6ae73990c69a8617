package mfa

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"image"
	"image/color"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	qr "github.com/piglig/go-qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// RFC 6238 Appendix B: the test vectors, eight digits, for SHA-1, SHA-256
// and SHA-512 with the RFC's seeds.
func TestHOTPMatchesRFC6238TestVectors(t *testing.T) {
	t.Parallel()
	seeds := map[string][]byte{
		"SHA1":   []byte("12345678901234567890"),
		"SHA256": []byte("12345678901234567890123456789012"),
		"SHA512": []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	hashes := map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}
	vectors := []struct {
		unix int64
		alg  string
		want string
	}{
		{59, "SHA1", "94287082"}, {59, "SHA256", "46119246"}, {59, "SHA512", "90693936"},
		{1111111109, "SHA1", "07081804"}, {1111111109, "SHA256", "68084774"}, {1111111109, "SHA512", "25091201"},
		{1111111111, "SHA1", "14050471"}, {1111111111, "SHA256", "67062674"}, {1111111111, "SHA512", "99943326"},
		{1234567890, "SHA1", "89005924"}, {1234567890, "SHA256", "91819424"}, {1234567890, "SHA512", "93441116"},
		{2000000000, "SHA1", "69279037"}, {2000000000, "SHA256", "90698825"}, {2000000000, "SHA512", "38618901"},
		{20000000000, "SHA1", "65353130"}, {20000000000, "SHA256", "77737706"}, {20000000000, "SHA512", "47863826"},
	}
	for _, v := range vectors {
		st := step(time.Unix(v.unix, 0))
		if got := hotp(hashes[v.alg], seeds[v.alg], uint64(st), 8); got != v.want {
			t.Errorf("T=%d %s: %s, want %s", v.unix, v.alg, got, v.want)
		}
	}
	// The six-digit code is the last six digits of the eight (mod 10^6).
	if got := codeAt(seeds["SHA1"], step(time.Unix(1111111109, 0))); got != "081804" {
		t.Errorf("six digits at 1111111109 = %s, want 081804", got)
	}
}

// Our codes are those of an independent implementation (pquerna/otp),
// for random secrets and times.
func TestCodesAgreeWithAnIndependentImplementation(t *testing.T) {
	t.Parallel()
	for range 200 {
		key := make([]byte, SecretLen)
		rand.Read(key)
		var b [8]byte
		rand.Read(b[:])
		at := time.Unix(int64(uint64(b[0])|uint64(b[1])<<8|uint64(b[2])<<16|uint64(b[3])<<24), 0)
		want, err := totp.GenerateCodeCustom(secretEncoding.EncodeToString(key), at,
			totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		if got := codeAt(key, step(at)); got != want {
			t.Fatalf("at %v: %s, want %s", at, got, want)
		}
	}
}

func TestMatchStepWindow(t *testing.T) {
	t.Parallel()
	key := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := step(now)
	for _, tc := range []struct {
		name  string
		at    int64
		last  int64
		ok    bool
		steps int64
	}{
		{"the current step", cur, 0, true, cur},
		{"one step early (slow phone)", cur - 1, 0, true, cur - 1},
		{"one step late (fast phone)", cur + 1, 0, true, cur + 1},
		{"two steps early", cur - 2, 0, false, 0},
		{"two steps late", cur + 2, 0, false, 0},
		{"the last accepted step again", cur, cur, false, 0},
		{"a step before the last accepted", cur - 1, cur, false, 0},
		{"a step after the last accepted", cur + 1, cur, true, cur + 1},
	} {
		got, ok := matchStep(key, codeAt(key, tc.at), now, tc.last)
		if ok != tc.ok || got != tc.steps {
			t.Errorf("%s: %d, %v; want %d, %v", tc.name, got, ok, tc.steps, tc.ok)
		}
	}
}

// An authenticator app (pquerna/otp's URI parser standing in for one)
// reads our URI back: issuer, account, secret and parameters.
func TestKeyURIReadsBack(t *testing.T) {
	t.Parallel()
	key := make([]byte, SecretLen)
	rand.Read(key)
	uri := KeyURI("Acme Corp & Co", "ada lovelace+1@example.com", key)
	k, err := otp.NewKeyFromURL(uri)
	if err != nil {
		t.Fatal(err)
	}
	if k.Type() != "totp" || k.Issuer() != "Acme Corp & Co" || k.AccountName() != "ada lovelace+1@example.com" ||
		k.Secret() != secretEncoding.EncodeToString(key) || k.Period() != 30 || k.Digits() != otp.DigitsSix || k.Algorithm() != otp.AlgorithmSHA1 {
		t.Fatalf("read back: type %s issuer %q account %q period %d digits %v alg %v from %s",
			k.Type(), k.Issuer(), k.AccountName(), k.Period(), k.Digits(), k.Algorithm(), uri)
	}
	if strings.Contains(uri, "+") {
		t.Fatalf("a space or plus sign left unescaped: %s", uri)
	}
	if want := "otpauth://totp/Acme%20Corp%20%26%20Co:ada%20lovelace%2B1%40example.com?"; uri[:len(want)] != want {
		t.Fatalf("label: %s", uri)
	}
	// A colon in a label part would move the split: it becomes a space
	// there, and the issuer parameter keeps it.
	k, err = otp.NewKeyFromURL(KeyURI("Acme: Staging", "a:b", key))
	if err != nil || k.Issuer() != "Acme: Staging" || k.AccountName() != "a b" {
		t.Fatalf("colons: issuer %q account %q, %v", k.Issuer(), k.AccountName(), err)
	}
}

var svgRun = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// rasterize draws the SVG's path at scale pixels per module.
func rasterize(t *testing.T, svg string, scale int) image.Image {
	t.Helper()
	m := regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("no viewBox: %s", svg)
	}
	n, _ := strconv.Atoi(m[1])
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for _, r := range svgRun.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[2])
		w, _ := strconv.Atoi(r[3])
		for px := x * scale; px < (x+w)*scale; px++ {
			for py := y * scale; py < (y+1)*scale; py++ {
				img.SetGray(px, py, color.Gray{})
			}
		}
	}
	return img
}

// The SVG we draw scans back to the URI: rasterised and read by a QR
// decoder.
func TestQRSVGScansBackToTheURI(t *testing.T) {
	t.Parallel()
	key := make([]byte, SecretLen)
	rand.Read(key)
	uri := KeyURI("Gatehouse", "ada", key)
	svg, err := QRSVG(uri)
	if err != nil {
		t.Fatal(err)
	}
	got, err := qr.Decode(rasterize(t, svg, 4))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got != uri {
		t.Fatalf("decoded %q, want %q", got, uri)
	}
	// Only our own markup: no script, no style, no link, no text from
	// the URI.
	if regexp.MustCompile(`(?i)script|style=|href|otpauth|ada`).MatchString(svg) {
		t.Fatalf("SVG carries more than the drawing: %s", svg)
	}
}
