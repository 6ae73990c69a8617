package auth

import (
	"net/netip"
	"net/url"
	"testing"
)

func TestWebhookEventMapsAuditEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ev     AuditEvent
		typ    string // "" for no webhook
		member string // a data member that must be present
		value  any
	}{
		{"key revoked, one to one", AuditEvent{Type: EventKeyRevoked, KeyID: "key_1", Actor: "key_admin"}, WebhookKeyRevoked, "key_id", "key_1"},
		{"key leaked keeps its details", AuditEvent{Type: EventKeyLeaked, KeyID: "key_1", Details: map[string]string{"url": "https://github.com/x"}}, WebhookKeyLeaked, "url", "https://github.com/x"},
		{"key usage exceeded", AuditEvent{Type: EventKeyUsageExceeded, KeyID: "key_1"}, WebhookKeyUsageExceeded, "key_id", "key_1"},
		{"client secret rotated", AuditEvent{Type: EventClientSecretRotated, KeyID: "cl_1"}, WebhookClientSecretRotated, "client_id", "cl_1"},
		{"user disabled", AuditEvent{Type: EventUserDisabled, Details: map[string]string{"user_id": "u_1"}}, WebhookUserDisabled, "user_id", "u_1"},
		{"password reset", AuditEvent{Type: EventUserPasswordReset, Details: map[string]string{"user_id": "u_1", "method": "link"}}, WebhookUserPasswordReset, "method", "link"},
		{"password reset link made", AuditEvent{Type: EventUserPasswordResetLinkCreated, Details: map[string]string{"user_id": "u_1"}}, WebhookUserPasswordResetLinkCreated, "user_id", "u_1"},
		{"a failed reset link sends nothing", AuditEvent{Type: EventUserPasswordResetLinkFailed, Details: map[string]string{"user_id": "u_1"}}, "", "", nil},
		{"a new signing key is a rotation", AuditEvent{Type: EventSigningKeyCreated, Details: map[string]string{"kid": "k1"}}, WebhookSigningKeyRotated, "kid", "k1"},
		{"route deleted is a route change", AuditEvent{Type: EventRouteDeleted, Details: map[string]string{"name": "orders"}}, WebhookRouteChanged, "change", "deleted"},
		{"refresh token reuse", AuditEvent{Type: EventFamilyRevoked, KeyID: "cl_1", Reason: ReasonRefreshTokenReused}, WebhookRefreshTokenReuse, "reason", ReasonRefreshTokenReused},
		{"authorization code reuse", AuditEvent{Type: EventFamilyRevoked, KeyID: "cl_1", Reason: ReasonAuthCodeReused}, WebhookRefreshTokenReuse, "client_id", "cl_1"},
		{"revocation by the client is no security event", AuditEvent{Type: EventFamilyRevoked, Reason: "revoked_by_client"}, "", "", nil},
		{"verification failures send nothing", AuditEvent{Type: EventKeyVerificationFailed}, "", "", nil},
		{"passkey registered", AuditEvent{Type: EventPasskeyRegistered, Details: map[string]string{"user_id": "u_1", "passkey_id": "pk_1"}}, WebhookPasskeyRegistered, "passkey_id", "pk_1"},
		{"passkey removed", AuditEvent{Type: EventPasskeyRemoved, Details: map[string]string{"user_id": "u_1"}}, WebhookPasskeyRemoved, "user_id", "u_1"},
		{"passkey failure keeps its reason", AuditEvent{Type: EventPasskeyFailed, Reason: "clone_warning", Details: map[string]string{"user_id": "u_1"}}, WebhookPasskeyFailed, "reason", "clone_warning"},
		{"passkey renames send nothing", AuditEvent{Type: EventPasskeyRenamed}, "", "", nil},
		{"user updates send nothing", AuditEvent{Type: EventUserUpdated}, "", "", nil},
		{"the webhooks' own events send nothing", AuditEvent{Type: EventWebhookDisabled}, "", "", nil},
		{"totp enrolled", AuditEvent{Type: EventTOTPEnrolled, Details: map[string]string{"user_id": "u_1"}}, WebhookTOTPEnrolled, "user_id", "u_1"},
		{"totp removed", AuditEvent{Type: EventTOTPRemoved, Details: map[string]string{"user_id": "u_1"}}, WebhookTOTPRemoved, "user_id", "u_1"},
		{"recovery codes generated", AuditEvent{Type: EventRecoveryCodesGenerated, Details: map[string]string{"user_id": "u_1", "count": "10"}}, WebhookRecoveryCodesGenerated, "count", "10"},
		{"recovery code used", AuditEvent{Type: EventRecoveryCodeUsed, Details: map[string]string{"user_id": "u_1"}}, WebhookRecoveryCodeUsed, "user_id", "u_1"},
		{"a wrong one-time code", AuditEvent{Type: EventOTPFailed, Actor: "u_1", Details: map[string]string{"user_id": "u_1", "address": "192.0.2.1"}}, WebhookOTPFailed, "address", "192.0.2.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ, data, ok := WebhookEvent(tc.ev)
			if ok != (tc.typ != "") || typ != tc.typ {
				t.Fatalf("WebhookEvent = %q, %v; want %q", typ, ok, tc.typ)
			}
			if ok && !ValidWebhookEventType(typ) {
				t.Fatalf("%q is not a subscribable type", typ)
			}
			if tc.member != "" && data[tc.member] != tc.value {
				t.Fatalf("data[%q] = %v, want %v (data %v)", tc.member, data[tc.member], tc.value, data)
			}
		})
	}
}

