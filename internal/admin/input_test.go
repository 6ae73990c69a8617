package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestBadInputIsRefusedAndNothingStored(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	target, targetSecret := env.createKey(t, apikey.CreateParams{Owner: "target", Scopes: []string{"read"}})
	keyPath := "/admin/v1/keys/" + target.ID
	const jsonCT = "application/json"

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		detail      string // a substring the problem detail must contain
	}{
		// Body framing.
		{"malformed JSON", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a",}`, 400, "not valid JSON"},
		{"truncated JSON", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a"`, 400, "ends early"},
		{"trailing garbage", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a"} x`, 400, "after the JSON object"},
		{"a second object", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a"}{"owner": "b"}`, 400, "after the JSON object"},
		{"an empty body", "POST", "/admin/v1/keys", jsonCT, ``, 400, "required"},
		{"whitespace only", "POST", "/admin/v1/keys", jsonCT, " \n\t", 400, "required"},
		{"null", "POST", "/admin/v1/keys", jsonCT, `null`, 400, "JSON object"},
		{"an array", "POST", "/admin/v1/keys", jsonCT, `[{"owner": "a"}]`, 400, "JSON object"},
		{"a string", "POST", "/admin/v1/keys", jsonCT, `"owner"`, 400, "JSON object"},
		{"invalid UTF-8", "POST", "/admin/v1/keys", jsonCT, "{\"owner\": \"a\xff\xfe\"}", 400, "UTF-8"},
		{"a UTF-16 charset", "POST", "/admin/v1/keys", "application/json; charset=utf-16", `{"owner": "a"}`, 400, "UTF-8"},
		{"no Content-Type", "POST", "/admin/v1/keys", "", `{"owner": "a"}`, 400, "Content-Type"},
		{"a form Content-Type", "POST", "/admin/v1/keys", "application/x-www-form-urlencoded", `owner=a`, 400, "Content-Type"},
		{"a text Content-Type", "POST", "/admin/v1/keys", "text/plain", `{"owner": "a"}`, 400, "Content-Type"},
		{"a malformed Content-Type", "POST", "/admin/v1/keys", "application/json; =", `{"owner": "a"}`, 400, "Content-Type"},
		{"a body over the limit", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "name": "` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`, 413, "larger than"},
		{"deep nesting", "POST", "/admin/v1/keys", jsonCT, `{"metadata": ` + strings.Repeat(`{"a": `, 40) + `1` + strings.Repeat(`}`, 40) + `}`, 400, ""},
		{"deep arrays", "POST", "/admin/v1/keys", jsonCT, `{"scopes": ` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + `}`, 400, "nested too deeply"},

		// Members.
		{"an unknown member", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "admin": true}`, 400, `Unknown member "admin"`},
		{"an unknown nested member", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "rate_limit": {"rate": 1, "burst": 1, "window": 2}}`, 400, `"rate_limit.window"`},
		{"a member in the wrong case", "POST", "/admin/v1/keys", jsonCT, `{"Owner": "a"}`, 400, "case-sensitive"},
		{"a duplicate member", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "owner": "b"}`, 400, "more than once"},
		{"a duplicate metadata key", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "metadata": {"k": "1", "k": "2"}}`, 400, "more than once"},
		{"a long unknown member is not echoed", "POST", "/admin/v1/keys", jsonCT, `{"` + targetSecret + `": 1}`, 400, "name not shown"},
		{"owner of the wrong type", "POST", "/admin/v1/keys", jsonCT, `{"owner": 42}`, 400, `"owner" must be a string`},
		{"scopes not an array", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "scopes": "read"}`, 400, `"scopes" must be an array of strings`},
		{"a scope not a string", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "scopes": [1]}`, 400, `"scopes"`},
		{"metadata values not strings", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "metadata": {"n": 1}}`, 400, `"metadata"`},
		{"a fractional burst", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "rate_limit": {"rate": 1, "burst": 1.5}}`, 400, `"rate_limit.burst" must be an integer`},
		{"a huge burst", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "rate_limit": {"rate": 1, "burst": 1e30}}`, 400, `"rate_limit.burst"`},
		{"an overflowing rate", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "rate_limit": {"rate": 1e400, "burst": 1}}`, 400, `"rate_limit.rate"`},
		{"a negative rate", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "rate_limit": {"rate": -1, "burst": 1}}`, 400, ""},
		{"a null owner", "POST", "/admin/v1/keys", jsonCT, `{"owner": null}`, 400, `"owner" must be a string, not null`},
		{"null scopes", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "scopes": null}`, 400, `"scopes" must be an array of strings, not null`},
		{"a null scope", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "scopes": ["a", null]}`, 400, `"scopes"`},
		{"a null metadata value", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "metadata": {"k": null}}`, 400, `"metadata.k" must be a string, not null`},
		{"rate_limit not an object", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "rate_limit": 5}`, 400, `"rate_limit"`},

		// Rules.
		{"no owner", "POST", "/admin/v1/keys", jsonCT, `{"name": "a"}`, 400, "owner"},
		{"a bad expires_in", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "expires_in": "30 days"}`, 400, `"expires_in"`},
		{"a negative expires_in", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "expires_in": "-1h"}`, 400, `"expires_in"`},
		{"a bad expires_at", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "expires_at": "tomorrow"}`, 400, `"expires_at"`},
		{"an expires_at in the past", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "expires_at": "2001-01-01T00:00:00Z"}`, 400, "expires_at"},
		{"both expiries", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "expires_in": "1h", "expires_at": "2031-01-01T00:00:00Z"}`, 400, "at most one"},
		{"an overflowing expires_in", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "expires_in": "99999999999h"}`, 400, `"expires_in"`},
		{"a bad rotation_period", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "rotation_period": "monthly"}`, 400, `"rotation_period"`},
		{"a too short rotation_period", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "rotation_period": "1s"}`, 400, "rotation_period"},
		{"too many scopes", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "scopes": ["s0"` + manyScopes(100) + `]}`, 400, ""},
		{"an owner over 128 bytes", "POST", "/admin/v1/keys", jsonCT, `{"owner": "` + strings.Repeat("o", 129) + `"}`, 400, "owner"},

		// Credits and allowed networks.
		{"negative credits", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "credits": {"remaining": -1}}`, 400, "credits.remaining"},
		{"huge credits", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "credits": {"remaining": 1000000000001}}`, 400, "credits.remaining"},
		{"credits beyond int64", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "credits": {"remaining": 1e30}}`, 400, `"credits.remaining"`},
		{"fractional credits", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "credits": {"remaining": 1.5}}`, 400, `"credits.remaining"`},
		{"credits without remaining", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "credits": {"refill": {"amount": 1, "interval": "day"}}}`, 400, ""},
		{"a weekly refill", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "credits": {"remaining": 1, "refill": {"amount": 1, "interval": "week"}}}`, 400, "credits.refill.interval"},
		{"a refill of 0", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "credits": {"remaining": 1, "refill": {"amount": 0, "interval": "day"}}}`, 400, "credits.refill.amount"},
		{"a huge refill", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "credits": {"remaining": 1, "refill": {"amount": 1000000000001, "interval": "day"}}}`, 400, "credits.refill.amount"},
		{"an unknown credits member", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "credits": {"remaining": 1, "used": 2}}`, 400, `"credits.used"`},
		{"a malformed CIDR", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "allowed_ips": ["203.0.113.0/33"]}`, 400, "allowed_ips[0]"},
		{"a hostname as a network", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "allowed_ips": ["10.0.0.0/8", "example.com"]}`, 400, "allowed_ips[1]"},
		{"a network with host bits", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "allowed_ips": ["203.0.113.7/24"]}`, 400, "203.0.113.0/24"},
		{"an address with a zone", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "allowed_ips": ["fe80::1%eth0"]}`, 400, "allowed_ips[0]"},
		{"a mapped IPv4 network", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "allowed_ips": ["::ffff:203.0.113.0/120"]}`, 400, "IPv4-mapped"},
		{"too many networks", "POST", "/admin/v1/keys", jsonCT, `{"owner": "a", "allowed_ips": [` + manyNetworks(101) + `]}`, 400, "at most 100"},

		// Key updates.
		{"a patch without a body", "PATCH", keyPath, jsonCT, ``, 400, "required"},
		{"a patch with an unknown member", "PATCH", keyPath, jsonCT, `{"owner": "b"}`, 400, `"owner"`},
		{"a patch with negative credits", "PATCH", keyPath, jsonCT, `{"credits": {"remaining": -5}}`, 400, "credits.remaining"},
		{"a patch with a yearly refill", "PATCH", keyPath, jsonCT, `{"credits": {"remaining": 5, "refill": {"amount": 5, "interval": "year"}}}`, 400, "credits.refill.interval"},
		{"a patch with empty credits", "PATCH", keyPath, jsonCT, `{"credits": {}}`, 400, `"credits"`},
		{"a patch with an unknown credits member", "PATCH", keyPath, jsonCT, `{"credits": {"remaining": 5, "max": 1}}`, 400, `"credits.max"`},
		{"a patch with credits as a number", "PATCH", keyPath, jsonCT, `{"credits": 5}`, 400, `"credits"`},
		{"a patch with a null name", "PATCH", keyPath, jsonCT, `{"name": null}`, 400, `"name"`},
		{"a patch with null scopes", "PATCH", keyPath, jsonCT, `{"scopes": null}`, 400, `"scopes"`},
		{"a patch with a malformed CIDR", "PATCH", keyPath, jsonCT, `{"allowed_ips": ["2001:db8::/129"]}`, 400, "allowed_ips[0]"},
		{"a patch with a past expiry", "PATCH", keyPath, jsonCT, `{"expires_at": "2001-01-01T00:00:00Z"}`, 400, "expires_at"},
		{"a patch with a bad expiry", "PATCH", keyPath, jsonCT, `{"expires_at": "soon"}`, 400, `"expires_at"`},
		{"a patch with a bad scope", "PATCH", keyPath, jsonCT, `{"name": "x", "scopes": ["a b"]}`, 400, "scopes"},
		{"a patch with an expiry as a number", "PATCH", keyPath, jsonCT, `{"expires_at": 5}`, 400, `"expires_at"`},
		{"a patch with a refill as a number", "PATCH", keyPath, jsonCT, `{"credits": {"remaining": 1, "refill": 5}}`, 400, `"credits.refill"`},
		{"a patch with a refill amount as a string", "PATCH", keyPath, jsonCT, `{"credits": {"remaining": 1, "refill": {"amount": "x", "interval": "day"}}}`, 400, `"credits.refill.amount"`},
		{"a patch with an unknown refill member", "PATCH", keyPath, jsonCT, `{"credits": {"remaining": 1, "refill": {"amount": 1, "interval": "day", "at": 3}}}`, 400, `"credits.refill.at"`},
		{"a patch with credits as an array", "PATCH", keyPath, jsonCT, `{"credits": [1]}`, 400, `"credits"`},
		{"a patch with null remaining", "PATCH", keyPath, jsonCT, `{"credits": {"remaining": null}}`, 400, `"credits"`},
		{"a patch of an unknown key", "PATCH", "/admin/v1/keys/key_unknown", jsonCT, `{"name": "x"}`, 404, ""},

		// Rotate and revoke bodies.
		{"a negative grace", "POST", keyPath + "/rotate", jsonCT, `{"grace": "-1h"}`, 400, `"grace"`},
		{"a bad grace", "POST", keyPath + "/rotate", jsonCT, `{"grace": "soon"}`, 400, `"grace"`},
		{"grace as a number", "POST", keyPath + "/rotate", jsonCT, `{"grace": 3600}`, 400, `"grace" must be a string`},
		{"an unknown rotate member", "POST", keyPath + "/rotate", jsonCT, `{"grace": "1h", "force": true}`, 400, "force"},
		{"a rotate body that is not JSON", "POST", keyPath + "/rotate", "text/plain", `grace=1h`, 400, "Content-Type"},
		{"a revoke body with members", "POST", keyPath + "/revoke", jsonCT, `{"reason": "x"}`, 400, "reason"},
		{"a revoke body with garbage", "POST", keyPath + "/revoke", jsonCT, `{}}`, 400, ""},

		// Paths and queries.
		{"a key ID of invalid UTF-8", "GET", "/admin/v1/keys/%FF%FE", "", "", 400, "malformed"},
		{"a key ID over 128 bytes", "GET", "/admin/v1/keys/" + strings.Repeat("k", 129), "", "", 400, "malformed"},
		{"a SQL-looking key ID", "GET", "/admin/v1/keys/'%20OR%20'1'='1", "", "", 404, ""},
		{"limit 0", "GET", "/admin/v1/keys?limit=0", "", "", 400, `"limit"`},
		{"limit 501", "GET", "/admin/v1/keys?limit=501", "", "", 400, `"limit"`},
		{"limit negative", "GET", "/admin/v1/keys?limit=-5", "", "", 400, `"limit"`},
		{"limit not a number", "GET", "/admin/v1/keys?limit=ten", "", "", 400, `"limit"`},
		{"limit overflowing", "GET", "/admin/v1/keys?limit=99999999999999999999999", "", "", 400, `"limit"`},
		{"an unknown parameter", "GET", "/admin/v1/keys?ownr=a", "", "", 400, `"ownr"`},
		{"a repeated parameter", "GET", "/admin/v1/keys?owner=a&owner=b", "", "", 400, "more than once"},
		{"rotation_due not a boolean", "GET", "/admin/v1/keys?rotation_due=yes", "", "", 400, "true or false"},
		{"a malformed query", "GET", "/admin/v1/keys?owner=%zz", "", "", 400, "malformed"},
		{"a semicolon query", "GET", "/admin/v1/keys?owner=a;limit=2", "", "", 400, "malformed"},
		{"a query of invalid UTF-8", "GET", "/admin/v1/keys?owner=%FF", "", "", 400, "UTF-8"},
		{"a query value over 1 KiB", "GET", "/admin/v1/keys?owner=" + strings.Repeat("o", 1025), "", "", 400, "owner"},
		{"an audit cursor not a number", "GET", "/admin/v1/audit-events?cursor=abc", "", "", 400, `"cursor"`},
		{"an audit cursor of zero", "GET", "/admin/v1/audit-events?cursor=0", "", "", 400, `"cursor"`},
		{"an audit limit of 1000", "GET", "/admin/v1/audit-events?limit=1000", "", "", 400, `"limit"`},
		{"an unknown audit parameter", "GET", "/admin/v1/audit-events?who=x", "", "", 400, `"who"`},

		// Verify bodies.
		{"verify without a body", "POST", "/v1/keys/verify", jsonCT, ``, 400, "required"},
		{"verify without a key", "POST", "/v1/keys/verify", jsonCT, `{"scopes": ["a"]}`, 400, `"key" is required`},
		{"verify with a key of the wrong type", "POST", "/v1/keys/verify", jsonCT, `{"key": 12345}`, 400, `"key" must be a string`},
		{"verify with an unknown member", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "scope": "a"}`, 400, `"scope"`},
		{"verify with scopes of the wrong type", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "scopes": "a"}`, 400, `"scopes"`},
		{"verify with trailing data", "POST", "/v1/keys/verify", jsonCT, `{"key": "x"}]`, 400, "after the JSON object"},
		{"verify with a cost of 0", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "cost": 0}`, 400, `"cost"`},
		{"verify with a negative cost", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "cost": -3}`, 400, `"cost"`},
		{"verify with a huge cost", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "cost": 1000001}`, 400, `"cost"`},
		{"verify with a fractional cost", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "cost": 1.5}`, 400, `"cost"`},
		{"verify with a cost as a string", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "cost": "2"}`, 400, `"cost"`},
		{"verify with a bad ip", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "ip": "300.1.1.1"}`, 400, `"ip"`},
		{"verify with a network as ip", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "ip": "10.0.0.0/8"}`, 400, `"ip"`},
		{"verify with a zoned ip", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "ip": "fe80::1%eth0"}`, 400, `"ip"`},
		{"verify with an ip as a number", "POST", "/v1/keys/verify", jsonCT, `{"key": "x", "ip": 167772161}`, 400, `"ip"`},
		{"verify over the size limit", "POST", "/v1/keys/verify", jsonCT, `{"key": "` + strings.Repeat("k", 1<<20) + `"}`, 413, "larger than"},
	}
	before := env.allKeyIDs(t)
	targetBefore, err := env.client.GetKey(context.Background(), target.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := env.do(t, tt.method, tt.path, tt.contentType, strings.NewReader(tt.body), env.adminHeader())
			if tt.status == http.StatusOK {
				// Null members of a PATCH are absent ones (only
				// credits and expires_at give null a meaning).
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
				}
				return
			}
			p := assertProblem(t, resp, body, tt.status)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", p.Detail, tt.detail)
			}
			if strings.Contains(string(body), targetSecret) || strings.Contains(string(body), env.adminKey) {
				t.Errorf("the problem echoes a key: %s", body)
			}
			if after := env.allKeyIDs(t); !slices.Equal(after, before) {
				t.Fatalf("a refused request changed the stored keys: before %v, after %v", before, after)
			}
		})
	}

	t.Run("the target key was neither rotated nor revoked", func(t *testing.T) {
		k, err := env.client.GetKey(context.Background(), target.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k.Status != auth.KeyActive || k.RotatedTo != "" {
			t.Errorf("target = %+v", k)
		}
		if !reflect.DeepEqual(k, targetBefore) {
			t.Errorf("a refused request changed the target:\n got %+v\nwant %+v", k, targetBefore)
		}
		evs, err := env.client.ListAuditEvents(context.Background(), AuditEventsParams{Type: auth.EventKeyUpdated})
		if err != nil || len(evs.Items) != 0 {
			t.Errorf("key.updated events after refused updates: %+v, %v", evs, err)
		}
	})
	env.assertNoSecretLogged(t)
}

