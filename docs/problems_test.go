// Package docs_test holds the documentation to the code it describes.
package docs_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/proxy"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// row is one row of problems.md's tables.
type row struct {
	status int
	title  string
}

// documented reads the rows of problems.md's tables (type, status, title,
// meaning): type name -> its rows (a name may be in several sections).
func documented(t *testing.T) map[string][]row {
	t.Helper()
	f, err := os.Open("problems.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]row{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`"+problem.TypePrefix) {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")[len(problem.TypePrefix):]
		status, err := strconv.Atoi(strings.TrimSpace(cells[2]))
		if err != nil {
			t.Fatalf("problems.md: %q: the status is not a number", sc.Text())
		}
		title := strings.TrimSpace(cells[3])
		if title == "" {
			t.Errorf("problems.md: %s has no title", name)
		}
		if strings.TrimSpace(cells[4]) == "" {
			t.Errorf("problems.md: %s has no meaning", name)
		}
		out[name] = append(out[name], row{status, title})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProblemTypesDocumented: every kind of problem in the tables of the
// admin API, the gateway, its proxy and package verify is listed in
// problems.md with its status and title, and the page lists no type that
// none of them writes. One name is one status and one title wherever it is
// used (RFC 9457 §3.1.3: a type's title does not change between
// occurrences).
func TestProblemTypesDocumented(t *testing.T) {
	t.Parallel()
	doc := documented(t)
	tables := map[string][]problem.Kind{
		"admin": admin.Problems(), "gateway": gateway.Problems(), "proxy": proxy.Problems(), "verify": verify.Problems(),
	}
	written := map[string]problem.Kind{}
	for surface, kinds := range tables {
		if len(kinds) == 0 {
			t.Errorf("%s lists no problem kinds", surface)
		}
		for _, k := range kinds {
			if w, ok := written[k.Name]; ok && w.Status != k.Status {
				t.Errorf("%s: %s is %d here and %d elsewhere: one name, one status", surface, k.Name, k.Status, w.Status)
			}
			if w, ok := written[k.Name]; ok && w.Title != k.Title {
				t.Errorf("%s: %s is titled %q here and %q elsewhere: one name, one title", surface, k.Name, k.Title, w.Title)
			}
			written[k.Name] = k
			rows, ok := doc[k.Name]
			if !ok {
				t.Errorf("%s writes %s (%d), which problems.md does not list", surface, k.Type(), k.Status)
				continue
			}
			for _, r := range rows {
				if r.status != k.Status {
					t.Errorf("problems.md gives %s status %d; %s writes %d", k.Name, r.status, surface, k.Status)
				}
				if r.title != k.Title {
					t.Errorf("problems.md titles %s %q; %s writes %q", k.Name, r.title, surface, k.Title)
				}
			}
		}
	}
	for name := range doc {
		if _, ok := written[name]; !ok {
			t.Errorf("problems.md lists %s, which nothing writes", name)
		}
	}
}
