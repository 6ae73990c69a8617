package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/factors/factorstest"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// users factors lists a user's factors without secrets; reset-factors
// removes one passkey, the app, or everything.
func TestUsersFactorsCommands(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	clk := testenv.NewClock(time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC))
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})
	var u struct {
		ID string `json:"id"`
	}
	n.cliStdin("a long and unguessable passphrase\n", &u, "users", "create", "--username", "ann", "--password-stdin")
	keys, _ := factorstest.Seed(t, n.main.Store, u.ID, clk.Now())

	out := n.cli("users", "factors", u.ID)
	if !strings.Contains(out, "totp") || !strings.Contains(out, keys[0]) || !strings.Contains(out, "YubiKey 1") || !strings.Contains(out, "never") {
		t.Fatalf("users factors:\n%s", out)
	}
	n.cli("users", "reset-factors", u.ID, "--passkey", keys[0])
	var fs struct {
		TOTP *struct {
			RecoveryCodesLeft int `json:"recovery_codes_left"`
		} `json:"totp"`
		Passkeys []struct {
			ID string `json:"id"`
		} `json:"passkeys"`
	}
	n.cliJSON(&fs, "users", "factors", u.ID)
	if fs.TOTP == nil || fs.TOTP.RecoveryCodesLeft != 3 || len(fs.Passkeys) != 1 || fs.Passkeys[0].ID != keys[1] {
		t.Fatalf("after removing a passkey: %+v", fs)
	}
	n.cli("users", "reset-factors", u.ID, "--totp")
	if code, out := n.exitOf("", "users", "reset-factors", u.ID, "--totp"); code == 0 {
		t.Fatalf("no app left, yet exit 0:\n%s", out)
	}
	if code, _ := n.exitOf("", "users", "reset-factors", u.ID, "--totp", "--passkey", keys[1]); code == 0 {
		t.Fatal("--totp and --passkey together accepted")
	}
	n.cli("users", "reset-factors", u.ID)
	fs.TOTP, fs.Passkeys = nil, nil
	n.cliJSON(&fs, "users", "factors", u.ID)
	if fs.TOTP != nil || len(fs.Passkeys) != 0 {
		t.Fatalf("after reset-factors: %+v", fs)
	}
}
