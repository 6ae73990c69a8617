package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// breachedGz is the embedded list of the most common passwords seen in data
// breaches, refused by CheckPolicy: one password a line, NFKC-normalised,
// in lower case, sorted, without those shorter than MinLength code points
// (which the length rule refuses anyway), gzip-compressed.
//
// Source: the frequency-ordered password list (passwords.json, 49,233
// entries, itself from Mark Burnett's 10 million leaked passwords via
// zxcvbn) of the npm package @zxcvbn-ts/language-common 4.1.3 (MIT
// licence, Copyright 2012-2016 Dan Wheeler and Dropbox, Inc., 2021
// @zxcvbn-ts), giving 17,950 entries. Rebuild it with
//
//	go run ./internal/password/cmd/breachedlist -in passwords.json
//
// (see docs/identity.md).
//
//go:embed breached.txt.gz
var breachedGz []byte

// breachedList is the embedded list, read at first use.
var breachedList = sync.OnceValue(func() []string {
	list, err := ReadBreachedList(bytes.NewReader(breachedGz))
	if err != nil {
		panic("password: embedded breached list: " + err.Error()) // a broken build, caught by the tests
	}
	return list
})

// Breached reports whether pw, ignoring case and Unicode compatibility
// differences, is on the embedded list of breached passwords.
func Breached(pw string) bool { return breached(fold(pw)) }

func breached(folded string) bool {
	_, found := slices.BinarySearch(breachedList(), folded)
	return found
}

// ReadBreachedList reads a list written by WriteBreachedList and checks
// that it is sorted without duplicates, as the binary search needs.
func ReadBreachedList(r io.Reader) ([]string, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("password: breached list: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("password: breached list: %w", err)
	}
	list := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i := 1; i < len(list); i++ {
		if list[i-1] >= list[i] {
			return nil, errors.New("password: breached list is not sorted and unique")
		}
	}
	return list, nil
}

// WriteBreachedList reads passwords, most common first, from src — a JSON
// array of strings (zxcvbn's passwords.json) or plain text with one
// password a line — and writes the list CheckPolicy embeds to w: the first
// limit of them (0: all) that the length rule would let through, folded
// (NFKC, lower case), sorted and unique, gzip-compressed. It returns how
// many passwords the list holds.
func WriteBreachedList(w io.Writer, src io.Reader, limit int) (int, error) {
	raw, err := io.ReadAll(src)
	if err != nil {
		return 0, err
	}
	var in []string
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &in); err != nil {
			return 0, fmt.Errorf("password: the input looks like JSON but is not an array of strings: %w", err)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			in = append(in, strings.TrimSuffix(sc.Text(), "\r"))
		}
		if err := sc.Err(); err != nil {
			return 0, err
		}
	}
	seen := make(map[string]bool, len(in))
	var out []string
	for _, pw := range in {
		if limit > 0 && len(out) == limit {
			break
		}
		if !utf8.ValidString(pw) || len(pw) > MaxLength || strings.ContainsAny(pw, "\n\r") {
			continue
		}
		f := fold(pw)
		if utf8.RuneCountInString(f) < MinLength || seen[f] {
			continue
		}
		seen[f] = true
		out = append(out, f)
	}
	if len(out) == 0 {
		return 0, errors.New("password: no password of at least 8 characters in the input")
	}
	slices.Sort(out)
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return 0, err
	}
	if _, err := io.WriteString(zw, strings.Join(out, "\n")+"\n"); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return len(out), nil
}
