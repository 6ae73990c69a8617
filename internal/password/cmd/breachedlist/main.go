// Command breachedlist rebuilds the list of breached passwords that the
// password policy embeds (internal/password/breached.txt.gz) from a list
// of the most common passwords, most common first: a JSON array of strings
// such as zxcvbn's passwords.json, or plain text with one password a line.
//
//	go run ./internal/password/cmd/breachedlist -in passwords.json [-limit 100000] [-out internal/password/breached.txt.gz]
//
// Run it from the repository root, then record the source and version of
// the input in the comment of breachedGz (internal/password/breached.go).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/password"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "breachedlist:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("breachedlist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "the list of common passwords, most common first (JSON array or one a line); required")
	out := fs.String("out", "internal/password/breached.txt.gz", "the file to write")
	limit := fs.Int("limit", 0, "keep only the first N usable passwords of the input (0: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || fs.NArg() > 0 || *limit < 0 {
		fs.Usage()
		return errors.New("-in FILE is required, -limit must not be negative, and no arguments are taken")
	}
	src, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	n, err := password.WriteBreachedList(&buf, bytes.NewReader(src), *limit)
	if err != nil {
		return err
	}
	// Written whole or not at all: a failed run leaves the old list.
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		os.Remove(tmp)
		return err
	}
	fmt.Fprintf(stdout, "wrote %d passwords (%d bytes) to %s\n", n, buf.Len(), *out)
	return nil
}
