package secretscan_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secretscan"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// GitHub's own sample from the partner program documentation (the Python
// validation sample): a payload, its signature and the public key that
// signed it. Verifying it holds our code to GitHub's, not to itself.
const (
	githubSampleKeyID   = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a"
	githubSamplePayload = `[{"token":"some_token","type":"some_type","url":"some_url"}]`
	githubSampleSig     = "MEUCIQDKZokqnCjrRtw0tni+2Ltvl/uiMJ1EGumEsp1BsNr32AIgQY1YXD2nlj+XNfGK4rBfkMJ1JDOQcYXxa2sY8FNkrKc="
	githubSampleDoc     = `{"public_keys":[{"key_identifier":"` + githubSampleKeyID + `","key":"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9MJJHnMfn2+H4xL4YaPDA4RpJqUq\nkCmRCBnYERxZanmcpzQSXs1X/AljlKkbJ8qpVIW4clayyef9gWhFbNHWAA==\n-----END PUBLIC KEY-----\n","is_current":false}]}`
)

func TestGitHubsPublishedSampleVerifies(t *testing.T) {
	t.Parallel()
	keys, err := secretscan.ParsePublicKeys([]byte(githubSampleDoc))
	if err != nil {
		t.Fatalf("ParsePublicKeys: %v", err)
	}
	pub := keys[githubSampleKeyID]
	if !secretscan.VerifySignature(pub, []byte(githubSamplePayload), githubSampleSig) {
		t.Fatal("GitHub's sample signature does not verify")
	}
	for name, body := range map[string]string{
		"trailing newline": githubSamplePayload + "\n",
		"re-encoded":       `[{"token": "some_token","type":"some_type","url":"some_url"}]`,
		"other token":      strings.Replace(githubSamplePayload, "some_token", "some_tokeN", 1),
	} {
		if secretscan.VerifySignature(pub, []byte(body), githubSampleSig) {
			t.Errorf("%s: the sample signature verifies an altered body", name)
		}
	}
}

// signer is a test ECDSA P-256 key standing for one of GitHub's.
type signer struct {
	id  string
	key *ecdsa.PrivateKey
}

func newSigner(t testing.TB, id string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{id: id, key: k}
}

func (s signer) sign(t testing.TB, body []byte) string {
	t.Helper()
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// keyServer serves a public keys document, GitHub's shape, and counts
// fetches.
type keyServer struct {
	*httptest.Server
	mu      sync.Mutex
	doc     []byte
	status  int
	fetches atomic.Int64
}

func newKeyServer(t testing.TB, signers ...signer) *keyServer {
	t.Helper()
	ks := &keyServer{status: http.StatusOK}
	ks.setKeys(t, signers...)
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		doc, status := ks.doc, ks.status
		ks.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(doc)
	}))
	t.Cleanup(ks.Close)
	return ks
}

