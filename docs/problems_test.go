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

// documented reads the rows of problems.md's tables: type name -> statuses.
func documented(t *testing.T) map[string][]int {
	t.Helper()
	f, err := os.Open("problems.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`"+problem.TypePrefix) {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")[len(problem.TypePrefix):]
		status, err := strconv.Atoi(strings.TrimSpace(cells[2]))
		if err != nil {
			t.Fatalf("problems.md: %q: the status is not a number", sc.Text())
		}
		if strings.TrimSpace(cells[3]) == "" {
			t.Errorf("problems.md: %s has no meaning", name)
		}
		out[name] = append(out[name], status)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProblemTypesDocumented: every kind of problem in the tables of the
// admin API, the gateway, its proxy and package verify is listed in
// problems.md with its status, and the page lists no type that none of
// them writes. One name is one status wherever it is used.
func TestProblemTypesDocumented(t *testing.T) {
	t.Parallel()
	doc := documented(t)
	tables := map[string][]problem.Kind{
		"admin": admin.Problems(), "gateway": gateway.Problems(), "proxy": proxy.Problems(), "verify": verify.Problems(),
	}
	written := map[string]int{}
	for surface, kinds := range tables {
		if len(kinds) == 0 {
			t.Errorf("%s lists no problem kinds", surface)
		}
		for _, k := range kinds {
			if s, ok := written[k.Name]; ok && s != k.Status {
				t.Errorf("%s: %s is %d here and %d elsewhere: one name, one status", surface, k.Name, k.Status, s)
			}
			written[k.Name] = k.Status
			statuses, ok := doc[k.Name]
			if !ok {
				t.Errorf("%s writes %s (%d), which problems.md does not list", surface, k.Type(), k.Status)
				continue
			}
			for _, s := range statuses {
				if s != k.Status {
					t.Errorf("problems.md gives %s status %d; %s writes %d", k.Name, s, surface, k.Status)
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
