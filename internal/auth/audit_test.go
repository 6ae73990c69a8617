package auth

import "testing"

func TestAuditEventTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   AuditEvent
		want string
	}{
		{"a key event is about its key", AuditEvent{Type: EventKeyRevoked, KeyID: "key_1"}, "key_1"},
		{"KeyID wins over the details", AuditEvent{Type: EventClientDeleted, KeyID: "cli_1", Details: map[string]string{"client_id": "cli_2"}}, "cli_1"},
		{"a webhook event is about the endpoint in KeyID", AuditEvent{Type: EventWebhookDisabled, KeyID: "whe_1"}, "whe_1"},
		{"a client event without KeyID names the client", AuditEvent{Type: EventClientUpdated, Details: map[string]string{"client_id": "cli_1"}}, "cli_1"},
		{"a consent event is about the client", AuditEvent{Type: EventConsentGranted, Actor: "usr_1", Details: map[string]string{"user_id": "usr_1", "client_id": "cli_1"}}, "cli_1"},
		{"a token event is about the client", AuditEvent{Type: EventFamilyRevoked, Details: map[string]string{"client_id": "cli_1"}}, "cli_1"},
		{"a user event is about the user", AuditEvent{Type: EventUserDisabled, Details: map[string]string{"user_id": "usr_1"}}, "usr_1"},
		{"a signing key event is about the kid", AuditEvent{Type: EventSigningKeyRetired, Details: map[string]string{"kid": "kid_1"}}, "kid_1"},
		{"a route event is about the route name", AuditEvent{Type: EventRouteDeleted, Details: map[string]string{"name": "billing"}}, "billing"},
		{"a failure of an unknown key has no target", AuditEvent{Type: EventKeyVerificationFailed}, ""},
		{"a user event without a user ID has none", AuditEvent{Type: "user.login_throttled", Details: map[string]string{"username": "bob"}}, ""},
		{"an unknown family has none", AuditEvent{Type: "other.thing", Details: map[string]string{"name": "x"}}, ""},
		{"a type without a family has none", AuditEvent{Type: "route", Details: map[string]string{"name": "x"}}, ""},
		{"a prefix is not a family", AuditEvent{Type: "routes.x", Details: map[string]string{"name": "x"}}, ""},
	}
	for _, tt := range tests {
		if got := tt.ev.Target(); got != tt.want {
			t.Errorf("%s: Target() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestContainsPattern(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":          "%%",
		"Prod":      "%prod%",
		"100%":      `%100\%%`,
		"a_b":       `%a\_b%`,
		`c:\d`:      `%c:\\d%`,
		"ÉCOLE Key": "%École key%", // only ASCII letters are folded
	}
	for in, want := range tests {
		if got := ContainsPattern(in); got != want {
			t.Errorf("ContainsPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckKeyFilter(t *testing.T) {
	t.Parallel()
	ok := []APIKeyFilter{{}, {Status: KeyRevoked}, {Status: KeyRotating, Environment: KeyEnvTest}, {Search: "x", Owners: []string{"a"}}}
	for _, f := range ok {
		if err := CheckKeyFilter(f); err != nil {
			t.Errorf("CheckKeyFilter(%+v) = %v", f, err)
		}
	}
	bad := []APIKeyFilter{{Status: "gone"}, {Environment: "prod"}, {Search: "a\x00"}, {Owners: []string{"\xff"}}}
	for _, f := range bad {
		if err := CheckKeyFilter(f); ErrorCode(err) != EINVALID {
			t.Errorf("CheckKeyFilter(%+v) = %v, want EINVALID", f, err)
		}
	}
}
