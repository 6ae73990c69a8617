package web

import (
	"net/http"
	"testing"
	"time"
)

func TestSetRetryAfterRoundsUpAndIsNeverZero(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1", -time.Second: "1", time.Millisecond: "1", 999 * time.Millisecond: "1",
		time.Second: "1", 1500 * time.Millisecond: "2", time.Minute: "60",
	} {
		h := http.Header{}
		SetRetryAfter(h, d)
		if got := h.Get("Retry-After"); got != want {
			t.Errorf("SetRetryAfter(%v) = %q, want %q", d, got, want)
		}
	}
}