func publicKeysDoc(t testing.TB, signers ...signer) []byte {
	t.Helper()
	type key struct {
		ID      string `json:"key_identifier"`
		Key     string `json:"key"`
		Current bool   `json:"is_current"`
	}
	doc := struct {
		Keys []key `json:"public_keys"`
	}{Keys: []key{}}
	for i, s := range signers {
		der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		doc.Keys = append(doc.Keys, key{ID: s.id, Key: string(pemKey), Current: i == len(signers)-1})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (ks *keyServer) setKeys(t testing.TB, signers ...signer) {
	b := publicKeysDoc(t, signers...)
	ks.mu.Lock()
	ks.doc = b
	ks.mu.Unlock()
}

func (ks *keyServer) setResponse(status int, doc []byte) {
	ks.mu.Lock()
	ks.status, ks.doc = status, doc
	ks.mu.Unlock()
}

func newPublicKeys(t testing.TB, ks *keyServer, clock *testenv.Clock, configure ...func(*secretscan.KeysConfig)) *secretscan.PublicKeys {
	t.Helper()
	cfg := secretscan.KeysConfig{URL: ks.URL, Client: ks.Client(), Now: clock.Now}
	for _, f := range configure {
		f(&cfg)
	}
	p, err := secretscan.NewPublicKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func TestPublicKeysAreCachedAndRefetchedWithinBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := newSigner(t, "key-a"), newSigner(t, "key-b")
	ks := newKeyServer(t, a)
	clock := testenv.NewClock(t0)
	p := newPublicKeys(t, ks, clock)

	key := func(id string) error {
		t.Helper()
		_, err := p.Key(ctx, id)
		return err
	}
	if err := key("key-a"); err != nil {
		t.Fatalf("Key(key-a) = %v", err)
	}
	if err := key("key-a"); err != nil || ks.fetches.Load() != 1 {
		t.Fatalf("Key(key-a) again = %v after %d fetches, want 1 fetch", err, ks.fetches.Load())
	}

	// An unknown identifier fetches again, at most once per MinRefetch:
	// made-up identifiers cannot make us hammer the URL.
	// The first is refused as unknown once the document is fetched again;
	// the others within MinRefetch cannot be checked, so they are told to
	// retry (503), not that the report is forged: a made-up id must not
	// turn a report signed with a key GitHub just added into a 401.
	clock.Add(secretscan.DefaultMinRefetch)
	if err := key("made-up"); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("Key(made-up) = %v, want unauthorized", err)
	}
	for range 4 {
		if err := key("made-up"); auth.ErrorCode(err) != auth.EUNAVAILABLE {
			t.Fatalf("Key(made-up) within MinRefetch = %v, want unavailable", err)
		}
	}
	if n := ks.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after five unknown identifiers, want 2", n)
	}

	// GitHub adds a key: within MinRefetch of the last fetch it is not
	// known yet; after, the report signed by it fetches the document again.
	ks.setKeys(t, a, b)
	if err := key("key-b"); auth.ErrorCode(err) != auth.EUNAVAILABLE {
		t.Fatalf("Key(key-b) within MinRefetch = %v, want unavailable (retry)", err)
	}
	clock.Add(secretscan.DefaultMinRefetch)
	if err := key("key-b"); err != nil {
		t.Fatalf("Key(key-b) = %v", err)
	}
	if n := ks.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}

	// Past TTL the document is fetched again; if that fails, the old one
	// serves until MaxStale, then reports are answered unavailable.
	ks.setResponse(http.StatusInternalServerError, []byte("{}"))
	clock.Add(secretscan.DefaultKeysTTL)
	if err := key("key-a"); err != nil {
		t.Fatalf("Key(key-a) with a stale document and a failing URL = %v, want the stale key", err)
	}
	if n := ks.fetches.Load(); n != 4 {
		t.Fatalf("%d fetches, want 4", n)
	}
	clock.Add(secretscan.DefaultMaxStale)
	if err := key("key-a"); auth.ErrorCode(err) != auth.EUNAVAILABLE {
		t.Fatalf("Key(key-a) past MaxStale = %v, want unavailable", err)
	}
}

func TestPublicKeysRefuseBadDocuments(t *testing.T) {
	t.Parallel()
	a := newSigner(t, "key-a")
	rsaLike := strings.Replace(string(publicKeysDoc(t, a)), "PUBLIC KEY", "RSA PUBLIC KEY", -1)
	for name, tc := range map[string]struct {
		status int
		doc    []byte
	}{
		"not found":    {http.StatusNotFound, publicKeysDoc(t, a)},
		"not JSON":     {http.StatusOK, []byte("<html>")},
		"no keys":      {http.StatusOK, []byte(`{"public_keys":[]}`)},
		"not PKIX":     {http.StatusOK, []byte(rsaLike)},
		"too large":    {http.StatusOK, append(publicKeysDoc(t, a)[:1], append([]byte(`"pad":"`+strings.Repeat("x", secretscan.MaxPublicKeysDocBytes)+`",`), publicKeysDoc(t, a)[1:]...)...)},
		"not an array": {http.StatusOK, []byte(`{"public_keys":{}}`)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ks := newKeyServer(t)
			ks.setResponse(tc.status, tc.doc)
			p := newPublicKeys(t, ks, testenv.NewClock(t0))
			if _, err := p.Key(context.Background(), "key-a"); auth.ErrorCode(err) != auth.EUNAVAILABLE {
				t.Fatalf("Key = %v, want unavailable", err)
			}
		})
	}
}

func TestPublicKeysFetchIsBoundedInTime(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(hang) })
	p, err := secretscan.NewPublicKeys(secretscan.KeysConfig{URL: srv.URL, Client: srv.Client(), FetchTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := p.Key(context.Background(), "key-a"); auth.ErrorCode(err) != auth.EUNAVAILABLE {
		t.Fatalf("Key = %v, want unavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a hanging key server held the request %v", d)
	}
}

// reporter records what the Scanner hands on, and answers as if the keys
// in ours were this deployment's.
type reporter struct {
	mu    sync.Mutex
	calls []string
	ours  map[string]bool
}

func (r *reporter) ReportLeaked(ctx context.Context, key, url, source string, revoke bool) (apikey.LeakReport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, key)
	if r.ours[key] {
		return apikey.LeakReport{Outcome: apikey.LeakRevoked, KeyID: "key_1"}, nil
	}
	return apikey.LeakReport{Outcome: apikey.LeakUnknown}, nil
}

