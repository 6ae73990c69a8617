package dashboard

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

const (
	auditLogScript = `<script>alert(1)</script>`
	auditLogImg    = `"><img src=x onerror=alert(1)>`
	auditLogBulk   = 1203 // more than two pages of the export's reads
)

// auditLogHarness is a node whose log holds a few distinct events (each
// with a marker detail), one meant to inject formulas into a spreadsheet,
// and auditLogBulk events by the actor "bulk"; base is the first's time.
func auditLogHarness(t *testing.T) (*harness, *browser, time.Time) {
	t.Helper()
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	base := h.Clock.Now().Add(-48 * time.Hour).Truncate(time.Minute)
	evs := []auth.AuditEvent{
		{Time: base, Type: auth.EventKeyCreated, Actor: "usr_a", KeyID: "key_1", Count: 1,
			Details: map[string]string{"marker": "ev-one", "note": auditLogScript + auditLogImg}},
		{Time: base.Add(time.Hour), Type: auth.EventKeyRevoked, Actor: "usr_b", KeyID: "key_2", Count: 1,
			Details: map[string]string{"marker": "ev-two"}},
		{Time: base.Add(2 * time.Hour), Type: auth.EventRouteCreated, Actor: "usr_a", Count: 1,
			Details: map[string]string{"marker": "ev-three", "name": "orders"}},
		{Time: base.Add(3 * time.Hour), Type: auth.EventKeyLeaked, Actor: `=HYPERLINK("http://evil.example")`, KeyID: "-2+3",
			Reason: "+SUM(1)", Count: 1, Details: map[string]string{"marker": "@cmd"}},
	}
	for i := range auditLogBulk {
		evs = append(evs, auth.AuditEvent{Time: base.Add(4*time.Hour + time.Duration(i)*time.Second),
			Type: auth.EventKeyVerificationFailed, Actor: "bulk", Reason: "INVALID", Count: int64(i + 1)})
	}
	if err := h.Store.AppendAuditEvents(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	return h, b, base
}

var auditLogPagerRe = regexp.MustCompile(`<nav class="pager" aria-label="Pages"><a href="([^"]+)" rel="next">`)

// auditLogMarkers reports which of the distinct events the page lists.
func auditLogMarkers(body string) []string {
	var out []string
	for _, m := range []string{"ev-one", "ev-two", "ev-three"} {
		if strings.Contains(body, m) {
			out = append(out, m)
		}
	}
	return out
}

func TestAuditPageFilters(t *testing.T) {
	t.Parallel()
	_, b, base := auditLogHarness(t)
	minute := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04") }
	tests := []struct {
		name  string
		query url.Values
		want  string
	}{
		{"by actor", url.Values{"actor": {"usr_a"}}, "ev-one ev-three"},
		{"by type", url.Values{"type": {auth.EventKeyRevoked}}, "ev-two"},
		{"by target, a key", url.Values{"target": {"key_1"}}, "ev-one"},
		{"by target, a route", url.Values{"target": {"orders"}}, "ev-three"},
		{"by time", url.Values{"since": {minute(base.Add(30 * time.Minute))}, "until": {minute(base.Add(90 * time.Minute))}}, "ev-two"},
		{"by time with seconds", url.Values{"since": {base.Add(time.Hour).Format("2006-01-02T15:04:05")}, "until": {minute(base.Add(2 * time.Hour))}}, "ev-two"},
		{"by actor and type", url.Values{"actor": {"usr_a"}, "type": {auth.EventRouteCreated}}, "ev-three"},
		{"by an actor without events", url.Values{"actor": {"usr_nobody"}}, ""},
	}
	for _, tt := range tests {
		p := b.get("/dashboard/audit?" + tt.query.Encode())
		if p.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", tt.name, p.StatusCode)
			continue
		}
		if got := strings.Join(auditLogMarkers(p.body), " "); got != tt.want {
			t.Errorf("%s: listed %q, want %q", tt.name, got, tt.want)
		}
		// The filters stay in the form and in the export links.
		for k := range tt.query {
			if !strings.Contains(p.body, `value="`+html.EscapeString(tt.query.Get(k))+`"`) && k != "type" {
				t.Errorf("%s: the %s filter is not kept in the form", tt.name, k)
			}
		}
	}

	p := b.get("/dashboard/audit?type=" + auth.EventRouteCreated)
	if !strings.Contains(p.body, `<option value="route.created" selected>`) {
		t.Error("the type filter is not selected")
	}
	p = b.get("/dashboard/audit?actor=usr_a")
	miscInert(t, p.body, auditLogScript, auditLogImg)

	p = b.get("/dashboard/audit?since=yesterday&actor=usr_a")
	miscStatus(t, p, http.StatusBadRequest)
	if !strings.Contains(html.UnescapeString(p.body), `The "since" time "yesterday" is not a date`) ||
		!strings.Contains(p.body, `aria-describedby="since-error"`) || !strings.Contains(p.body, `value="usr_a"`) {
		t.Errorf("a bad time is not refused inline:\n%s", p.body)
	}
	miscStatus(t, b.get("/dashboard/audit?cursor=x"), http.StatusBadRequest)
}

