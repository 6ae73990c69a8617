package postgres

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// The attack of issue 9: node B's connection that listens for key changes
// is killed, a key is revoked at node A a few milliseconds later, and B,
// deaf until its watcher has reconnected and replayed, must not accept the
// key from its cache meanwhile.

// keyChanges is a ChangeHandler that passes on only the IDs of changed
// keys.
type keyChanges func(id string)

func (f keyChanges) Changed(c auth.Change) {
	if c.Kind == auth.ChangeAPIKey && c.ID != "" {
		f(c.ID)
	}
}
func (keyChanges) FeedSynced(time.Time) {}
func (keyChanges) FeedLost(error)       {}

// observedDB is node B's store as its key service sees it: the real store,
// which also tells the test when the service has been told the feed is lost
// or synced, and counts the key lookups that reach the database.
type observedDB struct {
	*DB
	synced     chan struct{} // a token once the service has taken a FeedSynced
	lost       chan error    // the error of a FeedLost the service has taken
	reads      atomic.Int64  // GetAPIKeyByHash calls
	lastSynced atomic.Pointer[time.Time]
}

func observe(db *DB) *observedDB {
	return &observedDB{DB: db, synced: make(chan struct{}, 1), lost: make(chan error, 1)}
}

func (o *observedDB) WatchChanges(ctx context.Context, h auth.ChangeHandler) error {
	return o.DB.WatchChanges(ctx, observer{ChangeHandler: h, o: o})
}

func (o *observedDB) GetAPIKeyByHash(ctx context.Context, hash []byte) (*auth.APIKey, error) {
	o.reads.Add(1)
	return o.DB.GetAPIKeyByHash(ctx, hash)
}

// awaitSynced waits for a FeedSynced reported after the call began.
func (o *observedDB) awaitSynced(t *testing.T) {
	t.Helper()
	select {
	case <-o.synced: // an older one
	default:
	}
	select {
	case <-o.synced:
	case <-time.After(15 * time.Second):
		t.Fatal("the watcher never reported its feed synced")
	}
}

func (o *observedDB) awaitLost(t *testing.T) error {
	t.Helper()
	select {
	case err := <-o.lost:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("the watcher never reported its feed lost")
		return nil
	}
}

// observer passes every report on to the service first, then to the test.
type observer struct {
	auth.ChangeHandler
	o *observedDB
}

func (x observer) FeedSynced(at time.Time) {
	// Recorded before the service takes it, so that the service never
	// holds a later one than the test has seen.
	x.o.lastSynced.Store(&at)
	x.ChangeHandler.FeedSynced(at)
	select {
	case x.o.synced <- struct{}{}:
	default: // the test has not taken the last one yet: one token says it
	}
}

func (x observer) FeedLost(err error) {
	x.ChangeHandler.FeedLost(err)
	select {
	case x.o.lost <- err:
	default:
	}
}

// keyNode is one Gatehouse node's key service on store; Run runs until the
// test ends.
func keyNode(t *testing.T, store interface {
	auth.APIKeyStore
	auth.AuditStore
}, run bool) *apikey.Service {
	t.Helper()
	cfg := apikey.Config{
		Store:  store,
		Audit:  store,
		Secret: bytes.Repeat([]byte{9}, apikey.MinSecretLength),
		Prefix: "sk_live_",
	}
	var feed *changes.Feed
	if run {
		feed = changes.New(store.(auth.ChangeWatcher), nil)
		cfg.Changes = feed
	}
	svc, err := apikey.NewService(cfg)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 2)
		go func() { done <- svc.Run(ctx) }()
		go func() { done <- feed.Run(ctx) }()
		// Registered after the store's cleanup, so it runs before it.
		t.Cleanup(func() {
			cancel()
			<-done
			<-done
		})
	}
	return svc
}

func wantVerify(t *testing.T, svc *apikey.Service, key string, want apikey.Code) {
	t.Helper()
	r, err := svc.Verify(t.Context(), key, nil)
	if err != nil || r.Code != want {
		t.Fatalf("Verify = %s, %v; want %s", r.Code, err, want)
	}
}

