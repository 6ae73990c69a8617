package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/filelock"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// clientCredentials is a confidential client that gets tokens from a node.
type clientCredentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// oauthPost posts a form to a node's authorization server as the client and
// returns the status and the decoded answer.
func (c clientCredentials) oauthPost(t *testing.T, n *node, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.main.URL()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (c clientCredentials) token(t *testing.T, n *node) string {
	t.Helper()
	status, out := c.oauthPost(t, n, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}})
	tok, _ := out["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("client credentials at %s: %d %v", n.main.URL(), status, out)
	}
	return tok
}

func (c clientCredentials) active(t *testing.T, n *node, tok string) bool {
	t.Helper()
	status, out := c.oauthPost(t, n, "/oauth2/introspect", url.Values{"token": {tok}})
	if status != http.StatusOK {
		t.Fatalf("introspect at %s: %d %v", n.main.URL(), status, out)
	}
	return out["active"] == true
}

// tokenKID is the kid in a JWT's header.
func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var hdr struct{ Kid string }
	json.Unmarshal(h, &hdr)
	return hdr.Kid
}

// checkJSON runs `gatehouse check --json` with env and returns what it
// printed and its error.
func checkJSON(t *testing.T, env map[string]string, args ...string) (checkResult, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newRootCommand(&stdout, &stderr, func(k string) string { return env[k] })
	cmd.SetArgs(append([]string{"check", "--json"}, args...))
	err := cmd.ExecuteContext(context.Background())
	var res checkResult
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		t.Fatalf("gatehouse check --json %s: %v (%v)\n%s%s", strings.Join(args, " "), jerr, err, stdout.String(), stderr.String())
	}
	return res, err
}

