package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// roundTrips counts the PostgreSQL and Redis round trips of a node, split
// by whether a request asked for them. A query made on behalf of a request
// carries the request's context, which net/http marks with
// http.ServerContextKey; the node's background work (flushes, the change
// feed's rereads) does not. A batch or a pipeline is one round trip.
type roundTrips struct {
	mu sync.Mutex
	// pg and redis count the request's round trips; pgBackground and
	// redisBackground those of background work in the same window.
	pg, redis, pgBackground, redisBackground int
	statements                               []string       // the request's SQL, for the log
	background                               map[string]int // background SQL (first words) -> count
}

func fromRequest(ctx context.Context) bool { return ctx.Value(http.ServerContextKey) != nil }

func (c *roundTrips) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pg, c.redis, c.pgBackground, c.redisBackground, c.statements, c.background = 0, 0, 0, 0, nil, map[string]int{}
}

func (c *roundTrips) countPG(ctx context.Context, sql string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fromRequest(ctx) {
		c.pg++
		c.statements = append(c.statements, strings.Join(strings.Fields(sql), " "))
	} else {
		c.pgBackground++
		if c.background != nil {
			words := strings.Fields(sql)
			c.background[strings.Join(words[:min(len(words), 6)], " ")]++
		}
	}
}

func (c *roundTrips) countRedis(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fromRequest(ctx) {
		c.redis++
	} else {
		c.redisBackground++
	}
}

// pgx.QueryTracer and pgx.BatchTracer, installed with
// postgres.DB.SetQueryTracer.
func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c.countPG(ctx, data.SQL)
	return ctx
}
func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	sql := make([]string, 0, data.Batch.Len())
	for _, q := range data.Batch.QueuedQueries {
		sql = append(sql, q.SQL)
	}
	c.countPG(ctx, "batch: "+strings.Join(sql, "; "))
	return ctx
}
func (c *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// redis.Hook, installed with redis.Client.AddHook.
func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.countRedis(ctx)
		return next(ctx, cmd)
	}
}
func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.countRedis(ctx)
		return next(ctx, cmds)
	}
}

// roundTripCost is what one request of a kind costs, averaged over runs.
type roundTripCost struct {
	kind string
	// hot says that the request is on a hot path, which must not touch
	// PostgreSQL.
	hot                      bool
	pg, redis                float64
	pgBackground, redisOther int // in the whole measuring window
	retried                  int // runs done again (see measure)
	statements               []string
}