// awaitCached verifies key at svc until svc answers VALID without reading
// the store. (A read may fail to cache its answer when the node hears of
// any key change meanwhile, and other tests change keys in the same
// database.)
func (o *observedDB) awaitCached(t *testing.T, svc *apikey.Service, key string) {
	t.Helper()
	for range 100 {
		reads := o.reads.Load()
		wantVerify(t, svc, key, apikey.CodeValid)
		if o.reads.Load() == reads {
			return
		}
	}
	t.Fatal("the node never answered from its cache")
}

func terminateWatcher(t *testing.T, db *DB, appName string) {
	t.Helper()
	var cut int
	err := db.pool.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, appName+watcherAppSuffix).Scan(&cut)
	if err != nil || cut == 0 {
		t.Fatalf("terminate the watcher's connection: %d cut, %v", cut, err)
	}
}

func TestAKeyRevokedWhileANodesChangeFeedIsDownIsRefusedByItsNextVerification(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, schema := testenv.PostgresSchema(t)
	appName := "gh_feed_" + schema[len(schema)-8:]
	dbA := openDSN(t, dsn)
	dbB := openDSN(t, testenv.WithParams(t, dsn, map[string]string{"application_name": appName}))
	// B's watcher does not reconnect (and replay) until the test has seen
	// what B answers in between.
	reconnect := make(chan struct{})
	var reconnectOnce sync.Once
	t.Cleanup(func() { reconnectOnce.Do(func() { close(reconnect) }) })
	dbB.beforeReconnect = func() { <-reconnect }
	storeB := observe(dbB)
	nodeA, nodeB := keyNode(t, dbA, false), keyNode(t, storeB, true)

	k, key, err := nodeA.Create(ctx, apikey.CreateParams{Owner: "billing", Actor: auth.ActorSystem})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	_, other, err := nodeA.Create(ctx, apikey.CreateParams{Owner: "billing", Actor: auth.ActorSystem})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	storeB.awaitSynced(t)
	storeB.awaitCached(t, nodeB, key)

	terminateWatcher(t, dbA, appName)
	if _, err := nodeA.Revoke(ctx, k.ID, "key_admin"); err != nil {
		t.Fatalf("Revoke at A: %v", err)
	}
	// The revocation is committed; B's watcher cannot have heard of it.
	// As soon as B knows its feed is gone, it must not answer from its
	// cache.
	storeB.awaitLost(t)
	wantVerify(t, nodeB, key, apikey.CodeRevoked)

	// Reconnected and replayed, B trusts its cache again.
	reconnectOnce.Do(func() { close(reconnect) })
	storeB.awaitSynced(t)
	wantVerify(t, nodeB, key, apikey.CodeRevoked)
	storeB.awaitCached(t, nodeB, other)
}

func TestANodeThatLostBothItsChangeFeedAndTheStoreFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, _ := testenv.PostgresSchema(t)
	dbA := openDSN(t, dsn)
	// B reaches the database through a proxy that the test cuts: its
	// connections break, and new ones are refused.
	proxy := startProxy(t, dsn)
	storeB := observe(openDSN(t, proxy.dsn(t, dsn)))
	nodeA, nodeB := keyNode(t, dbA, false), keyNode(t, storeB, true)

	k, key, err := nodeA.Create(ctx, apikey.CreateParams{Owner: "billing", Actor: auth.ActorSystem})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	storeB.awaitSynced(t)
	storeB.awaitCached(t, nodeB, key)

	proxy.cut()
	storeB.awaitLost(t)
	if _, err := nodeA.Revoke(ctx, k.ID, "key_admin"); err != nil {
		t.Fatalf("Revoke at A: %v", err)
	}
	r, err := nodeB.Verify(ctx, key, nil)
	if auth.ErrorCode(err) != auth.EUNAVAILABLE {
		t.Fatalf("Verify at B without feed or store = %s, %v; want an %s error", r.Code, err, auth.EUNAVAILABLE)
	}
}