func TestEveryWebhookTypeHasASource(t *testing.T) {
	t.Parallel()
	sources := []AuditEvent{
		{Type: EventKeyCreated}, {Type: EventKeyUpdated}, {Type: EventKeyRotated}, {Type: EventKeyRevoked},
		{Type: EventKeyExpired}, {Type: EventKeyLeaked}, {Type: EventKeyUsageExceeded},
		{Type: EventClientCreated}, {Type: EventClientUpdated}, {Type: EventClientDeleted}, {Type: EventClientSecretRotated},
		{Type: EventUserCreated}, {Type: EventUserDisabled}, {Type: EventSigningKeyCreated}, {Type: EventRouteCreated},
		{Type: EventFamilyRevoked, Reason: ReasonRefreshTokenReused},
		{Type: EventTOTPEnrolled}, {Type: EventTOTPRemoved}, {Type: EventRecoveryCodesGenerated}, {Type: EventRecoveryCodeUsed}, {Type: EventOTPFailed},
		{Type: EventPasskeyRegistered}, {Type: EventPasskeyRemoved}, {Type: EventPasskeyFailed},
		{Type: EventUserPasswordReset}, {Type: EventUserPasswordResetLinkCreated},
		{Type: EventUserProviderLinked}, {Type: EventUserProviderUnlinked},
		{Type: EventUserFactorsReset},
	}
	seen := map[string]bool{}
	for _, ev := range sources {
		if typ, _, ok := WebhookEvent(ev); ok {
			seen[typ] = true
		}
	}
	for _, typ := range WebhookEventTypes() {
		if !seen[typ] {
			t.Errorf("no audit event maps to %q", typ)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true, "8.8.8.8": true,
		"127.0.0.1": false, "127.1.2.3": false, "::1": false, "10.0.0.1": false, "172.16.5.4": false,
		"192.168.1.1": false, "169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd12::1": false,
		"0.0.0.0": false, "::": false, "100.64.0.1": false, "224.0.0.1": false, "ff02::1": false,
		"255.255.255.255": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "::ffff:169.254.169.254": false,
		"::ffff:8.8.8.8": true, "fe80::1%eth0": false,
		// Embedding an IPv4 address, documentation, benchmarking, reserved
		// and cloud platform ranges.
		"::8.8.8.8": false, "::127.0.0.1": false, "::ffff:0:7f00:1": false, "::ffff:0:808:808": false,
		"64:ff9b::7f00:1": false, "64:ff9b::808:808": false, "64:ff9b:1::a00:1": false,
		"100::1": false, "2001::1": false, "2001:0:4136:e378:8000:63bf:3fff:fdd2": false,
		"2001:db8::1": false, "2002:7f00:1::1": false,
		"192.0.2.1": false, "198.51.100.7": false, "203.0.113.9": false, "198.18.0.1": false, "198.19.255.254": false,
		"240.0.0.1": false, "168.63.129.16": false, "fd00:ec2::254": false, "::ffff:168.63.129.16": false,
		"168.63.129.17": true, "2001:4860:4860::8888": true, "198.20.0.1": true, "203.0.114.1": true,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestCheckWebhookURL(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		"https://hooks.example.com/x?y=1": true, "http://example.com": true, "https://[2606:4700::1]/": true,
		"ftp://example.com/": false, "example.com/x": false, "https://u:p@example.com/": false,
		"https://example.com/#frag": false, "http:///x": false, "https://127.0.0.1/": false,
		"https://[::ffff:7f00:1]/": false, "http://LOCALHOST./": false, "https://ex\x00ample.com/": false,
	} {
		err := CheckWebhookURL(raw, false)
		if (err == nil) != ok {
			t.Errorf("CheckWebhookURL(%q) = %v, want ok=%v", raw, err, ok)
		}
		if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("CheckWebhookURL(%q): code %s, want EINVALID", raw, ErrorCode(err))
		}
	}
	if err := CheckWebhookURL("http://127.0.0.1:9000/", true); err != nil {
		t.Errorf("with allow_private: %v", err)
	}
}

// FuzzCheckWebhookURL: whatever is accepted without allow_private is an
// absolute http(s) URL without user information, whose host, if an IP
// address, is public.
func FuzzCheckWebhookURL(f *testing.F) {
	for _, s := range []string{"https://example.com/x", "http://127.0.0.1/", "http://[::ffff:10.0.0.1]/",
		"https://u@example.com", "http://0x7f.1/", "http://localhost./", "https://[fe80::1%25eth0]/", "//x", "http:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckWebhookURL(raw, false) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Hostname() == "" {
			t.Fatalf("accepted %q", raw)
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && !PublicAddr(a) {
			t.Fatalf("accepted %q, an internal address", raw)
		}
	})
}