// TestBackupWhileServingRestoresToAWorkingNode is the operator's story on
// SQLite: a node with keys, a client, a user and a rotated signing key is
// backed up while admin writes go on; the backup is restored into a new
// data folder (with the secret, copied apart); `gatehouse check` passes
// there; and a node started on it verifies the keys, issues tokens with
// the same signing keys, publishes the same JWKS and accepts a token
// issued before the backup.
func TestBackupWhileServingRestoresToAWorkingNode(t *testing.T) {
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	cfgA := testConfig(t, t.TempDir(), "")
	cfgA.OAuth.Issuer = "http://127.0.0.1:1" // the same issuer for the node restored elsewhere
	a := startInitialised(t, cfgA, clk, &testenv.SyncBuffer{})

	var key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	a.cliJSON(&key, "keys", "create", "--owner", "billing", "--scopes", "invoices:read")
	var client clientCredentials
	a.cliJSON(&client, "clients", "create", "--name", "orders", "--grant-types", "client_credentials",
		"--scopes", "orders:read", "--audience", "https://orders.example.test")
	var user struct {
		ID string `json:"id"`
	}
	a.cliStdin("a long and unguessable passphrase\n", &user, "users", "create", "--username", "grace", "--password-stdin")
	before := client.token(t, a)
	clk.Add(7 * time.Minute) // the next key has been published long enough; "before" lives 10 minutes
	var rotated struct {
		KID string `json:"kid"`
	}
	a.cliJSON(&rotated, "signing-keys", "rotate")
	if tokenKID(t, before) == rotated.KID {
		t.Fatalf("the rotation kept signing with %s", rotated.KID)
	}

	// Writers create keys through the admin API until the backup is done.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 5 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := post(hc, a.main.URL()+"/admin/v1/keys", a.env["GATEHOUSE_ADMIN_KEY"],
					fmt.Sprintf(`{"owner":"writer-%d","name":"n%d","scopes":["a"]}`, w, i)); err != nil {
					t.Errorf("a write during the backup failed: %v", err)
					return
				}
				written.Add(1)
			}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); written.Load() < 20; {
		if time.Now().After(deadline) {
			t.Fatal("the writers did not get going")
		}
		time.Sleep(5 * time.Millisecond)
	}
	backupFile := filepath.Join(t.TempDir(), "gatehouse-backup.db")
	var backedUp struct {
		File          string `json:"file"`
		Bytes         int64  `json:"bytes"`
		SchemaVersion int64  `json:"schema_version"`
	}
	a.cliJSON(&backedUp, "backup", "--data", cfgA.DataDir, "--to", backupFile)
	atBackup := written.Load()
	close(stop)
	wg.Wait()
	if backedUp.File != backupFile || backedUp.Bytes == 0 || backedUp.SchemaVersion == 0 {
		t.Fatalf("backup --json = %+v", backedUp)
	}
	if st, err := os.Stat(backupFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the backup file: %v, mode %v; want mode 0600", err, st.Mode().Perm())
	}
	if out, err := a.tryCLI("backup", "--data", cfgA.DataDir, "--to", backupFile); err == nil || !strings.Contains(out+err.Error(), "--force") {
		t.Fatalf("a second backup to the same file: %v\n%s; want it refused, naming --force", err, out)
	}
	var after struct {
		Key string `json:"key"`
	}
	a.cliJSON(&after, "keys", "create", "--owner", "after-the-backup")

	// The new data folder gets the backup, and the secret from apart.
	cfgB := cfgA
	cfgB.DataDir = filepath.Join(t.TempDir(), "restored")
	var restored struct {
		Database      string `json:"database"`
		SchemaVersion int64  `json:"schema_version"`
		SecretFound   bool   `json:"secret_found"`
	}
	a.cliJSON(&restored, "restore", "--data", cfgB.DataDir, "--from", backupFile)
	if restored.Database != cfgB.SQLitePath() || restored.SchemaVersion != backedUp.SchemaVersion || restored.SecretFound {
		t.Fatalf("restore --json = %+v; want the database at %s, without a secret yet", restored, cfgB.SQLitePath())
	}
	if res, err := checkJSON(t, map[string]string{}, "--data", cfgB.DataDir); err == nil || res.OK {
		t.Fatalf("check without the secret = %+v, %v; want it to fail", res, err)
	}
	secret, err := os.ReadFile(cfgA.SecretPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgB.SecretPath(), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := checkJSON(t, map[string]string{}, "--data", cfgB.DataDir)
	if err != nil || !res.OK || !res.SecretChecked {
		t.Fatalf("check of the restored data folder = %+v, %v", res, err)
	}
	// 1 admin key and 1 billing key, then what the writers had written
	// when the backup began (at least) and ended (at most).
	if lo, hi := 2+20, 2+int(atBackup)+3; res.Counts.APIKeys < lo || res.Counts.APIKeys > hi {
		t.Errorf("the backup holds %d API keys; want between %d and %d", res.Counts.APIKeys, lo, hi)
	}
	if res.Counts.Users != 1 || res.Counts.Clients < 1 || res.Counts.SigningKeys != 3 {
		t.Errorf("the backup holds %+v; want 1 user, the client and 3 signing keys (retired, current, next)", res.Counts)
	}

	b := startNode(t, cfgB, clk, &testenv.SyncBuffer{})
	b.env["GATEHOUSE_ADMIN_KEY"] = a.env["GATEHOUSE_ADMIN_KEY"]
	if v := b.verify(key.Key, "invoices:read"); v.Code != "VALID" || v.KeyID != key.ID {
		t.Errorf("the restored node verifies the key made before the backup as %+v", v)
	}
	if v := b.verify(after.Key); v.Code == "VALID" {
		t.Errorf("the restored node knows a key made after the backup: %+v", v)
	}
	_, jwksA := a.get("/.well-known/jwks.json")
	_, jwksB := b.get("/.well-known/jwks.json")
	if jwksA != jwksB {
		t.Errorf("the restored node publishes another key set:\n%s\n%s", jwksA, jwksB)
	}
	if !client.active(t, b, before) {
		t.Error("the restored node refuses a token issued before the backup (by the key retired since)")
	}
	fresh := client.token(t, b)
	if tokenKID(t, fresh) != rotated.KID {
		t.Errorf("the restored node signs with %s; want the current key %s", tokenKID(t, fresh), rotated.KID)
	}
	if !client.active(t, a, fresh) {
		t.Error("the original node refuses a token issued by the restored one")
	}
}

