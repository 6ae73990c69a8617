package auth

import (
	"strings"
	"testing"
	"time"
)

func TestNewIDSortsByTime(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 500 {
		id, err := NewID("x_", start.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(id, "x_") || len(id) != len("x_")+IDLength || strings.Trim(id[2:], "0123456789abcdefghijklmnopqrstuv") != "" {
			t.Fatalf("ID %q is not x_ and %d base32hex characters", id, IDLength)
		}
		if id <= prev {
			t.Fatalf("ID %q made later sorts before %q", id, prev)
		}
		prev = id
	}
}
