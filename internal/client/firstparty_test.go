package client_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

const firstPartyID = "cli_gatehouse-test"

func firstPartyInput(issuer string) client.Input {
	return client.Input{
		Name: "Test console", Public: true, AuthMethod: auth.AuthMethodNone,
		RedirectURIs:           []string{issuer + "/console/callback"},
		PostLogoutRedirectURIs: []string{issuer + "/console/signed-out"},
		GrantTypes:             []string{auth.GrantAuthorizationCode},
		Scopes:                 []string{"openid", "profile"},
	}
}

func (e *env) auditOf(t *testing.T, id string) []auth.AuditEvent {
	t.Helper()
	events, _, err := e.db.ListAuditEvents(context.Background(), auth.AuditFilter{KeyID: id, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func TestEnsureFirstPartyCreatesThenLeavesAlone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c, err := e.EnsureFirstParty(ctx, firstPartyID, firstPartyInput("http://127.0.0.1:8080"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != firstPartyID || !c.Public || c.AuthMethod != auth.AuthMethodNone || c.Owner != "" ||
		len(c.SecretHash) != 0 || !slices.Equal(c.GrantTypes, []string{"authorization_code"}) ||
		!slices.Equal(c.RedirectURIs, []string{"http://127.0.0.1:8080/console/callback"}) {
		t.Fatalf("created %+v", c)
	}
	stored, err := e.Get(ctx, firstPartyID)
	if err != nil || stored.Name != "Test console" {
		t.Fatalf("Get: %+v, %v", stored, err)
	}
	ev := e.auditOf(t, firstPartyID)
	if len(ev) != 1 || ev[0].Type != auth.EventClientCreated || ev[0].Actor != auth.ActorSystem {
		t.Fatalf("audit after create: %+v", ev)
	}

	// A restart with the same settings writes nothing, and keeps what an
	// administrator changed outside the managed settings.
	in := firstPartyInput("http://127.0.0.1:8080")
	in.AccessTokenTTL = 10 * time.Minute
	if _, err := e.Update(ctx, "adm_1", firstPartyID, in); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	again, err := e.EnsureFirstParty(ctx, firstPartyID, firstPartyInput("http://127.0.0.1:8080"))
	if err != nil {
		t.Fatal(err)
	}
	if again.AccessTokenTTL != 10*time.Minute || len(e.auditOf(t, firstPartyID)) != 2 {
		t.Fatalf("unchanged restart wrote: %+v, events %+v", again, e.auditOf(t, firstPartyID))
	}
}

func TestEnsureFirstPartyFollowsTheIssuer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.EnsureFirstParty(ctx, firstPartyID, firstPartyInput("http://127.0.0.1:8080")); err != nil {
		t.Fatal(err)
	}
	in := firstPartyInput("https://auth.example.com")
	in.AccessTokenTTL = 30 * time.Minute // not a managed setting: ignored
	e.clock.Add(time.Minute)
	c, err := e.EnsureFirstParty(ctx, firstPartyID, in)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.Get(ctx, firstPartyID)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []*auth.Client{c, stored} {
		if !slices.Equal(got.RedirectURIs, []string{"https://auth.example.com/console/callback"}) ||
			!slices.Equal(got.PostLogoutRedirectURIs, []string{"https://auth.example.com/console/signed-out"}) ||
			got.AccessTokenTTL != 0 {
			t.Fatalf("after a new issuer: %+v", got)
		}
	}
	// The cache does not keep the old redirect URI.
	if l, err := e.Lookup(ctx, firstPartyID); err != nil || l.RedirectURIs[0] != "https://auth.example.com/console/callback" {
		t.Fatalf("Lookup: %+v, %v", l, err)
	}
	ev := e.auditOf(t, firstPartyID)
	if len(ev) != 2 || ev[1].Type != auth.EventClientUpdated || ev[1].Actor != auth.ActorSystem ||
		ev[1].Details["changed"] != "redirect_uris,post_logout_redirect_uris" {
		t.Fatalf("audit: %+v", ev)
	}

	// Scopes, grants and name are managed too.
	in.Scopes, in.Name = []string{"openid"}, "Renamed"
	if c, err = e.EnsureFirstParty(ctx, firstPartyID, in); err != nil || c.Name != "Renamed" || !slices.Equal(c.Scopes, []string{"openid"}) {
		t.Fatalf("rename: %+v, %v", c, err)
	}

	// So are audiences: a client whose tokens are for an API below the
	// issuer (the CLI's, for the admin API) follows the issuer too.
	in.Audiences = []string{"https://auth.example.com/admin"}
	if c, err = e.EnsureFirstParty(ctx, firstPartyID, in); err != nil || !slices.Equal(c.Audiences, in.Audiences) {
		t.Fatalf("audiences: %+v, %v", c, err)
	}
	in.Audiences = []string{"https://auth2.example.com/admin"}
	if c, err = e.EnsureFirstParty(ctx, firstPartyID, in); err != nil || !slices.Equal(c.Audiences, in.Audiences) {
		t.Fatalf("new audience: %+v, %v", c, err)
	}
	ev = e.auditOf(t, firstPartyID)
	if last := ev[len(ev)-1]; last.Details["changed"] != "audiences" {
		t.Fatalf("last audit event: %+v", last)
	}
}

func TestEnsureFirstPartyRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	confidential := firstPartyInput("https://auth.example.com")
	confidential.Public, confidential.AuthMethod = false, ""
	for name, tc := range map[string]struct {
		id string
		in client.Input
	}{
		"bad ID":            {"nope", firstPartyInput("https://auth.example.com")},
		"http off loopback": {firstPartyID, firstPartyInput("http://auth.example.com")},
		"secret":            {firstPartyID, confidential},
	} {
		if _, err := e.EnsureFirstParty(ctx, tc.id, tc.in); auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("%s: err %v, want EINVALID", name, err)
		}
	}
	if _, err := e.Get(ctx, firstPartyID); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("a refused input left a client: %v", err)
	}
}