// TestRestoreRefusesWhileAServerRuns runs a real server process on a data
// folder: restore refuses and changes nothing; once the process is killed
// (SIGKILL: no clean shutdown), the operating system has dropped its lock
// and restore goes ahead. A server cannot start during a restore either.
func TestRestoreRefusesWhileAServerRuns(t *testing.T) {
	p := startProcess(t, "GATEHOUSE_LOG_LEVEL=warn")
	cli := &node{t: t, env: map[string]string{}}
	backupFile := filepath.Join(t.TempDir(), "backup.db")
	cli.cli("backup", "--data", p.cfg.DataDir, "--to", backupFile)

	out, err := cli.tryCLI("restore", "--data", p.cfg.DataDir, "--from", backupFile)
	if err == nil || !strings.Contains(out+err.Error(), "server is running") {
		t.Fatalf("restore under a running server: %v\n%s; want it refused", err, out)
	}
	if _, err := os.Stat(p.cfg.SQLitePath() + ".before-restore"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused restore moved the database aside: %v", err)
	}
	if code, _ := httpGet(t, p.url+"/readyz"); code != http.StatusOK {
		t.Fatalf("the server is not ready after the refused restore: %d", code)
	}

	p.cmd.Process.Kill()
	p.cmd.Wait()
	cli.cli("restore", "--data", p.cfg.DataDir, "--from", backupFile)
	if _, err := os.Stat(p.cfg.SQLitePath() + ".before-restore"); err != nil {
		t.Fatalf("the database replaced by the restore was not kept: %v", err)
	}

	// A server does not start while a restore holds the folder.
	lock, err := filelock.Exclusive(dataLockPath(p.cfg))
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: p.cfg, Logger: NewLogger(p.cfg, io.Discard)}
	if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "being restored") {
		m.Close()
		t.Fatalf("a server started during a restore: %v", err)
	}
	lock.Close()
	n := startNode(t, p.cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	if code, _ := n.get("/readyz"); code != http.StatusOK {
		t.Fatalf("the server on the restored folder is not ready: %d", code)
	}
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRestoreRefusesWhatIsNotAUsableBackup: a file that is not SQLite, a
// SQLite file of another program, and a Gatehouse database from a newer
// release are refused, and the database in place is left as it was.
func TestRestoreRefusesWhatIsNotAUsableBackup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
		t.Fatal(err)
	}
	cli := &node{t: t, env: map[string]string{}}
	good := filepath.Join(t.TempDir(), "good.db")
	cli.cli("backup", "--data", dir, "--to", good)

	notSQLite := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notSQLite, []byte("these are not the tables you are looking for\n"), 0o600)

	otherProgram := filepath.Join(t.TempDir(), "other.db")
	execSQL(t, otherProgram, `CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)`)

	newer := filepath.Join(t.TempDir(), "newer.db")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(newer, data, 0o600)
	latest, err := sqlite.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, newer, fmt.Sprintf(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, 1)`, latest+1))

	original, err := os.ReadFile(cfg.SQLitePath())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, want string
	}{
		{"a text file is no database", notSQLite, "not a Gatehouse database"},
		{"another program's SQLite file is no Gatehouse database", otherProgram, "not a Gatehouse database"},
		{"a database from a newer Gatehouse is refused, naming both versions", newer,
			fmt.Sprintf("schema is at version %d, newer than version %d", latest+1, latest)},
		{"a missing file is refused", filepath.Join(dir, "missing.db"), "no such file"},
	} {
		out, err := cli.tryCLI("restore", "--data", dir, "--from", tc.file)
		if err == nil || !strings.Contains(out+err.Error(), tc.want) {
			t.Errorf("%s: restore = %v\n%s; want an error saying %q", tc.name, err, out, tc.want)
		}
	}
	now, err := os.ReadFile(cfg.SQLitePath())
	if err != nil || string(now) != string(original) {
		t.Fatalf("a refused restore changed the database (%v)", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "restore") {
			t.Errorf("a refused restore left %s in the data folder", e.Name())
		}
	}
}

// execSQL runs a statement on a SQLite file (created if missing) outside
// any store, as another program would.
func execSQL(t *testing.T, path, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// TestBackupAndRestoreOnPostgresPointToPgDump: the SQLite commands refuse a
// PostgreSQL configuration and say what to use instead, before connecting.
func TestBackupAndRestoreOnPostgresPointToPgDump(t *testing.T) {
	t.Parallel()
	cli := &node{t: t, env: map[string]string{"GATEHOUSE_DB": "postgres://nobody@127.0.0.1:1/none"}}
	for _, args := range [][]string{
		{"backup", "--data", t.TempDir(), "--to", filepath.Join(t.TempDir(), "b.db")},
		{"restore", "--data", t.TempDir(), "--from", filepath.Join(t.TempDir(), "b.db")},
	} {
		out, err := cli.tryCLI(args...)
		if err == nil || !strings.Contains(out+err.Error(), "pg_") || !strings.Contains(out+err.Error(), "docs/backup.md") {
			t.Errorf("gatehouse %s on PostgreSQL: %v\n%s; want a pointer to pg_dump/pg_restore and docs/backup.md", args[0], err, out)
		}
	}
}

// pgTools finds pg_dump and pg_restore; without them the test is skipped,
// except in CI (GATEHOUSE_REQUIRE_POSTGRES=1), where it fails.
func pgTools(t *testing.T) (dump, restore string) {
	t.Helper()
	var err error
	if dump, err = exec.LookPath("pg_dump"); err == nil {
		restore, err = exec.LookPath("pg_restore")
	}
	if err != nil {
		msg := "the PostgreSQL client tools are not installed (apt-get install postgresql-client): " + err.Error()
		if os.Getenv("GATEHOUSE_REQUIRE_POSTGRES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dump, restore
}

// withDatabase is dsn (a URL) with another database name.
func withDatabase(t *testing.T, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("the test DSN is not a URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestCheckAfterPgRestore follows docs/backup.md on PostgreSQL: pg_dump
// --format=custom of a node's schema, pg_restore into a new database, and
// `gatehouse check` there, which finds every record and opens every signing
// key with the secret; with another secret it fails, and a schema newer
// than this binary is refused.
func TestCheckAfterPgRestore(t *testing.T) {
	dsn, schema := testenv.PostgresSchema(t)
	pgDump, pgRestore := pgTools(t)
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	cfg := testConfig(t, t.TempDir(), dsn)
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})
	n.cli("keys", "create", "--owner", "billing")
	var client clientCredentials
	n.cliJSON(&client, "clients", "create", "--name", "orders", "--grant-types", "client_credentials", "--scopes", "orders:read",
		"--audience", "https://orders.example.test")
	var user struct{ ID string }
	n.cliStdin("a long and unguessable passphrase\n", &user, "users", "create", "--username", "grace", "--password-stdin")
	n.cli("routes", "create", "--name", "orders", "--path", "/orders", "--upstream", "http://127.0.0.1:1", "--policy", "public")
	clk.Add(7 * time.Minute)
	n.cli("signing-keys", "rotate")

	env := map[string]string{}
	original, err := checkJSON(t, env, "--data", cfg.DataDir, "--db", dsn)
	if err != nil || !original.OK || !original.SecretChecked || original.Store != "postgres" {
		t.Fatalf("check of the original schema = %+v, %v", original, err)
	}
	if c := original.Counts; c.APIKeys != 2 || c.Users != 1 || c.Routes != 1 || c.SigningKeys != 3 || c.Clients < 1 {
		t.Fatalf("check counts %+v; want 2 keys, 1 user, 1 route, 3 signing keys and the client", c)
	}

	// The procedure of docs/backup.md, into a database of its own.
	dump := filepath.Join(t.TempDir(), "gatehouse.dump")
	run := func(name string, args ...string) {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
	}
	base := testenv.PostgresDSN()
	run(pgDump, "--format=custom", "--schema="+schema, "--file="+dump, base)
	b := make([]byte, 8)
	rand.Read(b)
	restoredDB := "gatehouse_restore_" + hex.EncodeToString(b)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{restoredDB}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop database %s: %v", restoredDB, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE "+pgx.Identifier{restoredDB}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", restoredDB, err)
		}
	})
	run(pgRestore, "--no-owner", "--exit-on-error", "--dbname="+withDatabase(t, base, restoredDB), dump)
	restoredDSN := testenv.WithParams(t, withDatabase(t, base, restoredDB), map[string]string{"search_path": schema})

	res, err := checkJSON(t, env, "--data", cfg.DataDir, "--db", restoredDSN)
	if err != nil || !res.OK || !res.SecretChecked {
		t.Fatalf("check after pg_restore = %+v, %v", res, err)
	}
	if res.Counts != original.Counts || res.SchemaVersion != original.SchemaVersion {
		t.Fatalf("check after pg_restore found %+v at version %d; the original had %+v at version %d",
			res.Counts, res.SchemaVersion, original.Counts, original.SchemaVersion)
	}

	wrong := make([]byte, 32)
	rand.Read(wrong)
	res, err = checkJSON(t, map[string]string{"GATEHOUSE_SECRET": hex.EncodeToString(wrong)}, "--db", restoredDSN)
	var exit exitError
	if !errors.As(err, &exit) || exit.code != exitFailure || res.OK || len(res.Problems) == 0 ||
		!strings.Contains(res.Problems[0], "not the secret this database was written with") {
		t.Fatalf("check with another secret = %+v, %v; want exit status 1 naming the secret", res, err)
	}

	conn, err := pgx.Connect(ctx, restoredDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, res.LatestSchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	out, err := (&node{t: t, env: env}).tryCLI("check", "--data", cfg.DataDir, "--db", restoredDSN)
	var tooNew *auth.SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Database != res.LatestSchemaVersion+1 || tooNew.Known != res.LatestSchemaVersion {
		t.Fatalf("check of a newer schema: %v\n%s; want it refused with a SchemaTooNewError at %d, knowing %d",
			err, out, res.LatestSchemaVersion+1, res.LatestSchemaVersion)
	}
}
