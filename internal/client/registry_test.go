package client_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// env is a registry over a temporary SQLite file, with a clock the test
// moves by hand.
type env struct {
	*client.Registry
	db     *sqlite.DB
	clock  *testenv.Clock
	hasher *secret.Hasher
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, clock: testenv.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	if e.hasher, err = secret.NewHasher(bytes.Repeat([]byte{1}, secret.MinServerSecretLength)); err != nil {
		t.Fatal(err)
	}
	e.Registry = e.node(t, db)
	return e
}

// node returns another registry over store: another node of one cluster,
// with its own cache.
func (e *env) node(t *testing.T, store auth.ClientStore) *client.Registry {
	t.Helper()
	r, err := client.New(client.Config{Store: store, Hasher: e.hasher, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) mustCreate(t *testing.T, in client.Input) (*auth.Client, string) {
	t.Helper()
	c, plaintext, err := e.Create(context.Background(), "adm_1", in)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return c, plaintext
}

func jwksOf(t *testing.T, keys ...any) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: "k", Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewRequiresStoreAndHasher(t *testing.T) {
	e := newEnv(t)
	for _, cfg := range []client.Config{{Store: e.db}, {Hasher: e.hasher}} {
		if _, err := client.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted an incomplete Config", cfg)
		}
	}
}

func TestValidation(t *testing.T) {
	e := newEnv(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	base := func(mod func(*client.Input)) client.Input {
		in := client.Input{Name: "app", RedirectURIs: []string{"https://app.example.com/cb"}}
		mod(&in)
		return in
	}
	bad := map[string]client.Input{
		"no name":                      base(func(in *client.Input) { in.Name = "  " }),
		"control character in name":    base(func(in *client.Input) { in.Name = "a\x00b" }),
		"long name":                    base(func(in *client.Input) { in.Name = strings.Repeat("n", 201) }),
		"unknown method":               base(func(in *client.Input) { in.AuthMethod = "tls_client_auth" }),
		"confidential with none":       base(func(in *client.Input) { in.AuthMethod = "none" }),
		"public with a secret method":  base(func(in *client.Input) { in.Public, in.AuthMethod = true, "client_secret_basic" }),
		"private_key_jwt without JWKS": base(func(in *client.Input) { in.AuthMethod = "private_key_jwt" }),
		"JWKS without private_key_jwt": base(func(in *client.Input) { in.JWKS = jwksOf(t, &ec.PublicKey) }),
		"private key in JWKS":          base(func(in *client.Input) { in.AuthMethod, in.JWKS = "private_key_jwt", jwksOf(t, ec) }),
		"symmetric key in JWKS": base(func(in *client.Input) {
			in.AuthMethod, in.JWKS = "private_key_jwt", jwksOf(t, []byte("0123456789abcdef0123456789abcdef"))
		}),
		"P-384 key":                      base(func(in *client.Input) { in.AuthMethod, in.JWKS = "private_key_jwt", jwksOf(t, &p384.PublicKey) }),
		"1024-bit RSA key":               base(func(in *client.Input) { in.AuthMethod, in.JWKS = "private_key_jwt", jwksOf(t, &smallRSA.PublicKey) }),
		"JWKS not JSON":                  base(func(in *client.Input) { in.AuthMethod, in.JWKS = "private_key_jwt", []byte("nope") }),
		"empty JWKS":                     base(func(in *client.Input) { in.AuthMethod, in.JWKS = "private_key_jwt", []byte(`{"keys":[]}`) }),
		"relative redirect":              base(func(in *client.Input) { in.RedirectURIs = []string{"/cb"} }),
		"redirect with fragment":         base(func(in *client.Input) { in.RedirectURIs = []string{"https://app.example.com/cb#x"} }),
		"wildcard redirect":              base(func(in *client.Input) { in.RedirectURIs = []string{"https://*.example.com/cb"} }),
		"http redirect off loopback":     base(func(in *client.Input) { in.RedirectURIs = []string{"http://app.example.com/cb"} }),
		"userinfo in redirect":           base(func(in *client.Input) { in.RedirectURIs = []string{"https://user@app.example.com/cb"} }),
		"custom scheme for confidential": base(func(in *client.Input) { in.RedirectURIs = []string{"com.example.app:/cb"} }),
		"javascript scheme":              base(func(in *client.Input) { in.Public, in.RedirectURIs = true, []string{"javascript:alert(1)"} }),
		"space in redirect":              base(func(in *client.Input) { in.RedirectURIs = []string{"https://app.example.com/c b"} }),
		"too many redirects": base(func(in *client.Input) {
			for i := range 21 {
				in.RedirectURIs = append(in.RedirectURIs, "https://app.example.com/"+strings.Repeat("x", i+1))
			}
		}),
		"unknown grant": base(func(in *client.Input) { in.GrantTypes = []string{"password"} }),
		"public client credentials": base(func(in *client.Input) {
			in.Public, in.GrantTypes = true, []string{"authorization_code", "client_credentials"}
		}),
		"code without redirect":              {Name: "x", GrantTypes: []string{"authorization_code"}},
		"refresh without code":               {Name: "x", GrantTypes: []string{"client_credentials", "refresh_token"}},
		"redirects without code":             base(func(in *client.Input) { in.GrantTypes = []string{"client_credentials"} }),
		"public without redirects":           {Name: "x", Public: true},
		"bad scope":                          base(func(in *client.Input) { in.Scopes = []string{"a b"} }),
		"empty scope":                        base(func(in *client.Input) { in.Scopes = []string{""} }),
		"relative audience":                  base(func(in *client.Input) { in.Audiences = []string{"api"} }),
		"audience with fragment":             base(func(in *client.Input) { in.Audiences = []string{"https://api.example.com#x"} }),
		"access TTL too short":               base(func(in *client.Input) { in.AccessTokenTTL = time.Second }),
		"access TTL too long":                base(func(in *client.Input) { in.AccessTokenTTL = 25 * time.Hour }),
		"refresh TTL over a year":            base(func(in *client.Input) { in.RefreshTokenTTL = 366 * 24 * time.Hour }),
		"absolute shorter than idle refresh": base(func(in *client.Input) { in.RefreshTokenTTL, in.RefreshTokenMaxTTL = 48*time.Hour, 24*time.Hour }),
		"negative TTL":                       base(func(in *client.Input) { in.AccessTokenTTL = -time.Minute }),
		"PAR without the code grant":         {Name: "x", GrantTypes: []string{"client_credentials"}, RequirePAR: true},
		"logout URI without the code grant":  {Name: "x", GrantTypes: []string{"client_credentials"}, BackchannelLogoutURI: "https://app.example.com/bcl"},
		"http logout URI off loopback":       base(func(in *client.Input) { in.BackchannelLogoutURI = "http://app.example.com/bcl" }),
		"logout URI with fragment":           base(func(in *client.Input) { in.BackchannelLogoutURI = "https://app.example.com/bcl#x" }),
		"logout URI of a custom scheme":      base(func(in *client.Input) { in.Public, in.BackchannelLogoutURI = true, "com.example.app:/bcl" }),
		// Outside --dev the notifier never delivers to loopback: the
		// registry must not accept what would silently never get a token.
		"loopback http logout URI":  base(func(in *client.Input) { in.BackchannelLogoutURI = "http://127.0.0.1:9000/bcl" }),
		"loopback https logout URI": base(func(in *client.Input) { in.BackchannelLogoutURI = "https://localhost/bcl" }),
		"unknown application type":  base(func(in *client.Input) { in.ApplicationType = "desktop" }),
		"public token exchange": base(func(in *client.Input) {
			in.Public, in.GrantTypes = true, []string{"authorization_code", auth.GrantTokenExchange}
		}),
		"exchange issuers without the grant": base(func(in *client.Input) { in.ExchangeIssuers = []string{"https://idp.example"} }),
		"impersonation without the grant":    base(func(in *client.Input) { in.AllowImpersonation = true }),
		"exchange issuer with a query": {Name: "x", GrantTypes: []string{auth.GrantTokenExchange},
			ExchangeIssuers: []string{"https://idp.example?x=1"}},
		"exchange issuer over http": {Name: "x", GrantTypes: []string{auth.GrantTokenExchange},
			ExchangeIssuers: []string{"http://idp.example"}},
		"refresh with neither code nor device": {Name: "x", GrantTypes: []string{auth.GrantTokenExchange, "refresh_token"}},
		"metadata not an object":               base(func(in *client.Input) { in.Metadata = []byte(`["x"]`) }),
		"metadata too large":                   base(func(in *client.Input) { in.Metadata = []byte(`{"a":"` + strings.Repeat("x", 16<<10) + `"}`) }),
	}
	for name, in := range bad {
		t.Run(name, func(t *testing.T) {
			_, _, err := e.Create(context.Background(), "test", in)
			if auth.ErrorCode(err) != auth.EINVALID {
				t.Fatalf("err %v, want EINVALID", err)
			}
		})
	}
	good := map[string]client.Input{
		"loopback http": base(func(in *client.Input) {
			in.RedirectURIs = []string{"http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost:3000/cb"}
		}),
		"native custom scheme":      base(func(in *client.Input) { in.Public, in.RedirectURIs = true, []string{"com.example.app:/oauth2redirect"} }),
		"Ed25519 and P-256 JWKS":    base(func(in *client.Input) { in.AuthMethod, in.JWKS = "private_key_jwt", jwksOf(t, edPub, &ec.PublicKey) }),
		"client credentials only":   {Name: "svc", GrantTypes: []string{"client_credentials"}, Audiences: []string{"https://api.example.com", "urn:x:y"}},
		"defaults for a web client": base(func(in *client.Input) {}),
		"public device client": {Name: "tv", Public: true,
			GrantTypes: []string{auth.GrantDeviceCode, auth.GrantRefreshToken}},
		"token exchange service": {Name: "svc", GrantTypes: []string{auth.GrantTokenExchange, "client_credentials"},
			ExchangeIssuers: []string{"https://idp.example", "http://127.0.0.1:9000"}, AllowImpersonation: true},
		"every extension": base(func(in *client.Input) {
			in.RequireDPoP, in.RequirePAR, in.ApplicationType = true, true, auth.ApplicationNative
			in.BackchannelLogoutURI = "https://app.example.com/bcl?x=1"
			in.Metadata = []byte(`{"client_uri":"https://app.example.com"}`)
		}),
	}
	for name, in := range good {
		t.Run(name, func(t *testing.T) {
			if _, _, err := e.Create(context.Background(), "test", in); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestValidAudience(t *testing.T) {
	for s, want := range map[string]bool{
		"https://api.example.com": true, "urn:example:billing": true,
		"": false, "api": false, "/relative": false, "https://api.example.com#x": false,
		"https://" + strings.Repeat("a", 2048): false,
	} {
		if got := client.ValidAudience(s); got != want {
			t.Errorf("ValidAudience(%.40q) = %v, want %v", s, got, want)
		}
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c, plaintext := e.mustCreate(t, client.Input{Name: " svc ", Scopes: []string{"write", "read", "read"}})
	if !strings.HasPrefix(c.ID, client.IDPrefix) || len(c.ID) != 20 || !client.ValidID(c.ID) || c.Name != "svc" ||
		c.AuthMethod != auth.AuthMethodSecretBasic || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) ||
		!slices.Equal(c.Scopes, []string{"read", "write"}) ||
		!secret.Valid(client.SecretPrefix, plaintext) || c.SecretHint != plaintext[len(plaintext)-4:] {
		t.Fatalf("client %+v secret %q", c, plaintext)
	}
	// Only the keyed hash is stored, under the hasher the token endpoint
	// checks presented secrets with.
	stored, err := e.Get(ctx, c.ID)
	want := e.hasher.Sum(plaintext)
	if err != nil || !bytes.Equal(stored.SecretHash, want[:]) {
		t.Fatalf("stored %+v %v", stored, err)
	}
	if _, err := e.Lookup(ctx, c.ID); err != nil { // caches the client
		t.Fatal(err)
	}

	rotated, newSecret, err := e.RotateSecret(ctx, "adm_1", c.ID)
	if err != nil || newSecret == plaintext || rotated.SecretHint != newSecret[len(newSecret)-4:] {
		t.Fatalf("rotate: %+v %v", rotated, err)
	}
	// The cache of this node forgets the client at once.
	want = e.hasher.Sum(newSecret)
	if got, err := e.Lookup(ctx, c.ID); err != nil || !bytes.Equal(got.SecretHash, want[:]) {
		t.Fatalf("Lookup after rotation: %v, old secret still cached", err)
	}

	up, err := e.Update(ctx, "adm_1", c.ID, client.Input{Name: "svc2", AuthMethod: auth.AuthMethodSecretPost, Scopes: []string{"read"}})
	if err != nil || up.Name != "svc2" || up.CreatedAt != c.CreatedAt || !bytes.Equal(up.SecretHash, want[:]) {
		t.Fatalf("update: %+v %v", up, err)
	}
	if got, err := e.Lookup(ctx, c.ID); err != nil || got.AuthMethod != auth.AuthMethodSecretPost {
		t.Fatalf("Lookup after update: %+v %v", got, err)
	}
	if _, err := e.Update(ctx, "adm_1", c.ID, client.Input{Name: "x", Public: true, RedirectURIs: []string{"https://a.example.com/cb"}}); auth.ErrorCode(err) != auth.EINVALID {
		t.Errorf("switch to public: %v", err)
	}
	list, next, err := e.List(ctx, auth.ClientFilter{Limit: 10})
	if err != nil || len(list) != 1 || next != "" {
		t.Fatalf("list %v %q %v", list, next, err)
	}
	for _, f := range []auth.ClientFilter{{Limit: -1}, {After: "../etc"}} {
		if _, _, err := e.List(ctx, f); auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("List(%+v): %v, want EINVALID", f, err)
		}
	}
	if ok, err := e.Exists(ctx, c.ID); !ok || err != nil {
		t.Fatalf("Exists before delete = %v, %v", ok, err)
	}
	if err := e.Delete(ctx, "adm_1", c.ID); err != nil {
		t.Fatal(err)
	}
	// The gateway's check: a deleted client is gone at once on this node.
	for _, id := range []string{c.ID, "../etc", ""} {
		if ok, err := e.Exists(ctx, id); ok || err != nil {
			t.Errorf("Exists(%q) after delete = %v, %v", id, ok, err)
		}
	}
	for _, err := range []error{
		e.Delete(ctx, "adm_1", c.ID),
		func() error { _, err := e.Get(ctx, c.ID); return err }(),
		func() error { _, err := e.Get(ctx, "../etc"); return err }(),
		func() error { _, err := e.Lookup(ctx, c.ID); return err }(),
		func() error { _, _, err := e.RotateSecret(ctx, "adm_1", c.ID); return err }(),
		func() error { _, err := e.Update(ctx, "adm_1", c.ID, client.Input{Name: "x"}); return err }(),
	} {
		if auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Errorf("after delete: %v, want ENOTFOUND", err)
		}
	}
	events, _, err := e.db.ListAuditEvents(ctx, auth.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range events {
		if strings.HasPrefix(ev.Type, "client.") {
			types = append(types, ev.Type)
			if ev.Actor != "adm_1" || ev.KeyID != c.ID {
				t.Errorf("event %+v", ev)
			}
		}
	}
	wantTypes := []string{auth.EventClientCreated, auth.EventClientSecretRotated, auth.EventClientUpdated, auth.EventClientDeleted}
	if !slices.Equal(types, wantTypes) {
		t.Errorf("events %v, want %v", types, wantTypes)
	}
}

func TestClientsWithoutSecret(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jc, plaintext := e.mustCreate(t, client.Input{Name: "jwt", AuthMethod: auth.AuthMethodPrivateKeyJWT, JWKS: jwksOf(t, &ec.PublicKey)})
	pc, publicSecret := e.mustCreate(t, client.Input{Name: "spa", Public: true, RedirectURIs: []string{"https://spa.example.com/cb"}})
	if plaintext != "" || publicSecret != "" || len(jc.SecretHash) != 0 || len(pc.SecretHash) != 0 || pc.AuthMethod != auth.AuthMethodNone {
		t.Fatalf("clients without a secret got one: %+v %+v", jc, pc)
	}
	for _, c := range []*auth.Client{jc, pc} {
		if _, _, err := e.RotateSecret(ctx, "adm_1", c.ID); auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("rotate %s client: %v, want EINVALID", c.AuthMethod, err)
		}
	}
}

// pausingStore holds GetClient between its read and its return while armed,
// so a test can change the client in that gap.
type pausingStore struct {
	auth.ClientStore
	armed   chan struct{} // receives once per paused read
	read    chan struct{} // closed when the armed read has its result
	release chan struct{} // closed to let it return
}

func newPausingStore(s auth.ClientStore) *pausingStore {
	p := &pausingStore{ClientStore: s, armed: make(chan struct{}, 1), read: make(chan struct{}), release: make(chan struct{})}
	p.armed <- struct{}{}
	return p
}

func (p *pausingStore) GetClient(ctx context.Context, id string) (*auth.Client, error) {
	c, err := p.ClientStore.GetClient(ctx, id)
	select {
	case <-p.armed:
		close(p.read)
		<-p.release
	default:
	}
	return c, err
}

// lookupAcross runs a Lookup of r whose store read pauses at ps while
// change runs, and returns what the next Lookup finds.
func lookupAcross(t *testing.T, r *client.Registry, ps *pausingStore, id string, change func()) *auth.Client {
	t.Helper()
	done := make(chan error)
	go func() {
		_, err := r.Lookup(context.Background(), id)
		done <- err
	}()
	<-ps.read
	change()
	close(ps.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, err := r.Lookup(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLookupIgnoresReadsOlderThanAChange(t *testing.T) {
	// A lookup that read the client before a change and returns after it
	// must not put the old client (and so the old secret) back in the
	// cache: a rotated secret stops working on this node at once, and so
	// does one rotated on another node once the change feed says so.
	e := newEnv(t)
	ctx := context.Background()
	for name, change := range map[string]func(r, other *client.Registry, id string){
		"rotation on this node": func(r, _ *client.Registry, id string) {
			if _, _, err := r.RotateSecret(ctx, "adm_1", id); err != nil {
				t.Fatal(err)
			}
		},
		"rotation elsewhere, then Forget": func(r, other *client.Registry, id string) {
			if _, _, err := other.RotateSecret(ctx, "adm_1", id); err != nil {
				t.Fatal(err)
			}
			r.Forget(id)
		},
		"rotation elsewhere, then ForgetAll": func(r, other *client.Registry, id string) {
			if _, _, err := other.RotateSecret(ctx, "adm_1", id); err != nil {
				t.Fatal(err)
			}
			r.ForgetAll()
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := e.mustCreate(t, client.Input{Name: "svc", Scopes: []string{"read"}})
			ps := newPausingStore(e.db)
			r, other := e.node(t, ps), e.node(t, e.db)
			got := lookupAcross(t, r, ps, c.ID, func() { change(r, other, c.ID) })
			if bytes.Equal(got.SecretHash, c.SecretHash) {
				t.Fatal("the secret from before the rotation is cached")
			}
		})
	}
}

func TestForgetShowsChangesMadeElsewhere(t *testing.T) {
	// Two nodes over one store: a change on one reaches the other's cache
	// when the other is told (Forget, ForgetAll), and at the latest when
	// its entry expires.
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.Registry, e.node(t, e.db)
	c1, _ := e.mustCreate(t, client.Input{Name: "one"})
	c2, _ := e.mustCreate(t, client.Input{Name: "two"})
	for _, c := range []*auth.Client{c1, c2} {
		if _, err := a.Lookup(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, "adm_1", c.ID); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(id string) bool {
		t.Helper()
		ok, err := a.Exists(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !exists(c1.ID) || !exists(c2.ID) {
		t.Fatal("the other node's cache should still hold the clients (else this test proves nothing)")
	}
	a.Forget(c1.ID)
	if exists(c1.ID) || !exists(c2.ID) {
		t.Fatal("Forget(one) did not drop exactly that client")
	}
	a.ForgetAll()
	if exists(c2.ID) {
		t.Fatal("ForgetAll kept a deleted client")
	}
}

func TestCacheEntriesExpire(t *testing.T) {
	// Without a Forget, the cache's lifetime bounds how stale a client is.
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.Registry, e.node(t, e.db)
	c, _ := e.mustCreate(t, client.Input{Name: "svc"})
	if _, err := a.Lookup(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	rotated, _, err := b.RotateSecret(ctx, "adm_1", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	hashAt := func() []byte {
		t.Helper()
		got, err := a.Lookup(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.SecretHash
	}
	e.clock.Add(10*time.Second - time.Microsecond)
	if !bytes.Equal(hashAt(), c.SecretHash) {
		t.Fatal("the entry was read again before it expired (else this test proves nothing)")
	}
	e.clock.Add(time.Microsecond)
	if !bytes.Equal(hashAt(), rotated.SecretHash) {
		t.Fatal("an expired cache entry still answers")
	}
}

func TestSecretMatches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c, first := e.mustCreate(t, client.Input{Name: "svc"})
	other, otherSecret := e.mustCreate(t, client.Input{Name: "other"})
	if !e.SecretMatches(c, first) || !e.SecretMatches(other, otherSecret) {
		t.Fatal("a client's own secret does not match")
	}
	rotated, second, err := e.RotateSecret(ctx, "adm_1", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := e.mustCreate(t, client.Input{Name: "spa", Public: true, RedirectURIs: []string{"https://spa.example.com/cb"}})
	for name, tc := range map[string]struct {
		c         *auth.Client
		presented string
		want      bool
	}{
		"the new secret":               {rotated, second, true},
		"the secret before rotation":   {rotated, first, false},
		"another client's secret":      {rotated, otherSecret, false},
		"a typo":                       {rotated, second[:len(second)-1] + string(second[len(second)-1]^1), false},
		"empty":                        {rotated, "", false},
		"a refresh token of that body": {rotated, "gate_rt_" + second[len(client.SecretPrefix):], false},
		"a client without a secret":    {pub, second, false},
	} {
		if got := e.SecretMatches(tc.c, tc.presented); got != tc.want {
			t.Errorf("%s: SecretMatches = %v, want %v", name, got, tc.want)
		}
	}
	if client.ValidSecret(second[:len(second)-1]) || !client.ValidSecret(second) {
		t.Error("ValidSecret does not check the format")
	}
}

func TestCachedLookupAllocatesNothing(t *testing.T) {
	// The gateway asks Exists for every access token that names a client.
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	e := newEnv(t)
	ctx := context.Background()
	c, _ := e.mustCreate(t, client.Input{Name: "svc"})
	if _, err := e.Lookup(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = e.Exists(ctx, c.ID) }); n != 0 {
		t.Errorf("Exists of a cached client allocates %.0f times per call", n)
	}
}

func TestExtensionsAreKeptAndUpdatesKeepTheRegistrationToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	in := client.Input{Name: "app", RedirectURIs: []string{"https://app.example.com/cb"},
		GrantTypes:  []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken, auth.GrantTokenExchange},
		RequireDPoP: true, RequirePAR: true, BackchannelLogoutURI: "https://app.example.com/bcl",
		ExchangeIssuers: []string{"https://idp.example", "https://idp.example"}, AllowImpersonation: true,
		Metadata: []byte(`{"contacts":["ops@example.com"]}`)}
	c, _ := e.mustCreate(t, in)
	if !c.RequireDPoP || !c.RequirePAR || c.BackchannelLogoutURI != in.BackchannelLogoutURI ||
		c.ApplicationType != auth.ApplicationWeb || !c.AllowImpersonation ||
		len(c.ExchangeIssuers) != 1 || string(c.Metadata) != string(in.Metadata) {
		t.Fatalf("created %+v", c)
	}
	// A registration access token set by dynamic registration survives an
	// admin's update of the settings.
	stored, err := e.db.GetClient(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.RegistrationTokenHash = []byte("0123456789abcdef0123456789abcdef")
	if err := e.db.UpdateClient(ctx, stored, stored.UpdatedAt); err != nil {
		t.Fatal(err)
	}
	in.RequireDPoP, in.ApplicationType = false, auth.ApplicationNative
	up, err := e.Update(ctx, "adm_1", c.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	if up.RequireDPoP || up.ApplicationType != auth.ApplicationNative || string(up.RegistrationTokenHash) != string(stored.RegistrationTokenHash) {
		t.Fatalf("updated %+v", up)
	}
}

// TestLoopbackLogoutURIsFollowTheDeliverySetting: a registry given
// oauth.backchannel_logout.allow_loopback (--dev) accepts loopback logout
// URIs, as its notifier delivers to them; without it, the registration is
// refused with a message naming the setting, instead of deliveries that
// are silently given up. The rule is the notifier's too.
func TestLoopbackLogoutURIsFollowTheDeliverySetting(t *testing.T) {
	e := newEnv(t)
	dev, err := client.New(client.Config{Store: e.db, Hasher: e.hasher, Now: e.clock.Now, AllowLoopbackLogoutURIs: true})
	if err != nil {
		t.Fatal(err)
	}
	in := client.Input{Name: "rp", RedirectURIs: []string{"https://app.example.com/cb"}}
	for _, uri := range []string{"http://127.0.0.1:9000/bcl", "http://[::1]:9000/bcl", "https://localhost/bcl"} {
		in.BackchannelLogoutURI = uri
		_, _, err := e.Create(context.Background(), "adm_1", in)
		if auth.ErrorCode(err) != auth.EINVALID || !strings.Contains(err.Error(), "allow_loopback") {
			t.Errorf("%s without allow_loopback: %v, want EINVALID naming the setting", uri, err)
		}
		if c, _, err := dev.Create(context.Background(), "adm_1", in); err != nil || c.BackchannelLogoutURI != uri {
			t.Errorf("%s with allow_loopback: %v", uri, err)
		}
		if err := client.CheckBackchannelLogoutURI(uri, false); err == nil {
			t.Errorf("the delivery rule accepts %s without allow_loopback", uri)
		}
	}
	in.BackchannelLogoutURI = "http://app.example.com/bcl"
	if _, _, err := dev.Create(context.Background(), "adm_1", in); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("plain http off loopback with allow_loopback: %v", err)
	}
}
