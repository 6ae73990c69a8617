package problem

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWriteAndRenderAgree(t *testing.T) {
	t.Parallel()
	k := Kind{Name: "no_route", Status: http.StatusNotFound, Title: "Not found"}
	d := k.With("No route matches this request.")
	a, b := httptest.NewRecorder(), httptest.NewRecorder()
	Write(a, d)
	Render(d).Write(b)
	for _, rec := range []*httptest.ResponseRecorder{a, b} {
		if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/problem+json" ||
			rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("status %d, headers %v", rec.Code, rec.Header())
		}
	}
	if a.Body.String() != b.Body.String() {
		t.Fatalf("Write %q, Render %q", a.Body, b.Body)
	}
	var got Details
	if err := json.Unmarshal(a.Body.Bytes(), &got); err != nil || got != d {
		t.Fatalf("body %s: %+v, %v", a.Body, got, err)
	}
	if got.Type != "urn:gatehouse:problem:no_route" {
		t.Fatalf("type %q", got.Type)
	}
	if name, ok := NameOf(got.Type); !ok || name != "no_route" {
		t.Fatalf("NameOf = %q, %v", name, ok)
	}
	if _, ok := NameOf("about:blank"); ok {
		t.Fatal("NameOf accepted about:blank")
	}
}
