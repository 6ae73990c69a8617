package auth

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestAPIKeyStatus(t *testing.T) {
	tests := []struct {
		name string
		key  APIKey
		want string
	}{
		{"a fresh key is active", APIKey{}, KeyActive},
		{"a rotated key in its grace period is rotating", APIKey{RotatedTo: "key_b", ExpiresAt: t0.Add(time.Hour)}, KeyRotating},
		{"a key past its expiry is expired", APIKey{ExpiresAt: t0}, KeyExpired},
		{"a rotated key past its grace period is expired", APIKey{RotatedTo: "key_b", ExpiresAt: t0.Add(-time.Second)}, KeyExpired},
		{"revocation wins over expiry", APIKey{ExpiresAt: t0.Add(-time.Hour), RevokedAt: t0.Add(-time.Minute)}, KeyRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.Status(t0); got != tt.want {
				t.Fatalf("Status = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRotationDue(t *testing.T) {
	k := APIKey{RotationDueAt: t0}
	if k.RotationDue(t0.Add(-time.Second)) {
		t.Error("due before its time")
	}
	if !k.RotationDue(t0) {
		t.Error("not due at its time")
	}
	k.RotatedTo = "key_b"
	if k.RotationDue(t0) {
		t.Error("a rotated key is still reported as due")
	}
	if (&APIKey{}).RotationDue(t0) {
		t.Error("a key without a policy is due")
	}
}

func TestHasScopes(t *testing.T) {
	k := APIKey{Scopes: []string{"a", "b"}}
	if !k.HasScopes(nil) || !k.HasScopes([]string{"b", "a"}) {
		t.Error("held scopes refused")
	}
	if k.HasScopes([]string{"a", "c"}) || k.HasScopes([]string{"A"}) {
		t.Error("a missing scope (or another case) accepted")
	}
}

func TestRotatedExpiry(t *testing.T) {
	never := time.Time{}
	tests := []struct {
		name                string
		current, next, want time.Time
	}{
		{"a key without expiry gets the grace end", never, t0, t0},
		{"an earlier expiry is kept", t0, t0.Add(time.Hour), t0},
		{"a later expiry is cut to the grace end", t0.Add(time.Hour), t0, t0},
		{"no grace end keeps the expiry", t0, never, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RotatedExpiry(tt.current, tt.next); !got.Equal(tt.want) {
				t.Fatalf("RotatedExpiry = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckStorable(t *testing.T) {
	ok := func() *APIKey { return &APIKey{ID: "key_a", Hash: []byte{1}, Owner: "サービス 😀"} }
	tests := []struct {
		name   string
		modify func(*APIKey)
		valid  bool
	}{
		{"unicode text", func(*APIKey) {}, true},
		{"no ID", func(k *APIKey) { k.ID = "" }, false},
		{"no hash", func(k *APIKey) { k.Hash = nil }, false},
		{"NUL in the owner", func(k *APIKey) { k.Owner = "a\x00b" }, false},
		{"invalid UTF-8 in a scope", func(k *APIKey) { k.Scopes = []string{"\xff"} }, false},
		{"invalid UTF-8 in a metadata key", func(k *APIKey) { k.Metadata = map[string]string{"\xff": "v"} }, false},
		{"a NaN rate", func(k *APIKey) { k.RateLimit.Rate = math.NaN() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := ok()
			tt.modify(k)
			err := k.CheckStorable()
			if (err == nil) != tt.valid {
				t.Fatalf("CheckStorable = %v, want valid=%v", err, tt.valid)
			}
			if err != nil && ErrorCode(err) != EINVALID {
				t.Fatalf("code = %s, want %s", ErrorCode(err), EINVALID)
			}
		})
	}
	if err := CheckStorableEvents([]AuditEvent{{Type: EventKeyCreated, Details: map[string]string{"k": "\x00"}}}); ErrorCode(err) != EINVALID {
		t.Fatalf("an event with NUL text: %v", err)
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	wrapped := fmt.Errorf("store: %w", Errorf(ENOTFOUND, "No key %q.", "key_a"))
	if ErrorCode(wrapped) != ENOTFOUND || ErrorMessage(wrapped) != `No key "key_a".` {
		t.Errorf("a wrapped *Error: %s, %s", ErrorCode(wrapped), ErrorMessage(wrapped))
	}
	other := errors.New("dial tcp 10.0.0.1:5432: connection refused")
	if ErrorCode(other) != EINTERNAL || ErrorMessage(other) == other.Error() {
		t.Errorf("an internal error leaks its detail: %s, %s", ErrorCode(other), ErrorMessage(other))
	}
	if ErrorCode(nil) != "" || ErrorMessage(nil) != "" {
		t.Error("nil is not an error")
	}
}
