package signing

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

func TestAudienceWireForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		aud  Audience
		json string
	}{
		{Audience{"a"}, `{"aud":"a"}`},
		{Audience{"a", "b"}, `{"aud":["a","b"]}`},
		{nil, `{}`},
	} {
		for name, marshal := range map[string]func(any) ([]byte, error){
			"encoding/json": json.Marshal,
			"json/v2":       func(v any) ([]byte, error) { return jsonv2.Marshal(v) },
		} {
			b, err := marshal(Claims{Audience: tc.aud})
			if err != nil || string(b) != tc.json {
				t.Errorf("%s: %v marshals to %s, %v; want %s", name, tc.aud, b, err, tc.json)
			}
		}
	}
	for in, want := range map[string]Audience{
		`{"aud":"x"}`:       {"x"},
		`{"aud":["x","y"]}`: {"x", "y"},
		`{"aud":[]}`:        {},
		`{"aud":null}`:      nil,
	} {
		var c Claims
		if err := jsonv2.Unmarshal([]byte(in), &c); err != nil || !reflect.DeepEqual(c.Audience, want) {
			t.Errorf("%s: %v, %v", in, c.Audience, err)
		}
	}
	for _, in := range []string{`{"aud":5}`, `{"aud":{"a":1}}`, `{"aud":[1]}`, `{"aud":true}`} {
		var c Claims
		if err := jsonv2.Unmarshal([]byte(in), &c); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}

func TestNumericDate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if d := NewNumericDate(now.Add(900 * time.Millisecond)); d.Time() != now {
		t.Fatalf("NewNumericDate does not round down to the second: %v", d.Time())
	}
	if NewNumericDate(time.Time{}) != 0 || !NumericDate(0).Time().IsZero() {
		t.Fatal("the zero time is not an absent date")
	}
	for in, want := range map[string]NumericDate{
		`{"exp":1772366400}`:     1772366400,
		`{"exp":1772366400.9}`:   1772366400,
		`{"exp":1.7723664e9}`:    1772366400,
		`{"exp":null}`:           0,
		`{"exp":253402300799}`:   253402300799,
		`{"exp":0}`:              0,
		`{"exp":1772366400.000}`: 1772366400,
	} {
		var c Claims
		if err := jsonv2.Unmarshal([]byte(in), &c); err != nil || c.Expiry != want {
			t.Errorf("%s: %d, %v; want %d", in, c.Expiry, err, want)
		}
	}
	for _, in := range []string{`{"exp":-1}`, `{"exp":253402300800}`, `{"exp":1e300}`, `{"exp":"1772366400"}`,
		`{"exp":true}`, `{"exp":[1]}`, `{"exp":-0.5}`, `{"exp":9223372036854775808}`} {
		var c Claims
		if err := jsonv2.Unmarshal([]byte(in), &c); err == nil {
			t.Errorf("%s accepted as %d", in, c.Expiry)
		}
	}
	// The strict decoder refuses duplicate and differently-cased names.
	for _, in := range []string{`{"iss":"a","iss":"b"}`, `{"ISS":"a"}`} {
		var c Claims
		if err := jsonv2.Unmarshal([]byte(in), &c); err == nil && c.Issuer != "" {
			t.Errorf("%s set iss to %q", in, c.Issuer)
		}
	}
}

// FuzzClaims: decoding never panics, and whatever decodes survives a
// round trip through Sign's encoder unchanged.
func FuzzClaims(f *testing.F) {
	for _, seed := range []string{
		`{"iss":"https://a","sub":"u","aud":["x","y"],"exp":1772366400,"nbf":1,"iat":2.5,"jti":"j","client_id":"c","scope":"a b","auth_time":3,"nonce":"n","sid":"s"}`,
		`{"aud":"x"}`, `{"exp":1e9}`, `{"exp":-1}`, `[]`, `null`, `{"aud":[null]}`, `{"exp":1.0e-400}`,
		`"x"`, `["a","b"]`, `[]`, `1772366400`, `1.5e3`, ` 12 `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// The json/v2 and encoding/json methods agree on what v2 accepts.
		var a1, a2 Audience
		if jsonv2.Unmarshal(in, &a2) == nil {
			if err := a1.UnmarshalJSON(in); err != nil || !reflect.DeepEqual(a1, a2) {
				t.Fatalf("aud: v2 %q, v1 %q, %v", a2, a1, err)
			}
		}
		var d1, d2 NumericDate
		if jsonv2.Unmarshal(in, &d2) == nil {
			if err := d1.UnmarshalJSON(in); err != nil || d1 != d2 {
				t.Fatalf("date: v2 %d, v1 %d, %v", d2, d1, err)
			}
		}
		var c Claims
		if err := jsonv2.Unmarshal(in, &c); err != nil {
			return
		}
		out, err := json.Marshal(&c)
		if err != nil {
			t.Fatalf("decoded claims do not encode: %v", err)
		}
		var again Claims
		if err := jsonv2.Unmarshal(out, &again); err != nil {
			t.Fatalf("encoded claims %s do not decode: %v", out, err)
		}
		if len(c.Audience) == 0 {
			c.Audience, again.Audience = nil, nil
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip changed the claims: %+v -> %s -> %+v", c, out, again)
		}
	})
}
