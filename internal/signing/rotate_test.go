package signing

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/verify"
)

func statuses(k *Keyring) string {
	var out []string
	for _, ki := range k.Keys() {
		out = append(out, ki.Status)
	}
	return strings.Join(out, ",")
}

func byStatus(k *Keyring) map[string][]KeyInfo {
	out := map[string][]KeyInfo{}
	for _, ki := range k.Keys() {
		out[ki.Status] = append(out[ki.Status], ki)
	}
	return out
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	return decodeSegment(t, tok, 0)["kid"].(string)
}

func jwksKIDs(t *testing.T, k *Keyring) []string {
	t.Helper()
	body, _ := k.JWKS()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, key := range set.Keys {
		kids = append(kids, key["kid"].(string))
	}
	return kids
}

func TestNewPublishesCurrentAndNext(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	k := newKeyring(t, newStore(t), opts)
	keys := k.Keys()
	if len(keys) != 2 || statuses(k) != "current,next" {
		t.Fatalf("keys %+v; want a current and a next key", keys)
	}
	cur, next := keys[0], keys[1]
	if !cur.ActivatesAt.Equal(c.Now()) || !next.ActivatesAt.Equal(cur.ActivatesAt.Add(opts.RotationPeriod)) {
		t.Fatalf("activation times %v, %v", cur.ActivatesAt, next.ActivatesAt)
	}
	if cur.Algorithm != ES256 || next.Algorithm != ES256 || len(cur.ID) != 22 || cur.ID == next.ID {
		t.Fatalf("keys %+v", keys)
	}
	if kids := jwksKIDs(t, k); !slices.Equal(kids, []string{cur.ID, next.ID}) {
		t.Fatalf("JWKS kids %v", kids)
	}
	// A second node on the same store finds the keys and creates none.
	k2 := newKeyring(t, k.store, opts)
	if got := k2.Keys(); len(got) != 2 || got[0].ID != cur.ID || got[1].ID != next.ID {
		t.Fatalf("second node keys %+v", got)
	}
}

func TestJWKSPublicOnlyWithETag(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{ES256, RS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			opts := testOptions(c)
			opts.Algorithm = alg
			k := newKeyring(t, newStore(t), opts)
			body, etag := k.JWKS()
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 2 {
				t.Fatalf("JWKS %s: %v", body, err)
			}
			want := map[string][]string{ES256: {"alg", "crv", "kid", "kty", "use", "x", "y"}, RS256: {"alg", "e", "kid", "kty", "n", "use"}, EdDSA: {"alg", "crv", "kid", "kty", "use", "x"}}[alg]
			for _, key := range set.Keys {
				var names []string
				for name := range key {
					names = append(names, name)
				}
				slices.Sort(names)
				if !slices.Equal(names, want) || key["use"] != "sig" || key["alg"] != alg {
					t.Fatalf("JWK %v; want exactly the members %v", key, want)
				}
			}
			if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 {
				t.Fatalf("ETag %q is not a quoted strong validator", etag)
			}
			if err := k.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
			if body2, etag2 := k.JWKS(); !bytes.Equal(body, body2) || etag2 != etag {
				t.Fatal("a reload with no change changed the JWKS or its ETag")
			}
			c.Add(opts.RotationPeriod)
			if err := k.maintain(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, etag3 := k.JWKS(); etag3 == etag {
				t.Fatal("rotation did not change the ETag")
			}
			if k.CacheControl() != "public, max-age=300" {
				t.Fatalf("CacheControl %q", k.CacheControl())
			}
		})
	}
}

