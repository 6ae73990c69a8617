package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// usageEnv is the admin stack with usage counts in its SQLite store.
type usageEnv struct {
	*testEnv
	ts     *httptest.Server
	client *Client
}

func newUsageEnv(t *testing.T) *usageEnv {
	t.Helper()
	e := newTestEnv(t)
	srv, err := NewServer(Config{Keys: e.keys, Audit: e.db, Usage: e.db, Now: e.clock.Now,
		UsageRetention: auth.UsageRetention{Minute: 48 * time.Hour, Hour: 90 * 24 * time.Hour, Day: 730 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &usageEnv{testEnv: e, ts: ts, client: NewClient(ts.URL, e.adminKey, ts.Client())}
}

func (e *usageEnv) get(t *testing.T, query string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/admin/v1/usage?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+e.adminKey)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

func TestUsageAnswersADenseSeriesWithTotals(t *testing.T) {
	e := newUsageEnv(t)
	now := e.clock.Now() // 2030-05-06T07:08:09Z
	at := func(d time.Duration) time.Time { return now.Add(d) }
	count := func(key, route, outcome string, t time.Time, n int64) auth.UsageCount {
		return auth.UsageCount{UsageSubject: auth.UsageSubject{KeyID: key, Route: route, Owner: "billing"}, Outcome: outcome, Start: t, Count: n}
	}
	if err := e.db.AddUsage(t.Context(), []auth.UsageCount{
		count("key_a", "orders", "VALID", at(-3*time.Hour), 5),
		count("key_a", "orders", "INSUFFICIENT_SCOPE", at(-3*time.Hour), 2),
		count("key_a", "", "VALID", at(-time.Hour), 1),
		count("key_b", "orders", "VALID", at(-time.Hour), 100),
		{UsageSubject: auth.UsageSubject{ClientID: "cli_1", UserID: "usr_1"}, Outcome: "invalid_grant", Start: at(-time.Hour), Count: 3},
	}); err != nil {
		t.Fatal(err)
	}

	u, err := e.client.Usage(t.Context(), UsageParams{KeyID: "key_a", From: at(-4 * time.Hour), Granularity: "hour"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Granularity != "hour" || !u.From.Equal(time.Date(2030, 5, 6, 3, 0, 0, 0, time.UTC)) || !u.To.Equal(time.Date(2030, 5, 6, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("granularity %s from %v to %v: want hour from 03:00 to 08:00 (aligned)", u.Granularity, u.From, u.To)
	}
	if len(u.Series) != 5 {
		t.Fatalf("series of %d buckets, want 5 (03:00 to 07:00): %+v", len(u.Series), u.Series)
	}
	want := []map[string]int64{{}, {"VALID": 5, "INSUFFICIENT_SCOPE": 2}, {}, {"VALID": 1}, {}}
	for i, b := range u.Series {
		if !b.Start.Equal(u.From.Add(time.Duration(i)*time.Hour)) || !sameCounts(b.Outcomes, want[i]) {
			t.Errorf("bucket %d: %v %v, want %v", i, b.Start, b.Outcomes, want[i])
		}
	}
	if !sameCounts(u.Totals, map[string]int64{"VALID": 6, "INSUFFICIENT_SCOPE": 2}) {
		t.Errorf("totals %v", u.Totals)
	}

	// Each subject filter, and the defaults: the last 24 hours by hour.
	for _, tc := range []struct {
		p    UsageParams
		want map[string]int64
	}{
		{UsageParams{Route: "orders"}, map[string]int64{"VALID": 105, "INSUFFICIENT_SCOPE": 2}},
		{UsageParams{Owner: "billing"}, map[string]int64{"VALID": 106, "INSUFFICIENT_SCOPE": 2}},
		{UsageParams{ClientID: "cli_1"}, map[string]int64{"invalid_grant": 3}},
		{UsageParams{UserID: "usr_1"}, map[string]int64{"invalid_grant": 3}},
		{UsageParams{KeyID: "key_b", Route: "orders"}, map[string]int64{"VALID": 100}},
		{UsageParams{KeyID: "key_nobody"}, map[string]int64{}},
	} {
		u, err := e.client.Usage(t.Context(), tc.p)
		if err != nil {
			t.Fatal(err)
		}
		if u.Granularity != "hour" || len(u.Series) != 25 || !sameCounts(u.Totals, tc.want) {
			t.Errorf("%+v: %s, %d buckets, totals %v; want hour, 25, %v", tc.p, u.Granularity, len(u.Series), u.Totals, tc.want)
		}
	}

	// The wire form, exactly: empty buckets carry {}, never null.
	status, body := e.get(t, "key_id=key_a&from=2030-05-06T04:00:00Z&to=2030-05-06T04:02:00Z&granularity=minute")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	wantBody := `{"granularity":"minute","from":"2030-05-06T04:00:00Z","to":"2030-05-06T04:02:00Z",` +
		`"series":[{"start":"2030-05-06T04:00:00Z","outcomes":{}},{"start":"2030-05-06T04:01:00Z","outcomes":{}}],"totals":{}}`
	if strings.TrimSpace(string(body)) != wantBody {
		t.Errorf("body\n got  %s\n want %s", body, wantBody)
	}
	golden := filepath.Join("testdata", "wire", "usage.json")
	status, body = e.get(t, "key_id=key_a&from=2030-05-06T04:07:00Z&to=2030-05-06T04:09:00Z")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, body, "", "  ")
	if *update {
		os.WriteFile(golden, pretty.Bytes(), 0o644)
	}
	if g, _ := os.ReadFile(golden); !bytes.Equal(g, pretty.Bytes()) {
		t.Errorf("wire form differs from %s (rerun with -update if intended):\n%s", golden, pretty.Bytes())
	}
}

func sameCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestUsageDefaultGranularityFollowsTheRange(t *testing.T) {
	e := newUsageEnv(t)
	now := e.clock.Now()
	for _, tc := range []struct {
		from time.Duration
		want string
	}{
		{time.Hour, "minute"},
		{6 * time.Hour, "minute"},
		{7 * time.Hour, "hour"},
		{30 * 24 * time.Hour, "hour"},
		{60 * 24 * time.Hour, "day"},
	} {
		u, err := e.client.Usage(t.Context(), UsageParams{From: now.Add(-tc.from)})
		if err != nil {
			t.Fatal(err)
		}
		if u.Granularity != tc.want {
			t.Errorf("a range of %s: %s, want %s", tc.from, u.Granularity, tc.want)
		}
	}
}

func TestUsageRefusesBadQueriesWith400(t *testing.T) {
	e := newUsageEnv(t) // now: 2030-05-06T07:08:09Z
	for _, tc := range []struct {
		name, query, detail string
	}{
		{"time not RFC 3339", "from=2030-05-06", "RFC 3339"},
		{"Unix time", "to=1893456000", "RFC 3339"},
		{"from after to", "from=2030-05-06T07:00:00Z&to=2030-05-06T06:00:00Z", "before"},
		{"from equal to to", "from=2030-05-06T07:00:00Z&to=2030-05-06T07:00:00Z", "before"},
		{"unknown granularity", "granularity=week", "minute, hour or day"},
		{"too many buckets", "granularity=minute&from=2030-05-01T00:00:00Z&to=2030-05-06T00:00:00Z", "at most 5000"},
		{"minutes no longer kept", "granularity=minute&from=2030-05-03T00:00:00Z&to=2030-05-03T01:00:00Z", "kept for"},
		{"days beyond two years", "granularity=day&from=2026-01-01T00:00:00Z", "kept for"},
		{"to years ahead", "from=9999-12-31T12:00:00Z&to=9999-12-31T23:59:59Z&granularity=day", "after now"},
		{"unknown parameter", "key=key_a", "Unknown query parameter"},
		{"parameter twice", "key_id=a&key_id=b", "more than once"},
		{"control characters", "route=" + url.QueryEscape("a\x00b"), "printable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.get(t, tc.query)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", status, body)
			}
			var p Problem
			if err := json.Unmarshal(body, &p); err != nil || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("problem %s, want a detail with %q", body, tc.detail)
			}
		})
	}
}

func TestUsageNeedsAnAdminKeyAndAStore(t *testing.T) {
	e := newUsageEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/admin/v1/usage", nil)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a key: %d, want 401", resp.StatusCode)
	}
	// The plain test server has no usage reader: 404, not a crash.
	status, _ := e.testEnv.do(t, http.MethodGet, "/admin/v1/usage", "", nil, e.adminHeader())
	if status.StatusCode != http.StatusNotFound {
		t.Errorf("without a usage store: %d, want 404", status.StatusCode)
	}
}
