package ratelimit

import (
	"math"
	"testing"
	"time"
)

func TestCeilSecondsSaturates(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int64
	}{
		{0, 0},
		{-time.Second, 0},
		{time.Nanosecond, 1},
		{time.Second, 1},
		{time.Second + 1, 2},
		{time.Duration(math.MaxInt64), math.MaxInt64 / int64(time.Second)},
	}
	for _, tt := range tests {
		if got := CeilSeconds(tt.d); got != tt.want {
			t.Errorf("CeilSeconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