// TestScheduledRotation follows a key chain across two periods on two
// nodes sharing the store: the next key is published before it signs, and
// tokens of the old key verify until their own expiry on both nodes.
func TestScheduledRotation(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	store := newStore(t)
	node1 := newKeyring(t, store, opts)
	node2 := newKeyring(t, store, opts)
	first, second := node1.Keys()[0], node1.Keys()[1]

	// Just before the switch: the old key signs a token that lives an hour.
	c.Add(opts.RotationPeriod - time.Second)
	long := accessClaims(c.Now())
	long.ExpiresAt = c.Now().Add(opts.MaxTokenTTL)
	oldTok, err := node1.Sign("at+jwt", long)
	if err != nil || kidOf(t, oldTok) != first.ID {
		t.Fatalf("before the switch: %v, kid %s", err, kidOf(t, oldTok))
	}
	// The switch happens by time alone, on both nodes, with no store call:
	// the next key has been published for a whole period.
	c.Add(time.Second)
	for i, n := range []*Keyring{node1, node2} {
		tok, err := n.Sign("at+jwt", accessClaims(c.Now()))
		if err != nil || kidOf(t, tok) != second.ID {
			t.Fatalf("node %d after the switch: %v, kid %s; want %s", i+1, err, kidOf(t, tok), second.ID)
		}
		if _, err := verifyWith(node1, tok, wantAccess); err != nil {
			t.Fatal(err)
		}
	}
	if statuses(node2) != "retired,current" {
		t.Fatalf("before Run records it, the superseded key should list as retired: %s", statuses(node2))
	}
	// Run on node 1 retires the first key and publishes the following one.
	if err := node1.maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	keys := node1.Keys()
	if statuses(node1) != "retired,current,next" || keys[0].ID != first.ID || keys[1].ID != second.ID {
		t.Fatalf("after Run: %+v", keys)
	}
	third := keys[2]
	if !keys[0].ExpiresAt.Equal(c.Now().Add(opts.MaxTokenTTL+opts.ReloadInterval+opts.Leeway)) || !keys[0].RetiredAt.Equal(c.Now()) {
		t.Fatalf("retired key dates %+v", keys[0])
	}
	if !third.ActivatesAt.Equal(second.ActivatesAt.Add(opts.RotationPeriod)) || third.Algorithm != ES256 {
		t.Fatalf("the following key %+v", third)
	}
	// Node 2 sees it all after its reload; both verify the old token until
	// its exp (plus leeway), then refuse it as expired.
	if err := node2.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(jwksKIDs(t, node2), []string{first.ID, second.ID, third.ID}) {
		t.Fatalf("node 2 JWKS %v", jwksKIDs(t, node2))
	}
	c.Add(opts.MaxTokenTTL - 2*time.Second)
	for i, n := range []*Keyring{node1, node2} {
		if _, err := verifyWith(n, oldTok, wantAccess); err != nil {
			t.Fatalf("node %d refuses a token of the retired key before its exp: %v", i+1, err)
		}
	}
	c.Add(time.Minute)
	if _, err := verifyWith(node2, oldTok, wantAccess); verify.ReasonOf(err) != verify.ReasonExpired {
		t.Fatalf("after exp: %v", err)
	}

	// Past the retention, Run deletes the old key: gone from the JWKS and
	// the store; its tokens (long expired) name an unknown key.
	c.Add(opts.ReloadInterval + opts.Leeway)
	if err := node2.maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if statuses(node2) != "current,next" || slices.Contains(jwksKIDs(t, node2), first.ID) {
		t.Fatalf("after deletion: %v, JWKS %v", node2.Keys(), jwksKIDs(t, node2))
	}
	recs, _ := store.ListSigningKeys(t.Context())
	if len(recs) != 2 || recs[0].ID != second.ID {
		t.Fatalf("store holds %d keys", len(recs))
	}
	if _, err := verifyWith(node2, oldTok, Expect{Type: "at+jwt", Issuer: testIssuer, Leeway: 1000 * time.Hour}); verify.ReasonOf(err) != verify.ReasonUnknownKID {
		t.Fatalf("token of a deleted key: %v", err)
	}
	// Node 1 publishes the deleted key until its next reload (within
	// ReloadInterval; its tokens expired a retention ago), then refuses
	// its tokens as of an unknown key too.
	if err := node1.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyWith(node1, oldTok, Expect{Type: "at+jwt", Issuer: testIssuer, Leeway: 1000 * time.Hour}); verify.ReasonOf(err) != verify.ReasonUnknownKID {
		t.Fatalf("node 1, token of an expired key: %v", err)
	}
}