func TestOddStringsAreStoredVerbatimOrRefused(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	odd := []struct {
		name  string
		value string
	}{
		{"SQL injection", `'; DROP TABLE api_keys; --`},
		{"SQL tautology", `" OR "1"="1`},
		{"SQL comment and wildcard", `%_ /* */ -- \`},
		{"CJK", "鍵の名前"},
		{"emoji", "key 🔑 for 🦀"},
		{"combining accents", "e\u0301te\u0301"},
		{"astral plane", "\U0001D54F\U0001F600"},
		{"zero-width joiner", "👩\u200d💻"},
		{"right-to-left override", "abc\u202edef"},
		{"NUL", "a\x00b"},
		{"newline", "a\nb"},
		{"byte-order mark", "\ufeffname"},
		{"format verbs", "%s %d %n %x"},
		{"HTML", `<script>alert(1)</script>`},
		{"template", "{{.Secret}} ${jndi:ldap://x}"},
		{"JSON inside", `{"owner":"root"}`},
		{"max length", strings.Repeat("é", 64)},
		{"over max length", strings.Repeat("é", 65)},
	}
	for _, tt := range odd {
		t.Run(tt.name, func(t *testing.T) {
			for _, req := range []CreateKeyRequest{
				{Owner: tt.value},
				{Owner: "odd", Name: tt.value},
				{Owner: "odd", Scopes: []string{tt.value}},
				{Owner: "odd", Metadata: map[string]string{"k": tt.value}},
				{Owner: "odd", Metadata: map[string]string{tt.value: "v"}},
			} {
				before := env.allKeyIDs(t)
				created, err := env.client.CreateKey(ctx, req)
				if err != nil {
					assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
					t.Logf("refused: %v", err)
					if after := env.allKeyIDs(t); !slices.Equal(after, before) {
						t.Errorf("refused, yet the stored keys changed")
					}
					continue
				}
				env.secrets = append(env.secrets, created.Secret)
				got, err := env.client.GetKey(ctx, created.ID)
				if err != nil {
					t.Fatalf("GetKey: %v", err)
				}
				if got.Owner != req.Owner || (req.Name != "" && got.Name != req.Name) ||
					(req.Scopes != nil && !slices.Equal(got.Scopes, req.Scopes)) ||
					(req.Metadata != nil && !mapsEqual(got.Metadata, req.Metadata)) {
					t.Errorf("stored %+v, sent %+v: not verbatim", got, req)
				}
			}
			// Filtering by it is harmless too.
			list, err := env.client.ListKeys(ctx, ListKeysParams{Owner: tt.value})
			if err != nil {
				assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
			}
			for _, k := range listItems(list) {
				if k.Owner != tt.value {
					t.Errorf("filter by owner %q listed owner %q", tt.value, k.Owner)
				}
			}
		})
	}
	env.assertNoSecretLogged(t)
}

// manyScopes returns n distinct scopes, each after a comma.
func manyNetworks(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"10.%d.%d.0/24"`, i/256, i%256)
	}
	return b.String()
}