func TestANodeWhoseChangeFeedFallsSilentStopsTrustingItsCacheWithinFeedMaxAge(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, _ := testenv.PostgresSchema(t)
	dbA := openDSN(t, dsn)
	// B reads keys from the database directly, but listens for changes
	// through a proxy that the test stalls: the connection stays open and
	// nothing comes through, as when the server's host vanishes. B's
	// watcher notices only when its check times out, after 5 s.
	proxy := startProxy(t, dsn)
	dbB := openDSN(t, dsn)
	listenThrough(t, dbB, proxy.dsn(t, dsn))
	storeB := observe(dbB)
	nodeA, nodeB := keyNode(t, dbA, false), keyNode(t, storeB, true)

	k, key, err := nodeA.Create(ctx, apikey.CreateParams{Owner: "billing", Actor: auth.ActorSystem})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	storeB.awaitSynced(t)
	storeB.awaitCached(t, nodeB, key)

	proxy.stall()
	if _, err := nodeA.Revoke(ctx, k.ID, "key_admin"); err != nil {
		t.Fatalf("Revoke at A: %v", err)
	}
	// B never hears of the revocation. It may accept the key from its
	// cache only while the last FeedSynced vouches for it: every VALID
	// must have begun within FeedMaxAge of that report's time (both
	// read on the monotonic clock), and B must come to refuse the key.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.After(15 * time.Second)
	accepted := 0
	for {
		began := time.Now()
		r, err := nodeB.Verify(ctx, key, nil)
		if err != nil {
			t.Fatalf("Verify at B: %v", err)
		}
		if r.Code == apikey.CodeRevoked {
			break
		}
		if r.Code != apikey.CodeValid {
			t.Fatalf("Verify at B = %s; want %s or %s", r.Code, apikey.CodeValid, apikey.CodeRevoked)
		}
		accepted++
		if age := began.Sub(*storeB.lastSynced.Load()); age >= auth.FeedMaxAge {
			t.Fatalf("B accepted a key revoked at A from its cache %v after its feed's last FeedSynced; want refused from %v on", age, auth.FeedMaxAge)
		}
		select {
		case <-tick.C:
		case <-giveUp:
			t.Fatal("B still accepts the key revoked at A 15 s after its feed fell silent")
		}
	}
	// By the time bound, not by the watcher giving up on its connection.
	select {
	case err := <-storeB.lost:
		t.Fatalf("B refused the key only after its watcher reported the feed lost (%v)", err)
	default:
	}
	t.Logf("B accepted the revoked key %d times, then refused it", accepted)
}

// listenThrough has db's change watcher connect to dsn.
func listenThrough(t *testing.T, db *DB, dsn string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = db.listenConfig.RuntimeParams["application_name"]
	db.listenConfig = cfg
}

// tcpProxy forwards connections to a PostgreSQL server until stalled or
// cut.
type tcpProxy struct {
	ln      net.Listener
	stalled chan struct{} // closed by stall
	closed  chan struct{} // closed by cut

	mu    sync.Mutex
	conns []net.Conn
	done  bool
	stop  sync.Once
}

// startProxy forwards a local TCP port to the server dsn names, over TCP
// or its Unix socket.
func startProxy(t *testing.T, dsn string) *tcpProxy {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	network, target := pgconn.NetworkAddress(cfg.Host, cfg.Port)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, stalled: make(chan struct{}), closed: make(chan struct{})}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial(network, target)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(c, s) {
				return
			}
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

// pipe copies src to dst until either closes or, once the proxy is
// stalled, holds what it reads (and both connections) until cut.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-p.stalled:
				<-p.closed
				return
			default:
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// stall stops forwarding without closing anything, as a peer that vanished
// without a word: whatever is sent after it returns (and maybe what was
// being sent) goes unanswered and unreceived. New connections are taken,
// and get nothing either.
func (p *tcpProxy) stall() { close(p.stalled) }

// track remembers the connections to close on cut; false once cut.
func (p *tcpProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	p.conns = append(p.conns, conns...)
	return true
}

// cut closes every connection and refuses new ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	p.stop.Do(func() { close(p.closed) })
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// dsn returns dsn pointed at the proxy. (A host or port parameter
// overrides a URL's host and port, and a later setting an earlier one.)
func (p *tcpProxy) dsn(t *testing.T, dsn string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(p.ln.Addr().String())
	return testenv.WithParams(t, dsn, map[string]string{"host": host, "port": port})
}
