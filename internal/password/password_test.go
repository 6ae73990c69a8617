package password

import (
	"errors"
	"strings"
	"testing"
)

// cheap keeps the tests that hash many times fast; Default is tested too.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	h, err := Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the default parameters", h)
	}
	if ok, err := Verify(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("Verify(right) = %v, %v", ok, err)
	}
	if ok, err := Verify(h, "correct horse batterY"); ok || err != nil {
		t.Fatalf("Verify(wrong) = %v, %v", ok, err)
	}
	if NeedsRehash(h) {
		t.Fatal("a default hash needs no rehash")
	}
	h2, _ := Hash("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestDefaultCost(t *testing.T) {
	// The cost is fixed by the parameters (OWASP's argon2id minimum: 19 MiB,
	// two passes, one lane), not by a stopwatch, which a loaded CI machine
	// breaks; BenchmarkVerify measures the time (about 50 ms of login budget).
	if Default.Memory != 19*1024 || Default.Time != 2 || Default.Threads != 1 {
		t.Fatalf("default parameters %+v are not the documented ones", Default)
	}
	h, _ := Hash("x")
	p, _, _, err := decode(h)
	if err != nil || p.Memory != Default.Memory || p.Time != Default.Time || p.Threads != Default.Threads {
		t.Fatalf("a new hash uses %+v, %v", p, err)
	}
}

func TestOldParametersStillVerify(t *testing.T) {
	t.Parallel()
	h, err := HashWith(cheap, "passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Verify(h, "passphrase"); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
	if !NeedsRehash(h) {
		t.Fatal("a hash under other parameters needs a rehash")
	}
}

// A hash written by another implementation (the parameters and base64 salt
// as the reference CLI prints them) decodes to its parameters and salt.
func TestDecodeForeignHash(t *testing.T) {
	t.Parallel()
	const h = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
	p, salt, _, err := decode(h + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if err != nil || string(salt) != "saltsaltsaltsalt" || p.Memory != 64 {
		t.Fatalf("decode = %+v, %q, %v", p, salt, err)
	}
}

func TestMalformedHashes(t *testing.T) {
	t.Parallel()
	good, _ := HashWith(cheap, "passphrase")
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	cases := map[string]string{
		"empty":                "",
		"argon2i":              "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"bcrypt":               "$2a$10$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234",
		"old version":          "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"no version":           "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"parameters reordered": "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"memory over the cap":  "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key,
		"time over the cap":    "$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key,
		"threads over the cap": "$argon2id$v=19$m=64,t=1,p=255$" + salt + "$" + key,
		"threads overflow":     "$argon2id$v=19$m=64,t=1,p=257$" + salt + "$" + key,
		"zero time":            "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"memory under 8p":      "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key,
		"leading zero":         "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key,
		"sign":                 "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key,
		"huge number":          "$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key,
		"padded salt":          "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"short salt":           "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key,
		"short hash":           "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$c2FsdA",
		"extra field":          good + "$x",
		"too long":             good + strings.Repeat("A", 300),
		"missing leading $":    good[1:],
		"bad base64":           "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "!",
		"extra parameter":      "$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + salt + "$" + key,
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			ok, err := Verify(h, "passphrase")
			if ok || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %v, %v; want ErrMalformed", ok, err)
			}
			if !NeedsRehash(h) {
				t.Fatal("a malformed hash needs a rehash")
			}
		})
	}
}

func TestOverlongPasswordIsNotHashed(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", MaxLength+1)
	h, _ := HashWith(cheap, long)
	if ok, err := Verify(h, long); ok || err != nil {
		t.Fatalf("Verify(overlong) = %v, %v", ok, err)
	}
}

func TestHashWithRefusesBadParams(t *testing.T) {
	t.Parallel()
	bad := cheap
	bad.Memory = MaxMemory + 1
	if _, err := HashWith(bad, "passphrase"); err == nil {
		t.Fatal("HashWith accepted memory over the cap")
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := HashWith(cheap, "passphrase")
	f.Add(good)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decode(s)
		if err != nil {
			return
		}
		if p.check() != nil {
			t.Fatalf("decode accepted out-of-range parameters %+v", p)
		}
		// A decoded hash re-encodes to exactly the input: the parser is
		// canonical, so two spellings never mean one hash.
		if got := encode(p, salt, key); got != s {
			t.Fatalf("re-encoded %q as %q", s, got)
		}
	})
}

// BenchmarkVerify measures one login's hashing cost under the defaults.
func BenchmarkVerify(b *testing.B) {
	h, err := Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Verify(h, "correct horse battery staple")
	}
}
