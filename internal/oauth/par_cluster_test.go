package oauth

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// clusterNode is one Gatehouse node of a cluster on a shared PostgreSQL
// schema: its own Server, registry, account service and keyring, as a
// separate process would have.
type clusterNode struct {
	*Server
	clients  *client.Registry
	accounts *account.Service
	handler  http.Handler
}

func newClusterNode(t *testing.T, db *postgres.DB, serverSecret []byte, issuer string, clock *testenv.Clock) *clusterNode {
	t.Helper()
	ctx := context.Background()
	hasher, err := secret.NewHasher(serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := signing.NewSealer(signing.DeriveMasterKey(serverSecret))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.New(ctx, db, sealer, signing.Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("signing.New: %v", err)
	}
	accounts, err := account.New(account.Config{Store: db, Sessions: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	clients, err := client.New(client.Config{Store: db, Hasher: hasher, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Issuer: issuer, Store: db, Audit: db, Clients: clients, Hasher: hasher, Keys: keys,
		Accounts: accounts, Now: clock.Now, InsecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	return &clusterNode{Server: s, clients: clients, accounts: accounts, handler: s.Handler()}
}

// TestPARAcrossNodesOnPostgres: two nodes behind one issuer on one
// PostgreSQL schema. A request pushed to node A is used at node B, and its
// reuse at node A is refused; of two nodes taking the same request_uri up
// at once, exactly one wins.
func TestPARAcrossNodesOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testenv.PostgresSchema(t)
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	serverSecret := make([]byte, 32)
	rand.Read(serverSecret)

	// One address, as behind a balancer; the test picks the node.
	var current atomic.Pointer[clusterNode]
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { current.Load().handler.ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)
	a := newClusterNode(t, db, serverSecret, hs.URL, clock)
	b := newClusterNode(t, db, serverSecret, hs.URL, clock)

	c, clientSecret, err := a.clients.Create(ctx, "test", client.Input{
		Name: "cluster app", RedirectURIs: []string{"https://app.example.com/cb"},
		GrantTypes: []string{auth.GrantAuthorizationCode}, Scopes: []string{"openid", "read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.accounts.Create(ctx, "test", account.CreateInput{Username: "alice", Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, URL: hs.URL, HTTP: hs, Clock: clock}
	push := func() (string, string) {
		t.Helper()
		q, verifier := parRequest(c)
		return ts.mustPush(t, c, clientSecret, q), verifier
	}
	authorizeURL := func(uri string) string {
		return hs.URL + PathAuthorize + "?" + url.Values{"client_id": {c.ID}, "request_uri": {uri}}.Encode()
	}

	current.Store(a)
	uri, verifier := push()
	current.Store(b)
	br := newBrowser(t, ts)
	code := br.codeFrom(br.signInAndAllow(authorizeURL(uri)), c.RedirectURIs[0], "pushed-state")
	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: clientSecret, RedirectURL: c.RedirectURIs[0],
		Endpoint: oauth2.Endpoint{AuthURL: hs.URL + PathAuthorize, TokenURL: hs.URL + PathToken, AuthStyle: oauth2.AuthStyleInHeader}}
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	current.Store(a)
	p := br.get(authorizeURL(uri))
	wantErrorPage(t, p, http.StatusBadRequest)
	if !strings.Contains(p.body, "request_uri") {
		t.Fatalf("reuse on node A: %s", p.body)
	}

	// The same request_uri taken up at both nodes at once: one goes on to
	// sign-in, the other is refused.
	for round := range 5 {
		uri, _ := push()
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, n := range []*clusterNode{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec := httptest.NewRecorder()
				n.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, authorizeURL(uri), nil))
				statuses[i] = rec.Code
			}()
		}
		wg.Wait()
		if (statuses[0] == http.StatusSeeOther) == (statuses[1] == http.StatusSeeOther) ||
			statuses[0]+statuses[1] != http.StatusSeeOther+http.StatusBadRequest {
			t.Fatalf("round %d: statuses %v, want one 303 and one 400", round, statuses)
		}
	}
}