// TestEveryKeyPublishedBeforeItSigns walks two rotation periods in steps,
// with Run and on-demand rotations on two nodes, and checks that whatever key signs at any step had been in the
// JWKS for at least the publication delay.
func TestEveryKeyPublishedBeforeItSigns(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	opts.MaxTokenTTL = 3 * time.Hour
	store := newStore(t)
	nodes := []*Keyring{newKeyring(t, store, opts), newKeyring(t, store, opts)}
	firstSeen := map[string]time.Time{}
	observe := func() {
		for _, n := range nodes {
			for _, kid := range jwksKIDs(t, n) {
				if _, ok := firstSeen[kid]; !ok {
					firstSeen[kid] = c.Now()
				}
			}
		}
	}
	observe()
	genesis := nodes[0].Keys()[0].ID
	var tokens []string
	// Steps shorter than a token's lifetime, so tokens live across steps
	// and across rotations.
	step := 140 * time.Minute
	end := c.Now().Add(2 * opts.RotationPeriod)
	for i := 0; c.Now().Before(end); i++ {
		c.Add(step)
		// Run reloads every ReloadInterval; steps are far longer.
		for _, n := range nodes {
			if err := n.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		n := nodes[i%2]
		if err := n.maintain(t.Context()); err != nil {
			t.Fatal(err)
		}
		if i%47 == 0 {
			if _, err := nodes[(i+1)%2].Rotate(t.Context(), "key_admin"); err != nil && auth.ErrorCode(err) != auth.ECONFLICT {
				t.Fatal(err)
			}
		}
		observe()
		for _, s := range nodes {
			cl := accessClaims(c.Now())
			cl.ExpiresAt = c.Now().Add(opts.MaxTokenTTL)
			tok, err := s.Sign("at+jwt", cl)
			if err != nil {
				t.Fatal(err)
			}
			kid := kidOf(t, tok)
			if kid != genesis && c.Now().Sub(firstSeen[kid]) < publishDelay(&opts) {
				t.Fatalf("at %v key %s signs; published only since %v", c.Now(), kid, firstSeen[kid])
			}
			tokens = append(tokens, tok)
		}
		// Every token signed within its lifetime still verifies on both.
		for _, tok := range tokens {
			var cl struct {
				Expiry int64 `json:"exp"`
			}
			_ = json.Unmarshal(mustDecode(t, strings.Split(tok, ".")[1]), &cl)
			if c.Now().After(time.Unix(cl.Expiry, 0)) {
				continue
			}
			for j, v := range nodes {
				if _, err := verifyWith(v, tok, wantAccess); err != nil {
					t.Fatalf("at %v node %d refuses a live token of key %s: %v", c.Now(), j+1, kidOf(t, tok), err)
				}
			}
		}
		tokens = slices.DeleteFunc(tokens, func(tok string) bool {
			var cl struct {
				Expiry int64 `json:"exp"`
			}
			_ = json.Unmarshal(mustDecode(t, strings.Split(tok, ".")[1]), &cl)
			return c.Now().After(time.Unix(cl.Expiry, 0).Add(opts.Leeway))
		})
	}
	if len(firstSeen) < 8 {
		t.Fatalf("only %d keys in two periods", len(firstSeen))
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRotateOnDemand(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	store := newStore(t)
	node1 := newKeyring(t, store, opts)
	node2 := newKeyring(t, store, opts)
	first, second := node1.Keys()[0], node1.Keys()[1]

	// Right after the first start the next key is brand new: clients may
	// not have it, so rotating now would break them.
	if _, err := node1.Rotate(t.Context(), "key_admin"); auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("Rotate with a fresh next key: %v; want ECONFLICT", err)
	}
	c.Add(publishDelay(&opts))
	oldTok, _ := node1.Sign("at+jwt", accessClaims(c.Now()))
	info, err := node1.Rotate(t.Context(), "key_admin")
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != second.ID || info.Status != StatusCurrent {
		t.Fatalf("Rotate returned %+v; want the former next key %s", info, second.ID)
	}
	tok, _ := node1.Sign("at+jwt", accessClaims(c.Now()))
	if kidOf(t, tok) != second.ID {
		t.Fatalf("after Rotate node 1 signs with %s", kidOf(t, tok))
	}
	keys := node1.Keys()
	if statuses(node1) != "retired,current,next" || keys[0].ID != first.ID {
		t.Fatalf("after Rotate: %+v", keys)
	}
	if keys[2].ActivatesAt != second.ActivatesAt.Add(opts.RotationPeriod) {
		t.Fatalf("the new next key activates at %v", keys[2].ActivatesAt)
	}
	// Node 2 has not reloaded: it still signs with the retired key for up
	// to a reload interval, and it already knows the key node 1 now uses.
	tok2, _ := node2.Sign("at+jwt", accessClaims(c.Now()))
	if kidOf(t, tok2) != first.ID {
		t.Fatal("node 2 should still sign with the old key until it reloads")
	}
	for _, pair := range []struct {
		n   *Keyring
		tok string
	}{{node1, oldTok}, {node1, tok2}, {node2, tok}, {node2, oldTok}} {
		if _, err := verifyWith(pair.n, pair.tok, wantAccess); err != nil {
			t.Fatalf("a token fails verification because of a rotation: %v", err)
		}
	}
	// A second rotation right away would promote a key published seconds
	// ago: refused.
	if _, err := node2.Rotate(t.Context(), "key_admin"); auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("second immediate Rotate: %v", err)
	}
	if kidOf(t, mustSign(t, node2)) != second.ID {
		t.Fatal("node 2 Rotate reloads first; it should now sign with the second key")
	}
	// Audit: created x3 (system, system, admin), retired x1 (admin).
	var got []string
	events, _, err := store.ListAuditEvents(t.Context(), auth.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		got = append(got, ev.Type+"/"+ev.Actor+"/"+ev.Details["alg"])
		if ev.Details["kid"] == "" {
			t.Fatalf("event %+v without a kid", ev)
		}
	}
	want := []string{
		"signing_key.created/system/ES256", "signing_key.created/system/ES256",
		"signing_key.retired/key_admin/ES256", "signing_key.created/key_admin/ES256",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v\nwant %v", got, want)
	}
}

func mustSign(t *testing.T, k *Keyring) string {
	t.Helper()
	tok, err := k.Sign("at+jwt", accessClaims(k.now()))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRacingNodesCreateNextTwice: two nodes that both find no next key
// both create one; a later pass keeps one, and nothing fails meanwhile.
func TestRacingNodesCreateNextTwice(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	store := newStore(t)
	node1 := newKeyring(t, store, opts)
	node2 := newKeyring(t, store, opts)
	c.Add(opts.RotationPeriod)
	// Both act on the same view, as if neither saw the other's write.
	node1.mu.Lock()
	node2.mu.Lock()
	if _, err := node1.maintainLocked(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := node2.maintainLocked(t.Context()); err != nil { // retires the same key again: ECONFLICT, ignored
		t.Fatal(err)
	}
	node1.mu.Unlock()
	node2.mu.Unlock()
	if err := node1.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if statuses(node1) != "retired,current,next,next" {
		t.Fatalf("after the race: %s", statuses(node1))
	}
	tokBefore := mustSign(t, node2)
	if err := node2.maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := node1.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := statuses(node1); s != "retired,current,next,retired" && s != "retired,current,retired,next" {
		t.Fatalf("after clean-up: %s", s)
	}
	if _, err := verifyWith(node1, tokBefore, wantAccess); err != nil {
		t.Fatal(err)
	}
	c.Add(opts.RotationPeriod)
	a, b := kidOf(t, mustSign(t, node1)), kidOf(t, mustSign(t, node2))
	if a != b {
		t.Fatalf("the nodes sign with different keys: %s and %s", a, b)
	}
}

func TestScheduleThatFellBehind(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	k := newKeyring(t, newStore(t), opts)
	second := k.Keys()[1]
	c.Add(3 * opts.RotationPeriod) // nobody ran for three months
	if kidOf(t, mustSign(t, k)) != second.ID {
		t.Fatal("the latest activated key should sign")
	}
	if err := k.maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	next := k.Keys()[2]
	if next.Status != StatusNext || next.ActivatesAt.Before(c.Now().Add(publishDelay(&opts))) {
		t.Fatalf("the new next key %+v activates before it has been published long enough", next)
	}
	if kidOf(t, mustSign(t, k)) != second.ID {
		t.Fatal("the new next key signs at once")
	}
	c.Add(publishDelay(&opts))
	if kidOf(t, mustSign(t, k)) != next.ID {
		t.Fatal("the overdue key was not replaced after the publication delay")
	}
}

func TestAlgorithmChangeAppliesToTheNextRotation(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	store := newStore(t)
	esNode := newKeyring(t, store, opts)
	esTok := mustSign(t, esNode)
	c.Add(time.Hour)

	// A node restarted with RS256 replaces the ES256 next key.
	rsOpts := opts
	rsOpts.Algorithm = EdDSA
	edNode := newKeyring(t, store, rsOpts)
	if err := edNode.maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := byStatus(edNode)
	if len(got[StatusCurrent]) != 1 || len(got[StatusRetired]) != 1 || len(got[StatusNext]) != 1 ||
		got[StatusCurrent][0].Algorithm != ES256 || got[StatusRetired][0].Algorithm != ES256 || got[StatusNext][0].Algorithm != EdDSA {
		t.Fatalf("after the change: %+v", edNode.Keys())
	}
	if !got[StatusNext][0].ActivatesAt.Equal(got[StatusCurrent][0].ActivatesAt.Add(opts.RotationPeriod)) {
		t.Fatal("the replacement keeps the schedule")
	}
	// The ES256 node started earlier: it leaves the EdDSA key alone.
	if err := esNode.maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if again := byStatus(esNode); len(again[StatusNext]) != 1 || again[StatusNext][0].ID != got[StatusNext][0].ID || len(again[StatusRetired]) != 1 {
		t.Fatalf("the ES256 node changed the keys: %+v", esNode.Keys())
	}
	c.Add(opts.RotationPeriod)
	tok := mustSign(t, esNode)
	if decodeSegment(t, tok, 0)["alg"] != EdDSA {
		t.Fatal("the next rotation did not switch to EdDSA")
	}
	for _, tk := range []string{tok, esTok} {
		if _, err := verifyWith(edNode, tk, Expect{Type: "at+jwt", Issuer: testIssuer, Leeway: 2000 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	if algs := edNode.Algorithms(); !slices.Equal(algs, []string{ES256, EdDSA}) {
		t.Fatalf("Algorithms = %v", algs)
	}
}

// TestStoredPrivateKeyIsSealed proves the store holds no usable private
// key: not PKCS#8, no PEM or DER structure, no private scalar or seed.
func TestStoredPrivateKeyIsSealed(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{ES256, RS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			opts := testOptions(c)
			opts.Algorithm = alg
			store := newStore(t)
			k := newKeyring(t, store, opts)
			recs, err := store.ListSigningKeys(t.Context())
			if err != nil || len(recs) != 2 {
				t.Fatal(len(recs), err)
			}
			for _, rec := range recs {
				priv := k.snap.Load().byKID[rec.ID].private
				der, _ := x509.MarshalPKCS8PrivateKey(priv)
				var secrets [][]byte
				switch p := priv.(type) {
				case *ecdsa.PrivateKey:
					b, _ := p.Bytes()
					secrets = append(secrets, b)
				case ed25519.PrivateKey:
					secrets = append(secrets, p.Seed())
				default: // RSA: the primes
					for _, prime := range privPrimes(p) {
						secrets = append(secrets, prime)
					}
				}
				sealed := rec.PrivateKey
				if _, err := x509.ParsePKCS8PrivateKey(sealed); err == nil {
					t.Fatal("the stored private key parses as PKCS#8")
				}
				if bytes.Contains(sealed, []byte("-----BEGIN")) || bytes.Contains(sealed, der[:16]) || bytes.Contains(sealed, der[len(der)-16:]) {
					t.Fatal("the stored private key holds PEM or PKCS#8 DER")
				}
				for _, s := range secrets {
					if bytes.Contains(sealed, s[:16]) {
						t.Fatal("the stored private key holds the private scalar")
					}
				}
				if bytes.Contains(rec.PublicJWK, []byte(`"d"`)) || bytes.Contains(rec.PublicJWK, []byte(`"p"`)) {
					t.Fatal("the stored public JWK has private members")
				}
			}
			// Another master key cannot open them: New fails, closed.
			if _, err := New(t.Context(), store, testSealer(t, "not the server secret, but as long as one"), opts); err == nil {
				t.Fatal("New opened the keys with a wrong master key")
			}
		})
	}
}

func privPrimes(p any) [][]byte {
	var out [][]byte
	if r, ok := p.(*rsa.PrivateKey); ok {
		for _, q := range r.Primes {
			out = append(out, q.Bytes())
		}
		out = append(out, r.D.Bytes())
	}
	return out
}

// TestSealedKeySwappedOntoAnotherRow: the kid is bound to the ciphertext,
// so copying one row's sealed key onto another makes New fail; so does a
// row whose public key is another row's.
func TestSealedKeySwappedOntoAnotherRow(t *testing.T) {
	t.Parallel()
	for _, column := range []string{"private_key", "public_jwk"} {
		t.Run(column, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(newClock())
			store, path := newStoreAt(t)
			keys := newKeyring(t, store, opts).Keys()
			raw, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.ExecContext(t.Context(),
				`UPDATE signing_keys SET `+column+` = (SELECT `+column+` FROM signing_keys WHERE id = ?) WHERE id = ?`,
				keys[0].ID, keys[1].ID); err != nil {
				t.Fatal(err)
			}
			if _, err := New(t.Context(), store, testSealer(t, testSecret), opts); err == nil {
				t.Fatalf("New accepted a row whose %s is another row's", column)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	c := newClock()
	for name, mod := range map[string]func(o *Options){
		"unknown algorithm":    func(o *Options) { o.Algorithm = "HS256" },
		"lower-case algorithm": func(o *Options) { o.Algorithm = "es256" },
		"none":                 func(o *Options) { o.Algorithm = "none" },
		"period too short":     func(o *Options) { o.RotationPeriod = 10 * time.Minute },
		"negative TTL":         func(o *Options) { o.MaxTokenTTL = -time.Hour },
	} {
		opts := testOptions(c)
		mod(&opts)
		if _, err := New(t.Context(), newStore(t), testSealer(t, testSecret), opts); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := New(t.Context(), nil, testSealer(t, testSecret), testOptions(c)); err == nil {
		t.Error("New accepted a nil store")
	}
	k := newKeyring(t, newStore(t), Options{Logger: testOptions(c).Logger})
	if k.opts.RotationPeriod != DefaultRotationPeriod || k.opts.MaxTokenTTL != DefaultMaxTokenTTL || k.opts.Algorithm != ES256 {
		t.Fatalf("defaults %+v", k.opts)
	}
}

func TestSignRefusesBadTyp(t *testing.T) {
	t.Parallel()
	k := newKeyring(t, newStore(t), testOptions(newClock()))
	for _, typ := range []string{"", strings.Repeat("x", 65)} {
		if _, err := k.Sign(typ, accessClaims(k.now())); err == nil {
			t.Errorf("Sign accepted typ %q", typ)
		}
	}
	if _, err := k.Sign("at+jwt", func() {}); err == nil {
		t.Error("Sign accepted claims that are not JSON")
	}
	// Many typ values: all sign, only a few signers are cached.
	for i := range 20 {
		if _, err := k.Sign("t"+strings.Repeat("x", i), verify.Claims{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := k.currentEntry().cached.Load(); n != maxCachedSigners {
		t.Fatalf("%d signers cached", n)
	}
}

func TestRunRotatesUntilCancelled(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	opts.ReloadInterval = time.Millisecond
	opts.RotationPeriod = time.Hour
	store := newStore(t)
	k := newKeyring(t, store, opts)
	first := k.Keys()[0].ID
	c.Add(opts.RotationPeriod)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for statuses(k) != "retired,current,next" {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not rotate: %s", statuses(k))
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if k.Keys()[0].ID != first {
		t.Fatal("the wrong key was retired")
	}
}

// A node told of another node's key change (Options.Changed, from the
// change feed) reloads at once, not at its next ReloadInterval.
func TestRunReloadsWhenToldOfAChange(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	opts.ReloadInterval = time.Hour // never, in this test
	store := newStore(t)
	other := newKeyring(t, store, opts)
	// Unbuffered: a send returns once Run has taken it, so the first one
	// also says that Run's first pass (which reloads) is over.
	changed := make(chan struct{})
	tell := func() {
		t.Helper()
		select {
		case changed <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatal("Run does not listen for changes")
		}
	}
	opts.Changed = changed
	k := newKeyring(t, store, opts)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	tell()

	c.Add(publishDelay(&opts)) // the next key may sign
	rotated, err := other.Rotate(t.Context(), "adm_1")
	if err != nil {
		t.Fatal(err)
	}
	tell()
	deadline := time.Now().Add(10 * time.Second)
	for k.CurrentKeyID() != rotated.ID {
		if time.Now().After(deadline) {
			t.Fatalf("told of the rotation, the node still signs with %s, not %s", k.CurrentKeyID(), rotated.ID)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// A node whose change feed is lost hears of no change, but its Kick
// (changes.Kick) still wakes Run every auth.FeedMaxAge: another node's
// rotation applies within about a second, not at the next ReloadInterval.
func TestRunReloadsEverySecondWhileTheFeedIsLost(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	opts.ReloadInterval = time.Hour // never, in this test
	store := newStore(t)
	other := newKeyring(t, store, opts)
	kick := changes.NewKick()
	kick.FeedLost(errors.New("connection reset")) // and never synced again
	// The kick's wake-ups reach Run through an unbuffered relay, which
	// says when Run has taken each: Run takes one only once it is done
	// with what the one before started.
	relay, taken := make(chan struct{}), make(chan struct{}, 100)
	opts.Changed = relay
	k := newKeyring(t, store, opts)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go kick.Run(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick.C:
			}
			select {
			case <-ctx.Done():
				return
			case relay <- struct{}{}:
				taken <- struct{}{}
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	for i := range 2 { // the second: Run is done with every reload before the rotation
		select {
		case <-taken:
		case <-time.After(3 * auth.FeedMaxAge):
			t.Fatalf("wake-up %d never came with the feed lost", i+1)
		}
	}

	c.Add(publishDelay(&opts)) // the next key may sign
	rotated, err := other.Rotate(t.Context(), "adm_1")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// FeedMaxAge, and slack for a loaded machine: far below ReloadInterval.
	for k.CurrentKeyID() != rotated.ID {
		if time.Since(start) > 3*auth.FeedMaxAge {
			t.Fatalf("with the feed lost, the node still signs with %s, not %s, after %v", k.CurrentKeyID(), rotated.ID, time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// TestConcurrentSignVerifyDuringRotation runs the hot paths against
// reloads and rotations (meaningful under -race).
func TestConcurrentSignVerifyDuringRotation(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	k := newKeyring(t, newStore(t), opts)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cl := accessClaims(c.Now())
				cl.ExpiresAt = c.Now().Add(24 * time.Hour) // the clock moves meanwhile
				tok, err := k.Sign("at+jwt", cl)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := verifyWith(k, tok, wantAccess); err != nil {
					t.Error(err)
					return
				}
				_, _ = k.JWKS()
				_ = k.Keys()
			}
		})
	}
	for range 10 {
		c.Add(publishDelay(&opts))
		if _, err := k.Rotate(t.Context(), "key_admin"); err != nil {
			t.Error(err)
		}
		if err := k.maintain(t.Context()); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}