func TestAuditPagePages(t *testing.T) {
	t.Parallel()
	_, b, _ := auditLogHarness(t)
	seen := 0
	next := "/dashboard/audit?actor=bulk"
	for pages := 0; next != ""; pages++ {
		if pages > auditLogBulk/auditLogPageSize+1 {
			t.Fatal("the pages do not end")
		}
		p := b.get(next)
		miscStatus(t, p, http.StatusOK)
		rows := strings.Count(p.body, "<td>key.verification_failed</td>")
		if rows > auditLogPageSize {
			t.Fatalf("a page of %d rows", rows)
		}
		seen += rows
		next = ""
		if m := auditLogPagerRe.FindStringSubmatch(p.body); m != nil {
			next = html.UnescapeString(m[1])
			if !strings.Contains(next, "actor=bulk") {
				t.Fatalf("the next page drops the filter: %s", next)
			}
		}
	}
	if seen != auditLogBulk {
		t.Errorf("the pages listed %d events, want %d", seen, auditLogBulk)
	}
}

func TestAuditPageListsNewestFirst(t *testing.T) {
	t.Parallel()
	_, b, _ := auditLogHarness(t)
	p := b.get("/dashboard/audit")
	miscStatus(t, p, http.StatusOK)
	// The bulk events are the newest: the first page holds the last of
	// them first, and none of the older distinct events.
	newest, older := strings.Index(p.body, "<td>"+strconv.Itoa(auditLogBulk)+"</td>"), strings.Index(p.body, "<td>"+strconv.Itoa(auditLogBulk-1)+"</td>")
	if newest < 0 || older < 0 || newest > older {
		t.Errorf("the first page does not start with the newest event (at %d, the one before at %d)", newest, older)
	}
	if m := auditLogMarkers(p.body); len(m) != 0 {
		t.Errorf("the first page lists the oldest events %v", m)
	}
	// The last page, reached by the pager, ends with the oldest.
	next := "/dashboard/audit"
	for range auditLogBulk/auditLogPageSize + 2 {
		m := auditLogPagerRe.FindStringSubmatch(p.body)
		if m == nil {
			break
		}
		next = html.UnescapeString(m[1])
		p = b.get(next)
	}
	if i, j := strings.Index(p.body, "ev-two"), strings.Index(p.body, "ev-one"); i < 0 || j < 0 || i > j {
		t.Errorf("the last page (%s) does not end with the oldest events", next)
	}
}