// racingStore lets another node write just before this node's write, as
// when two nodes start at once.
type racingStore struct {
	auth.ClientStore
	once   sync.Once
	before func()
}

func (s *racingStore) CreateClient(ctx context.Context, c *auth.Client, events ...auth.AuditEvent) error {
	s.once.Do(s.before)
	return s.ClientStore.CreateClient(ctx, c, events...)
}

func (s *racingStore) UpdateClient(ctx context.Context, c *auth.Client, at time.Time, events ...auth.AuditEvent) error {
	s.once.Do(s.before)
	return s.ClientStore.UpdateClient(ctx, c, at, events...)
}

func TestEnsureFirstPartyRaces(t *testing.T) {
	ctx := context.Background()
	t.Run("create", func(t *testing.T) {
		e := newEnv(t)
		other := e.node(t, e.db)
		store := &racingStore{ClientStore: e.db, before: func() {
			if _, err := other.EnsureFirstParty(ctx, firstPartyID, firstPartyInput("https://a.example.com")); err != nil {
				t.Errorf("other node: %v", err)
			}
		}}
		c, err := e.node(t, store).EnsureFirstParty(ctx, firstPartyID, firstPartyInput("https://a.example.com"))
		if err != nil || c.ID != firstPartyID {
			t.Fatalf("after losing the race to create: %+v, %v", c, err)
		}
		if n := len(e.auditOf(t, firstPartyID)); n != 1 {
			t.Fatalf("%d events, want 1", n)
		}
	})
	t.Run("update", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.EnsureFirstParty(ctx, firstPartyID, firstPartyInput("https://old.example.com")); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Second)
		other := e.node(t, e.db)
		store := &racingStore{ClientStore: e.db, before: func() {
			if _, err := other.EnsureFirstParty(ctx, firstPartyID, firstPartyInput("https://new.example.com")); err != nil {
				t.Errorf("other node: %v", err)
			}
			e.clock.Add(time.Second)
		}}
		c, err := e.node(t, store).EnsureFirstParty(ctx, firstPartyID, firstPartyInput("https://new.example.com"))
		if err != nil || c.RedirectURIs[0] != "https://new.example.com/console/callback" {
			t.Fatalf("after losing the race to update: %+v, %v", c, err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		e := newEnv(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			r := e.node(t, e.db)
			wg.Go(func() {
				_, err := r.EnsureFirstParty(ctx, firstPartyID, firstPartyInput("https://a.example.com"))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

// Nodes of a cluster share PostgreSQL: started together, each brings the
// client to the same settings and none fails.
func TestEnsureFirstPartyRacesOnPostgres(t *testing.T) {
	ctx := context.Background()
	dsn, _ := testenv.PostgresSchema(t)
	e := newEnv(t)
	var errs [8]error
	var wg sync.WaitGroup
	for i := range errs {
		db, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		r := e.node(t, db)
		// Half the nodes run with an old issuer: whichever order they
		// land in, every call succeeds.
		issuer := "https://a.example.com"
		if i%2 == 1 {
			issuer = "https://b.example.com"
		}
		wg.Go(func() { _, errs[i] = r.EnsureFirstParty(ctx, firstPartyID, firstPartyInput(issuer)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
}

// TestFirstPartyClientsAreOnlyEnsured: an admin (or a stolen admin key)
// must not add a redirect URI to a client that skips consent, nor delete
// or rotate it, while every start still brings it up to date.
func TestFirstPartyClientsAreOnlyEnsured(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := client.New(client.Config{Store: e.db, Hasher: e.hasher, Now: e.clock.Now, FirstParty: []string{firstPartyID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.EnsureFirstParty(ctx, firstPartyID, firstPartyInput("http://127.0.0.1:8080")); err != nil {
		t.Fatal(err)
	}
	before, err := r.Get(ctx, firstPartyID)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)

	hijack := firstPartyInput("http://127.0.0.1:8080")
	hijack.RedirectURIs = append(hijack.RedirectURIs, "https://evil.example/cb")
	_, err = r.Update(ctx, "adm_1", firstPartyID, hijack)
	checkManaged(t, "Update", err)
	_, _, err = r.RotateSecret(ctx, "adm_1", firstPartyID)
	checkManaged(t, "RotateSecret", err)
	checkManaged(t, "Delete", r.Delete(ctx, "adm_1", firstPartyID))
	checkManaged(t, "Changeable", r.Changeable(firstPartyID))

	after, err := r.Get(ctx, firstPartyID)
	if err != nil || !slices.Equal(after.RedirectURIs, before.RedirectURIs) || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("the first-party client changed: %+v, %v", after, err)
	}
	if ev := e.auditOf(t, firstPartyID); len(ev) != 1 {
		t.Fatalf("refused changes were audited: %+v", ev)
	}

	// A new issuer still reaches it.
	c, err := r.EnsureFirstParty(ctx, firstPartyID, firstPartyInput("https://auth.example.com"))
	if err != nil || !slices.Equal(c.RedirectURIs, []string{"https://auth.example.com/console/callback"}) {
		t.Fatalf("EnsureFirstParty after the refusals: %+v, %v", c, err)
	}

	// Other clients are not affected.
	other, _, err := r.Create(ctx, "adm_1", firstPartyInput("https://app.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Changeable(other.ID); err != nil {
		t.Fatalf("Changeable(%s) = %v", other.ID, err)
	}
	if err := r.Delete(ctx, "adm_1", other.ID); err != nil {
		t.Fatalf("Delete another client: %v", err)
	}

	if _, err := client.New(client.Config{Store: e.db, Hasher: e.hasher, FirstParty: []string{"dashboard"}}); err == nil {
		t.Error("a first-party ID that is not a client ID was accepted")
	}
}

func checkManaged(t *testing.T, what string, err error) {
	t.Helper()
	if auth.ErrorCode(err) != auth.EFORBIDDEN || !strings.Contains(auth.ErrorMessage(err), "managed by Gatehouse itself") {
		t.Errorf("%s of the first-party client: %v, want EFORBIDDEN saying Gatehouse manages it", what, err)
	}
}