// TestRoundTripsPerRequestKind counts the PostgreSQL and Redis round trips
// that each kind of request costs a node on PostgreSQL and Redis (the table
// of docs/scaling.md): the hot paths — a cached key verified, a gateway
// route called with a JWT or with a key already seen — touch no database.
func TestRoundTripsPerRequestKind(t *testing.T) {
	redisURL := testenv.RedisURL()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err != nil {
		testenv.RedisUnreachable(t, err)
	} else {
		c.Close()
	}
	cfg := testConfig(t, t.TempDir(), pgDSN(t))
	cfg.RedisURL = redisURL
	cfg.Secret = make([]byte, 32)
	rand.Read(cfg.Secret)
	cfg.LogLevel = "info"
	// The default flush interval, so that the idle node's background work
	// (measured last) is what a deployed node does.
	cfg.FlushInterval = config.Default(false).FlushInterval
	cfg.OAuth.Issuer = "http://127.0.0.1:1"
	_, adminKey, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cfg, testenv.NewClock(time.Now().UTC()), &testenv.SyncBuffer{})
	db, ok := n.main.Store.(*postgres.DB)
	if !ok {
		t.Fatalf("the node's store is a %T, not PostgreSQL", n.main.Store)
	}
	if n.main.redis == nil {
		t.Fatal("the node has no Redis client although redis_url is set")
	}
	counts := &roundTrips{}
	db.SetQueryTracer(counts)
	n.main.redis.AddHook(counts)

	ctx := t.Context()
	adm := admin.NewClient(n.main.URL(), adminKey, nil)
	// A unique name per run: the Redis buckets outlive the test.
	run := strings.ToLower(strings.TrimRight(rand.Text()[:10], "="))
	limit := &admin.RateLimit{Rate: 1000, Burst: 1000}
	createKey := func(credits *admin.CreditsRequest) *admin.CreatedKey {
		t.Helper()
		k, err := adm.CreateKey(ctx, admin.CreateKeyRequest{Owner: "rt-" + run, Scopes: []string{"orders:read"}, RateLimit: limit, Credits: credits})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	newKey := func() *admin.CreatedKey { return createKey(nil) }
	newClient := func() *admin.CreatedClient {
		t.Helper()
		cl, err := adm.CreateClient(ctx, admin.ClientRequest{Name: "rt-" + run, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"orders:read"}, Audiences: []string{"https://orders.example.test"}})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	cl := newClient()
	up := newUpstream(t, "orders")
	for _, r := range []admin.RouteRequest{
		{Name: "rt-jwt-" + run, Path: "/rt-jwt-" + run, Upstreams: []string{up.URL}, Policy: "jwt", Scopes: []string{"orders:read"}, AnyAudience: true},
		{Name: "rt-key-" + run, Path: "/rt-key-" + run, Upstreams: []string{up.URL}, Policy: "api_key", Scopes: []string{"orders:read"}},
		{Name: "rt-limited-" + run, Path: "/rt-limited-" + run, Upstreams: []string{up.URL}, Policy: "jwt", Scopes: []string{"orders:read"},
			AnyAudience: true, RateLimit: limit},
	} {
		if _, err := adm.CreateRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// oauthPost calls an OAuth endpoint as the client and returns the
	// access token, if the answer has one.
	oauthPost := func(cl *admin.CreatedClient, path string, form url.Values) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.main.URL()+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(cl.ClientID, cl.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(body, &tok) // introspection answers have none
		return tok.AccessToken
	}
	issueFor := func(cl *admin.CreatedClient) string {
		return oauthPost(cl, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}})
	}
	issue := func() string { return issueFor(cl) }
	verify := func(key string) {
		t.Helper()
		v, err := adm.VerifyKey(ctx, admin.VerifyRequest{Key: key, Scopes: []string{"orders:read"}})
		if err != nil || !v.Valid {
			t.Fatalf("verify: %+v, %v", v, err)
		}
	}
	gateway := func(path string, h http.Header) {
		t.Helper()
		if r := gwGet(t, n.main.GatewayURL()+path, h); r.status != http.StatusOK {
			t.Fatalf("gateway %s: %d %s", path, r.status, r.body)
		}
	}
	waitFor(t, "the gateway to serve the new routes", func() bool {
		return gwGet(t, n.main.GatewayURL()+"/rt-limited-"+run, nil).status == http.StatusUnauthorized
	})

	// The key cache answers only while the change feed vouches for it
	// (internal/apikey/feed.go): a run during which it did not (the feed
	// not yet up, or a heartbeat late on a loaded machine) says nothing
	// about the hot paths, and is run again.
	feedUp := func() bool {
		_, metrics := n.get("/metrics")
		return strings.Contains(metrics, "\ngatehouse_apikey_change_feed_up 1\n")
	}
	waitFor(t, "the node's change feed to vouch for its key cache", feedUp)

	const runs = 10
	// measure runs prepare (uncounted) and then do, runs times, counting
	// do's round trips. warm is run once, uncounted, first: it fills the
	// caches that the hot paths are about.
	measure := func(kind string, hot bool, warm func(), prepare func(i int), do func(i int)) roundTripCost {
		t.Helper()
		if warm != nil {
			warm()
		}
		c := roundTripCost{kind: kind, hot: hot}
		var pg, rd int
		for i := range runs {
			if prepare != nil {
				prepare(i)
			}
			for attempt := 1; ; attempt++ {
				before := feedUp()
				counts.reset()
				do(i)
				counts.mu.Lock()
				p, r, pgb, rdb, sql := counts.pg, counts.redis, counts.pgBackground, counts.redisBackground, counts.statements
				counts.mu.Unlock()
				// A hot-path run that read the store is done again too: the
				// feed's trust can lapse between the two readings of the
				// gauge (a heartbeat late on a loaded machine). A hot path
				// that reads the store on every request still fails.
				if (!(before && feedUp()) || hot && p > 0) && attempt < 5 {
					c.retried++
					continue
				}
				pg, rd = pg+p, rd+r
				c.pgBackground += pgb
				c.redisOther += rdb
				if i == 0 || len(sql) > 0 && len(c.statements) == 0 {
					c.statements = sql // the first run's, or the first that had any
				}
				break
			}
		}
		c.pg, c.redis = float64(pg)/runs, float64(rd)/runs
		return c
	}

	cached := newKey()
	fresh := make([]*admin.CreatedKey, runs)
	freshClients := make([]*admin.CreatedClient, runs)
	one := int64(1_000_000)
	withCredits := createKey(&admin.CreditsRequest{Remaining: &one})
	routeKey := newKey()
	token := issue()
	var costs []roundTripCost
	costs = append(costs,
		measure("key verification, cached (POST /v1/keys/verify)", true, func() { verify(cached.Secret) }, nil,
			func(int) { verify(cached.Secret) }),
		measure("key verification, first sight of the key", false, nil, func(i int) { fresh[i] = newKey() },
			func(i int) { verify(fresh[i].Secret) }),
		measure("key verification, cached, key with credits", false, func() { verify(withCredits.Secret) }, nil,
			func(int) { verify(withCredits.Secret) }),
		measure("token issuance (client_credentials), client cached", false, func() { issue() }, nil, func(int) { issue() }),
		measure("token issuance (client_credentials), first sight of the client", false, nil,
			func(i int) { freshClients[i] = newClient() }, func(i int) { issueFor(freshClients[i]) }),
		measure("gateway JWT route", true, func() { gateway("/rt-jwt-"+run, bearer(token)) }, nil,
			func(int) { gateway("/rt-jwt-"+run, bearer(token)) }),
		measure("gateway JWT route with a route-wide rate limit", true, func() { gateway("/rt-limited-"+run, bearer(token)) }, nil,
			func(int) { gateway("/rt-limited-"+run, bearer(token)) }),
		measure("gateway API-key route, key cached", true, func() { gateway("/rt-key-"+run, apiKey(routeKey.Secret)) }, nil,
			func(int) { gateway("/rt-key-"+run, apiKey(routeKey.Secret)) }),
		measure("token introspection", false, func() { oauthPost(cl, "/oauth2/introspect", url.Values{"token": {token}}) }, nil,
			func(int) { oauthPost(cl, "/oauth2/introspect", url.Values{"token": {token}}) }),
		measure("admin write: create a key (POST /admin/v1/keys)", false, nil, nil, func(int) { newKey() }),
		measure("admin write: revoke a key", false, nil, func(i int) { fresh[i] = newKey() },
			func(i int) {
				if _, err := adm.RevokeKey(ctx, fresh[i].ID); err != nil {
					t.Fatal(err)
				}
			}),
	)

	// What the node costs the servers with no request at all: its
	// background work (route and revocation polls, webhook outbox polls,
	// usage flushes), counted over an idle window. The change feed's
	// heartbeat (four queries a second on its own connection) is not
	// traced and comes on top.
	const idle = 5 * time.Second
	counts.reset()
	time.Sleep(idle) // a real-time window: the node's tickers run on the wall clock
	counts.mu.Lock()
	idlePG, idleRedis := float64(counts.pgBackground)/idle.Seconds(), float64(counts.redisBackground)/idle.Seconds()
	t.Logf("an idle node's queries in %s: %v", idle, counts.background)
	counts.mu.Unlock()

	var table strings.Builder
	fmt.Fprintf(&table, "\n| request | PostgreSQL round trips | Redis round trips |\n| --- | ---: | ---: |\n")
	for _, c := range costs {
		fmt.Fprintf(&table, "| %s | %g | %g |\n", c.kind, c.pg, c.redis)
	}
	fmt.Fprintf(&table, "| background work of an idle node, per second (+4 heartbeat queries on the feed's connection) | %.1f | %.1f |\n", idlePG, idleRedis)
	t.Log(table.String())
	for _, c := range costs {
		t.Logf("%s: first run's SQL %q; background work in the window: %d PostgreSQL, %d Redis round trips; %d runs done again",
			c.kind, c.statements, c.pgBackground, c.redisOther, c.retried)
	}
	checkScalingDoc(t, costs, table.String())
	for _, c := range costs {
		if c.hot && c.pg != 0 {
			t.Errorf("%s costs %g PostgreSQL round trips, want none (a hot path): %q", c.kind, c.pg, c.statements)
		}
		// A write that the counters do not see means that they miss
		// the store, and every zero above means nothing.
		if strings.HasPrefix(c.kind, "admin write") && c.pg == 0 {
			t.Errorf("%s costs no PostgreSQL round trip: the counters miss the store", c.kind)
		}
	}
}

// checkScalingDoc holds the round-trip table of docs/scaling.md (between
// its roundtrips markers) to what the test counted, row by row, so the
// figures operators project capacity from cannot drift from the code.
func checkScalingDoc(t *testing.T, costs []roundTripCost, measured string) {
	t.Helper()
	b, err := os.ReadFile("../../docs/scaling.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- roundtrips")
	section, _, ok2 := strings.Cut(rest, "<!-- /roundtrips -->")
	if !ok || !ok2 {
		t.Fatal("docs/scaling.md has no round-trip table between <!-- roundtrips ... --> and <!-- /roundtrips -->")
	}
	documented := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) == 3 {
			documented[strings.TrimSuffix(cells[0], " ★")] = cells[1] + " | " + cells[2]
		}
	}
	for _, c := range costs {
		want := fmt.Sprintf("%g | %g", c.pg, c.redis)
		if got, ok := documented[c.kind]; !ok || got != want {
			t.Errorf("docs/scaling.md's row %q says %q, the test counted %q: update the table (the test prints it):%s", c.kind, got, want, measured)
		}
	}
}