func TestAuditExportJSONLines(t *testing.T) {
	t.Parallel()
	h, b, _ := auditLogHarness(t)
	for _, tt := range []struct {
		query string
		want  auth.AuditFilter
	}{
		{"actor=bulk", auth.AuditFilter{Actor: "bulk"}},
		{"", auth.AuditFilter{}},
	} {
		p := b.get("/dashboard/audit/export?format=jsonl&" + tt.query)
		miscStatus(t, p, http.StatusOK)
		if ct := p.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("Content-Type %q", ct)
		}
		if cd := p.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") || !strings.HasSuffix(cd, `.jsonl"`) {
			t.Errorf("Content-Disposition %q", cd)
		}
		want := auditLogAll(t, h, tt.want)
		sc := bufio.NewScanner(strings.NewReader(p.body))
		n := 0
		for sc.Scan() {
			var got admin.AuditEvent
			if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
				t.Fatalf("line %d: %v: %s", n+1, err, sc.Text())
			}
			if n < len(want) {
				w := admin.AuditEventFromRecord(want[n])
				if got.ID != w.ID || got.Type != w.Type || got.Actor != w.Actor || !got.Time.Equal(w.Time) || got.Count != w.Count {
					t.Errorf("line %d: %+v, want %+v", n+1, got, w)
				}
			}
			n++
		}
		if n != len(want) {
			t.Errorf("%q: %d lines, want %d events", tt.query, n, len(want))
		}
	}
}

func TestAuditExportCSV(t *testing.T) {
	t.Parallel()
	h, b, _ := auditLogHarness(t)
	p := b.get("/dashboard/audit/export?format=csv")
	miscStatus(t, p, http.StatusOK)
	if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := p.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	records, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(records[0], ","); got != "id,time,type,actor,target,key_id,reason,count,details" {
		t.Errorf("header %q", got)
	}
	if want := auditLogAll(t, h, auth.AuditFilter{}); len(records)-1 != len(want) {
		t.Errorf("%d rows, want %d events", len(records)-1, len(want))
	}

	var leak, one []string
	for _, r := range records[1:] {
		switch {
		case r[2] == auth.EventKeyLeaked:
			leak = r
		case strings.Contains(r[8], "ev-one"):
			one = r
		}
	}
	// Cells a spreadsheet would run are text.
	if leak == nil || leak[3] != `'=HYPERLINK("http://evil.example")` || leak[5] != "'-2+3" || leak[6] != "'+SUM(1)" {
		t.Errorf("formula cells are not neutralised: %q", leak)
	}
	if one == nil || one[4] != "key_1" || one[5] != "key_1" {
		t.Fatalf("the first event's row: %q", one)
	}
	var details map[string]string
	if err := json.Unmarshal([]byte(one[8]), &details); err != nil || details["note"] != auditLogScript+auditLogImg {
		t.Errorf("details %q: %v", one[8], err)
	}

	// The filters apply; an empty export still has its header.
	p = b.get("/dashboard/audit/export?format=csv&target=orders")
	if records, err = csv.NewReader(strings.NewReader(p.body)).ReadAll(); err != nil || len(records) != 2 || records[1][4] != "orders" {
		t.Errorf("the export by target: %q %v", records, err)
	}
	p = b.get("/dashboard/audit/export?format=csv&actor=nobody")
	if records, err = csv.NewReader(strings.NewReader(p.body)).ReadAll(); err != nil || len(records) != 1 {
		t.Errorf("an empty export: %q %v", records, err)
	}
}

func TestAuditExportRefusesBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	miscStatus(t, b.get("/dashboard/audit/export"), http.StatusBadRequest)
	miscStatus(t, b.get("/dashboard/audit/export?format=xml"), http.StatusBadRequest)
	miscStatus(t, b.get("/dashboard/audit/export?format=csv&until=soon"), http.StatusBadRequest)
}

func TestAuditPagesAreForAdmins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("dev", auth.RoleDeveloper, "billing")
	b := h.signIn("dev")
	miscStatus(t, b.get("/dashboard/audit"), http.StatusForbidden)
	miscStatus(t, b.get("/dashboard/audit/export?format=csv"), http.StatusForbidden)
	miscStatus(t, b.get("/dashboard/audit/export?format=jsonl"), http.StatusForbidden)
}

// auditLogAll reads every event the filter keeps from the store.
func auditLogAll(t *testing.T, h *harness, f auth.AuditFilter) []auth.AuditEvent {
	t.Helper()
	var all []auth.AuditEvent
	f.Limit = auth.MaxPageSize
	for {
		evs, next, err := h.Store.ListAuditEvents(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
		if next == 0 {
			return all
		}
		f.After = next
	}
}

func TestAuditCSVCellNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\t=1": "'\t=1", "\r=1": "'\r=1",
		"": "", "usr_1": "usr_1", "a=1": "a=1", "'=1": "'=1",
	} {
		if got := auditCSVCell(in); got != want {
			t.Errorf("auditCSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAuditTypeFilterKeepsATypeGivenByURL(t *testing.T) {
	t.Parallel()
	_, b, _ := auditLogHarness(t)
	p := b.get("/dashboard/audit?type=other.thing")
	miscStatus(t, p, http.StatusOK)
	if !strings.Contains(p.body, `<option value="other.thing" selected>`) || len(auditLogMarkers(p.body)) != 0 {
		t.Errorf("an unknown type is not kept selected, or matched events:\n%s", p.body)
	}
}