func TestScannerActsOnlyOnSignedReports(t *testing.T) {
	t.Parallel()
	gh, other := newSigner(t, "gh"), newSigner(t, "gh")
	ks := newKeyServer(t, gh)
	rep := &reporter{ours: map[string]bool{"real": true}}
	sClock := testenv.NewClock(t0)
	s, err := secretscan.New(secretscan.Config{Keys: newPublicKeys(t, ks, sClock), Reporter: rep})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"token":"real","type":"gatehouse_api_key","url":"https://x","source":"commit"},{"token":"noise","type":"gatehouse_api_key","url":"","source":"content"}]`)
	good := gh.sign(t, body)
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = 'X'

	for name, tc := range map[string]struct {
		id, sig string
		body    []byte
	}{
		"unsigned":              {"", "", body},
		"no identifier":         {"", good, body},
		"no signature":          {"gh", "", body},
		"signed by another key": {"gh", other.sign(t, body), body},
		"altered after signing": {"gh", good, tampered},
		"not base64":            {"gh", "!!!" + good, body},
		"huge signature":        {"gh", strings.Repeat("A", 4096), body},
		"huge identifier":       {strings.Repeat("g", 4096), good, body},
	} {
		if _, err := s.Handle(context.Background(), tc.id, tc.sig, tc.body); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
			t.Errorf("%s: Handle = %v, want unauthorized", name, err)
		}
	}
	// An identifier not in the document: 401 when the document could be
	// fetched again to look, 503 (retry) within MinRefetch of that fetch.
	sClock.Add(secretscan.DefaultMinRefetch)
	if _, err := s.Handle(context.Background(), "nope", good, body); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Errorf("unknown identifier: Handle = %v, want unauthorized", err)
	}
	if _, err := s.Handle(context.Background(), "nope", good, body); auth.ErrorCode(err) != auth.EUNAVAILABLE {
		t.Errorf("unknown identifier again within MinRefetch: Handle = %v, want unavailable", err)
	}
	if len(rep.calls) != 0 {
		t.Fatalf("refused reports reached the key service %d times", len(rep.calls))
	}

	labels, err := s.Handle(context.Background(), "gh", good, body)
	if err != nil {
		t.Fatalf("Handle(signed) = %v", err)
	}
	want := []secretscan.Label{
		{TokenRaw: "real", TokenType: "gatehouse_api_key", Label: "true_positive"},
		{TokenRaw: "noise", TokenType: "gatehouse_api_key", Label: "false_positive"},
	}
	if len(labels) != len(want) || labels[0] != want[0] || labels[1] != want[1] {
		t.Fatalf("labels = %+v, want %+v", labels, want)
	}
}

func TestScannerRefusesMalformedSignedReports(t *testing.T) {
	t.Parallel()
	gh := newSigner(t, "gh")
	ks := newKeyServer(t, gh)
	rep := &reporter{}
	s, err := secretscan.New(secretscan.Config{Keys: newPublicKeys(t, ks, testenv.NewClock(t0)), Reporter: rep})
	if err != nil {
		t.Fatal(err)
	}
	many := "[" + strings.TrimSuffix(strings.Repeat(`{"token":"t"},`, secretscan.MaxReportMatches+1), ",") + "]"
	for name, tc := range map[string]struct {
		body string
		code string
	}{
		"empty":            {"", auth.EINVALID},
		"an object":        {`{"token":"t"}`, auth.EINVALID},
		"not JSON":         {`[{"token":`, auth.EINVALID},
		"a number token":   {`[{"token":1}]`, auth.EINVALID},
		"array of strings": {`["t"]`, auth.EINVALID},
		"duplicate member": {`[{"token":"a","token":"b"}]`, auth.EINVALID},
		"trailing data":    {`[] []`, auth.EINVALID},
		"invalid UTF-8":    {"[{\"token\":\"\xff\"}]", auth.EINVALID},
		"too many matches": {many, auth.ETOOLARGE},
		"null":             {`null`, auth.EINVALID},
		"a null match":     {`[null]`, auth.EINVALID},
	} {
		body := []byte(tc.body)
		if _, err := s.Handle(context.Background(), "gh", gh.sign(t, body), body); auth.ErrorCode(err) != tc.code {
			t.Errorf("%s: Handle = %v, want %s", name, err, tc.code)
		}
	}
	if len(rep.calls) != 0 {
		t.Fatalf("refused reports reached the key service %d times", len(rep.calls))
	}
	// Exactly the maximum is accepted.
	most := []byte("[" + strings.TrimSuffix(strings.Repeat(`{"token":"t"},`, secretscan.MaxReportMatches), ",") + "]")
	if labels, err := s.Handle(context.Background(), "gh", gh.sign(t, most), most); err != nil || len(labels) != secretscan.MaxReportMatches {
		t.Fatalf("Handle(%d matches) = %d labels, %v", secretscan.MaxReportMatches, len(labels), err)
	}
}

func TestParseReportCleansWhatGoesToTheAuditLog(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", secretscan.MaxURLLength) // 2 bytes each
	body, _ := json.Marshal([]map[string]any{{"token": "t", "type": "x", "url": long, "source": "com\x00mit", "extra": 1}})
	m, err := secretscan.ParseReport(body)
	if err != nil {
		t.Fatalf("ParseReport = %v", err)
	}
	if len(m) != 1 || len(m[0].URL) > secretscan.MaxURLLength || !strings.HasPrefix(long, m[0].URL) || m[0].URL == "" {
		t.Errorf("url of %d bytes not cut on a rune boundary to at most %d", len(m[0].URL), secretscan.MaxURLLength)
	}
	if m[0].Source != "com mit" {
		t.Errorf("source = %q, want the NUL replaced", m[0].Source)
	}
}

func TestNewRefusesAnUnknownPolicy(t *testing.T) {
	t.Parallel()
	ks := newKeyServer(t, newSigner(t, "gh"))
	if _, err := secretscan.New(secretscan.Config{Keys: newPublicKeys(t, ks, testenv.NewClock(t0)), Reporter: &reporter{}, Policy: "delete"}); err == nil {
		t.Fatal("New accepted the policy \"delete\"")
	}
}

func TestPublicKeysUnknownIdentifierDuringAnOutageIsRetryable(t *testing.T) {
	t.Parallel()
	a := newSigner(t, "key-a")
	ks := newKeyServer(t, a)
	clock := testenv.NewClock(t0)
	p := newPublicKeys(t, ks, clock)
	if _, err := p.Key(context.Background(), "key-a"); err != nil {
		t.Fatal(err)
	}
	ks.setResponse(http.StatusBadGateway, nil)
	clock.Add(secretscan.DefaultMinRefetch)
	// GitHub may have added the key we cannot fetch: 503, so it retries.
	if _, err := p.Key(context.Background(), "key-new"); auth.ErrorCode(err) != auth.EUNAVAILABLE {
		t.Fatalf("Key(key-new) with a failing URL = %v, want unavailable", err)
	}
	// The known key still serves.
	if _, err := p.Key(context.Background(), "key-a"); err != nil {
		t.Fatalf("Key(key-a) = %v", err)
	}
}

func TestPublicKeysFetchOutlivesTheCallerThatStartedIt(t *testing.T) {
	t.Parallel()
	a := newSigner(t, "key-a")
	doc := publicKeysDoc(t, a)
	started, release := make(chan struct{}), make(chan struct{})
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) == 1 {
			close(started)
			<-release
		}
		w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	p, err := secretscan.NewPublicKeys(secretscan.KeysConfig{URL: srv.URL, Client: srv.Client(), Now: testenv.NewClock(t0).Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Key(ctx, "key-a")
		done <- err
	}()
	<-started
	cancel() // the caller hangs up mid-fetch
	close(release)
	<-done
	// The fetch completed all the same: the next caller, within
	// MinRefetch, has the key without another fetch.
	if _, err := p.Key(context.Background(), "key-a"); err != nil {
		t.Fatalf("Key after a cancelled caller = %v", err)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestScannerHandlesARepeatedTokenOnce(t *testing.T) {
	t.Parallel()
	gh := newSigner(t, "gh")
	rep := &reporter{ours: map[string]bool{"real": true}}
	s, err := secretscan.New(secretscan.Config{Keys: newPublicKeys(t, newKeyServer(t, gh), testenv.NewClock(t0)), Reporter: rep, Policy: secretscan.PolicyNotify})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"token":"real","type":"a"},{"token":"real","type":"b"},{"token":"noise","type":"a"},{"token":"noise","type":"a"}]`)
	labels, err := s.Handle(context.Background(), "gh", gh.sign(t, body), body)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.calls) != 2 {
		t.Errorf("the key service got %d calls for 2 distinct tokens", len(rep.calls))
	}
	want := []string{"true_positive", "true_positive", "false_positive", "false_positive"}
	for i, l := range labels {
		if l.Label != want[i] || (i == 1 && l.TokenType != "b") {
			t.Errorf("label %d = %+v, want %s", i, l, want[i])
		}
	}
}
