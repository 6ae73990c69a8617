package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// usageServer answers GET /admin/v1/usage with body and records the query.
func usageServer(t *testing.T, body string) (string, func() url.Values) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen url.Values
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/admin/v1/usage" || r.Header.Get("Authorization") != "Bearer sk_test_admin" {
			http.Error(w, "unexpected", http.StatusTeapot)
			return
		}
		mu.Lock()
		seen = r.URL.Query()
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() url.Values { mu.Lock(); defer mu.Unlock(); return seen }
}

const usageAnswer = `{"granularity":"hour","from":"2030-05-06T03:00:00Z","to":"2030-05-06T07:00:00Z","series":[
{"start":"2030-05-06T03:00:00Z","outcomes":{}},
{"start":"2030-05-06T04:00:00Z","outcomes":{"VALID":80}},
{"start":"2030-05-06T05:00:00Z","outcomes":{"VALID":5,"INSUFFICIENT_SCOPE":2,"RATE_LIMITED":3}},
{"start":"2030-05-06T06:00:00Z","outcomes":{"VALID":1}}],
"totals":{"VALID":86,"INSUFFICIENT_SCOPE":2,"RATE_LIMITED":3}}`

func TestUsageDrawsABarChartWithTotals(t *testing.T) {
	srv, seen := usageServer(t, usageAnswer)
	env := map[string]string{"GATEHOUSE_SERVER": srv, "GATEHOUSE_ADMIN_KEY": "sk_test_admin"}
	before := time.Now()
	code, out, stderr := runCLI(t, env, "usage", "--key", "key_1", "--since", "4h", "--granularity", "hour")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "Usage of key key_1 by hour, 2030-05-06 03:00 to 2030-05-06 07:00 UTC\n\n" +
		"2030-05-06 03:00                                             0\n" +
		"2030-05-06 04:00  ████████████████████████████████████████  80\n" +
		"2030-05-06 05:00  █████                                     10  RATE_LIMITED 3, INSUFFICIENT_SCOPE 2\n" +
		"2030-05-06 06:00  ▌                                          1\n" +
		"\nTotal 91: VALID 86, RATE_LIMITED 3, INSUFFICIENT_SCOPE 2\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	q := seen()
	from, err := time.Parse(time.RFC3339, q.Get("from"))
	if err != nil || q.Get("key_id") != "key_1" || q.Get("granularity") != "hour" || q.Get("to") != "" {
		t.Fatalf("query %v", q)
	}
	if d := before.Add(-4 * time.Hour).Sub(from); d < -time.Second || d > 2*time.Second {
		t.Errorf("from = %v, want about 4h before %v", from, before)
	}
}

func TestUsageJSONPrintsTheAnswer(t *testing.T) {
	srv, seen := usageServer(t, usageAnswer)
	env := map[string]string{"GATEHOUSE_SERVER": srv, "GATEHOUSE_ADMIN_KEY": "sk_test_admin"}
	code, out, stderr := runCLI(t, env, "usage", "--owner", "billing", "--route", "orders", "--since", "1d", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got, want any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	json.Unmarshal([]byte(usageAnswer), &want)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("--json printed\n%s\nwant the API's answer\n%s", gb, wb)
	}
	if q := seen(); q.Get("owner") != "billing" || q.Get("route") != "orders" || q.Get("key_id") != "" {
		t.Errorf("query %v", q)
	}
}

func TestUsageWithNothingCountedSaysSo(t *testing.T) {
	srv, _ := usageServer(t, `{"granularity":"day","from":"2030-05-01T00:00:00Z","to":"2030-05-02T00:00:00Z",`+
		`"series":[{"start":"2030-05-01T00:00:00Z","outcomes":{}}],"totals":{}}`)
	env := map[string]string{"GATEHOUSE_SERVER": srv, "GATEHOUSE_ADMIN_KEY": "sk_test_admin"}
	_, out, _ := runCLI(t, env, "usage", "--since", "1d")
	if !strings.Contains(out, "Usage of everything by day, 2030-05-01 to 2030-05-02 UTC") || !strings.Contains(out, "No verifications counted") {
		t.Errorf("output:\n%s", out)
	}
}

func TestUsageRefusesABadSince(t *testing.T) {
	for _, since := range []string{"0", "-1h", "soon"} {
		code, _, stderr := runCLI(t, map[string]string{}, "usage", "--since", since)
		if code != exitUsage {
			t.Errorf("--since %s: exit %d, want %d (usage): %s", since, code, exitUsage, stderr)
		}
	}
}
