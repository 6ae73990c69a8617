package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// openAPIDoc is the part of openapi.json the tests read.
type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	var documented []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	var served []string
	for _, rt := range routes() {
		served = append(served, rt.pattern())
	}
	slices.Sort(documented)
	slices.Sort(served)
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("openapi.json documents %q, which the route table does not serve", d)
		}
	}
	for _, s := range served {
		if !slices.Contains(documented, s) {
			t.Errorf("the route table serves %q, which openapi.json does not document", s)
		}
	}
}

func TestOpenAPIOperationsAreComplete(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	accessOf := make(map[string]access)
	for _, rt := range routes() {
		accessOf[rt.pattern()] = rt.access
	}
	for path, item := range doc.Paths {
		for method, raw := range item {
			var op struct {
				OperationID string                     `json:"operationId"`
				Security    *[]map[string][]string     `json:"security"`
				Parameters  []map[string]any           `json:"parameters"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Errorf("%s %s: %v", method, path, err)
				continue
			}
			pattern := strings.ToUpper(method) + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", pattern)
			}
			if op.Security == nil {
				t.Errorf("%s: no security requirement stated", pattern)
			} else if (len(*op.Security) == 0) != (accessOf[pattern] == public) {
				t.Errorf("%s: security %v, but the route is %v", pattern, *op.Security, accessOf[pattern])
			}
			if accessOf[pattern] != public {
				for _, status := range []string{"400", "401", "403", "429", "500"} {
					if _, ok := op.Responses[status]; !ok {
						t.Errorf("%s: no %s response", pattern, status)
					}
				}
			}
			if strings.Contains(path, "{") && len(op.Parameters) == 0 {
				t.Errorf("%s: the path parameter is not described", pattern)
			}
		}
	}
}

// TestOpenAPIReferencesResolve walks every "$ref" and looks it up.
func TestOpenAPIReferencesResolve(t *testing.T) {
	t.Parallel()
	var doc any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	refs := 0
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				refs++
				if resolvePointer(doc, ref) == nil {
					t.Errorf("unresolved $ref %q", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if refs == 0 {
		t.Error("no $ref found: the walk is broken")
	}
}

func resolvePointer(doc any, ref string) any {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	cur := doc
	for _, part := range strings.Split(p, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func TestOpenAPIIsServedPublicly(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	resp, body := env.do(t, http.MethodGet, "/admin/v1/openapi.json", "", nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, openAPIDocument) {
		t.Error("the served document differs from the embedded one")
	}
}
