package secretscan_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secretscan"
)

// FuzzReport feeds what the internet sends to the endpoint — a body and the
// two signature headers — through signature verification and parsing. It
// checks that nothing panics, that nothing reaches the key service unless
// the body is signed by the published key, that every refusal is a clean
// 4xx code, and that what the parser keeps is bounded and clean. Each input
// is tried twice: as sent (almost never validly signed), and signed by the
// harness, so that the parser is explored behind the signature too.
func FuzzReport(f *testing.F) {
	for _, seed := range []struct{ body, id, sig string }{
		{githubSamplePayload, githubSampleKeyID, githubSampleSig},
		{`[{"token":"sk_live_00000000000000000000000000000000127lYz","type":"gatehouse_api_key","url":"https://github.com/o/r","source":"commit"}]`, "gh", ""},
		{`[]`, "gh", "MEUCIQ=="},
		{`[{"token":1}]`, "", ""},
		{`[null,{}]`, "gh", "!!"},
		{"[{\"url\":\"\\u0000\",\"source\":\"\xff\"}]", "gh", ""},
		{`{"token":"t"}`, "gh", ""},
		{`[{"token":"a","token":"b"}] `, "gh", ""},
	} {
		f.Add([]byte(seed.body), seed.id, seed.sig)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	doc := publicKeysDoc(f, signer{id: "gh", key: key})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(doc) }))
	f.Cleanup(srv.Close)
	keys, err := secretscan.NewPublicKeys(secretscan.KeysConfig{URL: srv.URL, Client: srv.Client()})
	if err != nil {
		f.Fatal(err)
	}
	rep := &reporter{}
	s, err := secretscan.New(secretscan.Config{Keys: keys, Reporter: rep})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, id, sig string) {
		ctx := context.Background()
		rep.mu.Lock()
		rep.calls = rep.calls[:0]
		rep.mu.Unlock()
		labels, err := s.Handle(ctx, id, sig, body)
		if err == nil {
			// Only a forgery could pass: the harness alone holds the key.
			digest := sha256.Sum256(body)
			der, _ := base64.StdEncoding.DecodeString(sig)
			if id != "gh" || !ecdsa.VerifyASN1(&key.PublicKey, digest[:], der) {
				t.Fatalf("an unsigned body was accepted (%d labels)", len(labels))
			}
		} else if code := auth.ErrorCode(err); code != auth.EUNAUTHORIZED {
			t.Fatalf("unsigned input: error %v (%s), want unauthorized", err, code)
		}
		if err != nil && len(rep.calls) != 0 {
			t.Fatal("a refused report reached the key service")
		}

		// Signed by the harness: the parser decides.
		digest := sha256.Sum256(body)
		der, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		labels, err = s.Handle(ctx, "gh", base64.StdEncoding.EncodeToString(der), body)
		if err != nil {
			if code := auth.ErrorCode(err); code != auth.EINVALID && code != auth.ETOOLARGE {
				t.Fatalf("signed input: error %v (%s), want invalid or too_large", err, code)
			}
			return
		}
		matches, perr := secretscan.ParseReport(body)
		if perr != nil || len(matches) != len(labels) || len(matches) > secretscan.MaxReportMatches {
			t.Fatalf("Handle gave %d labels, ParseReport %d matches, %v", len(labels), len(matches), perr)
		}
		for i, m := range matches {
			if len(m.URL) > secretscan.MaxURLLength || len(m.Source) > secretscan.MaxSourceLength ||
				!utf8.ValidString(m.URL) || !utf8.ValidString(m.Source) {
				t.Fatalf("match %d: url or source not bounded to valid UTF-8", i)
			}
			for _, r := range m.URL + m.Source {
				if unicode.IsControl(r) {
					t.Fatalf("match %d: a control character was kept", i)
				}
			}
			if labels[i].TokenRaw != m.Token || labels[i].Label != secretscan.LabelFalsePositive {
				t.Fatalf("label %d = %+v, want the token labelled false_positive", i, labels[i])
			}
		}
	})
}

// FuzzParsePublicKeys checks that the key document parser never panics and
// returns only P-256 keys under non-empty identifiers.
func FuzzParsePublicKeys(f *testing.F) {
	f.Add([]byte(githubSampleDoc))
	f.Add([]byte(`{"public_keys":[{"key_identifier":"","key":"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"}]}`))
	f.Add([]byte(`{"public_keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, err := secretscan.ParsePublicKeys(doc)
		if err != nil {
			if keys != nil {
				t.Fatal("keys with an error")
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no keys and no error")
		}
		for id, k := range keys {
			if id == "" || k == nil || k.Curve != elliptic.P256() {
				t.Fatalf("key %q is not a P-256 key under an identifier", id)
			}
		}
	})
}
