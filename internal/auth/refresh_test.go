package auth

import (
	"reflect"
	"testing"
	"time"
)

func TestRefreshTokenRotate(t *testing.T) {
	t.Parallel()
	alive := RefreshToken{ExpiresAt: t0.Add(time.Hour), FamilyExpiresAt: t0.Add(24 * time.Hour)}
	used := func(at time.Time, presentations int) RefreshToken {
		rt := alive
		rt.UsedAt, rt.Presentations = at, presentations
		return rt
	}
	tests := []struct {
		name      string
		token     RefreshToken
		now       time.Time
		grace     time.Duration
		want      RefreshRefusal
		wantUsed  time.Time // after a rotation
		wantCount int
	}{
		{"an unused token rotates and counts one presentation", alive, t0, 0, "", t0, 1},
		{"an unused token rotates the same with a grace window", alive, t0, time.Minute, "", t0, 1},
		{"a used token without grace is reuse", used(t0, 1), t0.Add(time.Second), 0, RefreshReused, time.Time{}, 0},
		{"a used token presented at the same instant without grace is reuse", used(t0, 1), t0, 0, RefreshReused, time.Time{}, 0},
		{"a retry within the grace window rotates and keeps the first use", used(t0, 1), t0.Add(10 * time.Second), time.Minute, "", t0, 2},
		{"a retry at the end of the grace window still rotates", used(t0, 1), t0.Add(time.Minute), time.Minute, "", t0, 2},
		{"a retry after the grace window is reuse", used(t0, 1), t0.Add(time.Minute + time.Microsecond), time.Minute, RefreshReused, time.Time{}, 0},
		{"a second retry within the grace window is reuse", used(t0, 2), t0.Add(time.Second), time.Minute, RefreshReused, time.Time{}, 0},
		{"a token marked used before presentations were counted may be retried once", used(t0, 0), t0.Add(time.Second), time.Minute, "", t0, 2},
		{"a revoked token is refused as revoked, even if reused", RefreshToken{RevokedAt: t0, UsedAt: t0, Presentations: 2}, t0.Add(time.Second), 0, RefreshRevoked, time.Time{}, 0},
		{"reuse is found before expiry", RefreshToken{ExpiresAt: t0, UsedAt: t0.Add(-time.Hour), Presentations: 1}, t0.Add(time.Hour), 0, RefreshReused, time.Time{}, 0},
		{"a token is dead from its idle expiry on", alive, alive.ExpiresAt, 0, RefreshExpired, time.Time{}, 0},
		{"a token is alive a microsecond before its idle expiry", alive, alive.ExpiresAt.Add(-time.Microsecond), 0, "", alive.ExpiresAt.Add(-time.Microsecond), 1},
		{"a token is dead from its family's expiry on", RefreshToken{FamilyExpiresAt: t0}, t0, 0, RefreshExpired, time.Time{}, 0},
		{"a token without deadlines never expires", RefreshToken{}, t0.Add(1000 * time.Hour), 0, "", t0.Add(1000 * time.Hour), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.token.Refusal(tt.now, tt.grace); got != tt.want {
				t.Fatalf("Refusal = %q, want %q", got, tt.want)
			}
			before := tt.token
			next, err := tt.token.Rotate(tt.now, tt.grace)
			if tt.want != "" {
				if ErrorCode(err) != ECONFLICT {
					t.Fatalf("Rotate error = %v, want a conflict", err)
				}
				if !reflect.DeepEqual(next, before) {
					t.Fatalf("a refused Rotate changed the token: %+v", next)
				}
				return
			}
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			if !next.UsedAt.Equal(tt.wantUsed) || next.Presentations != tt.wantCount {
				t.Fatalf("Rotate = used at %v, %d presentations; want %v, %d", next.UsedAt, next.Presentations, tt.wantUsed, tt.wantCount)
			}
			if !reflect.DeepEqual(tt.token, before) {
				t.Fatal("Rotate changed its receiver")
			}
		})
	}
}

func TestRefreshRefusalErr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		r      RefreshRefusal
		code   string
		substr string
	}{
		{"no refusal is no error", "", "", ""},
		{"revoked is a conflict that says so", RefreshRevoked, ECONFLICT, "Refresh token is revoked."},
		{"reused is a conflict that says it was used", RefreshReused, ECONFLICT, "Refresh token has already been used."},
		{"expired is a conflict that says so", RefreshExpired, ECONFLICT, "Refresh token has expired."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.r.Err()
			if ErrorCode(err) != tt.code || ErrorMessage(err) != tt.substr {
				t.Fatalf("Err = %v, want %s %q", err, tt.code, tt.substr)
			}
		})
	}
}

func TestAuthCodeConsume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		code     AuthCode
		wantErr  string
		wantUsed time.Time
	}{
		{"an unused code is marked used at the time of use", AuthCode{ExpiresAt: t0.Add(time.Minute)}, "", t0},
		{"an expired code is still consumed, so it is tried once", AuthCode{ExpiresAt: t0.Add(-time.Minute)}, "", t0},
		{"a used code is a conflict and keeps its first use", AuthCode{UsedAt: t0.Add(-time.Second)}, ECONFLICT, t0.Add(-time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.code.Consume(t0)
			if ErrorCode(err) != tt.wantErr {
				t.Fatalf("Consume error = %v, want code %q", err, tt.wantErr)
			}
			if !got.UsedAt.Equal(tt.wantUsed) {
				t.Fatalf("UsedAt = %v, want %v", got.UsedAt, tt.wantUsed)
			}
		})
	}
}

func TestAuthCodeExpiredAt(t *testing.T) {
	t.Parallel()
	c := AuthCode{ExpiresAt: t0}
	for _, tt := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"a code is alive before its expiry", t0.Add(-time.Microsecond), false},
		{"a code is dead at its expiry", t0, true},
		{"a code is dead after its expiry", t0.Add(time.Second), true},
	} {
		if got := c.ExpiredAt(tt.now); got != tt.want {
			t.Errorf("%s: ExpiredAt = %v", tt.name, got)
		}
	}
}