func manyScopes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `, "s%d"`, i+1)
	}
	return b.String()
}

func listItems(l *KeyList) []Key {
	if l == nil {
		return nil
	}
	return l.Items
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestDecodeMessagesNameTheFieldNotTheValue(t *testing.T) {
	t.Parallel()
	secret := "sk_test_" + strings.Repeat("Z", 38)
	for _, body := range []string{
		`{"key": 1, "scopes": "` + secret + `"}`,
		`{"key": ["` + secret + `"]}`,
		`{"` + secret + `": "x"}`,
		`{"key": "` + secret + `", "key": "` + secret + `"}`,
		`{"key": "` + secret + `"` + secret,
		`{"key": "` + secret + `"} ` + secret,
	} {
		var req VerifyRequest
		err := decodeJSONBytes([]byte(body), &req)
		if err == nil {
			t.Errorf("decode(%.40s…) = nil, want an error", body)
			continue
		}
		if auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("decode(%.40s…) code = %s", body, auth.ErrorCode(err))
		}
		if msg := auth.ErrorMessage(err); strings.Contains(msg, "ZZZZ") {
			t.Errorf("message %q repeats the value", msg)
		}
	}
	var req VerifyRequest
	if err := decodeJSONBytes([]byte(` {"key": "k", "scopes": ["a", "b"]} `+"\n"), &req); err != nil {
		t.Errorf("a good body with surrounding space: %v", err)
	}
	if b, _ := json.Marshal(req); string(b) != `{"key":"k","scopes":["a","b"]}` {
		t.Errorf("decoded %s", b)
	}
}
