package apikey_test

import (
	"encoding/base32"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
)

func TestIDFormatAndOrder(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^key_[0-9a-v]{16}$`)
	hex := base32.HexEncoding.WithPadding(base32.NoPadding)
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 2000 {
		now := start.Add(time.Duration(i) * 1500 * time.Microsecond) // often the same millisecond twice
		id, err := apikey.NewID(now)
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(id) {
			t.Fatalf("ID %q does not match %s", id, re)
		}
		// The first 48 bits are the creation time in milliseconds.
		raw, err := hex.DecodeString(strings.ToUpper(id[4:]))
		if err != nil {
			t.Fatalf("ID %q is not base32hex: %v", id, err)
		}
		var ms int64
		for _, b := range raw[:6] {
			ms = ms<<8 | int64(b)
		}
		if ms != now.UnixMilli() {
			t.Fatalf("ID %q holds time %d, want %d", id, ms, now.UnixMilli())
		}
		ids = append(ids, id)
	}
	// Sorting by ID sorts by creation time, to the millisecond.
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	for i := range sorted {
		if sorted[i][:13] != ids[i][:13] { // key_ + 9 chars = the first 45 bits of the time
			t.Fatalf("sorted IDs out of creation order at %d: %s vs %s", i, sorted[i], ids[i])
		}
	}
	if len(slices.Compact(sorted)) != len(ids) {
		t.Fatal("duplicate IDs")
	}
}
