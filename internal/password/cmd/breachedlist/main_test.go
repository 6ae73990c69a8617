package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/password"
)

// The documented refresh: a zxcvbn-style passwords.json in, the embedded
// list's format out, readable by the policy.
func TestRebuild(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "passwords.json")
	if err := os.WriteFile(in, []byte(`["123456","password","Sunshine1","qwertyuiop","abc"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "breached.txt.gz")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-in", in, "-out", out}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v (%s)", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "wrote 3 passwords") {
		t.Fatalf("stdout %q", stdout.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	list, err := password.ReadBreachedList(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(list, ",") != "password,qwertyuiop,sunshine1" {
		t.Fatalf("list %q", list)
	}
	if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
		t.Fatal("the temporary file was left behind")
	}
}

func TestRebuildRefusesBadUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "keep.gz")
	os.WriteFile(out, []byte("old"), 0o600)
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("abc\n"), 0o600)
	for name, args := range map[string][]string{
		"no -in":          {"-out", out},
		"missing file":    {"-in", filepath.Join(dir, "nope"), "-out", out},
		"nothing usable":  {"-in", empty, "-out", out},
		"negative limit":  {"-in", empty, "-out", out, "-limit", "-1"},
		"stray arguments": {"-in", empty, "-out", out, "extra"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(args, &stdout, &stderr); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Fatal("a failed run replaced the list")
	}
}
