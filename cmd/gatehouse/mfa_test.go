package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// The server wires the TOTP service with the configured issuer, and a
// secret sealed by one run of the server opens in the next (the sealing
// key comes from the server secret, not from the process).
func TestServerTOTPSurvivesARestart(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Identity.TOTPIssuer = "Acme SSO"
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})
	ctx := context.Background()
	u, err := n.main.Accounts.Create(ctx, "", account.CreateInput{Username: "ada", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := n.main.MFA.BeginEnrollment(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URI, "otpauth://totp/Acme%20SSO:ada?") {
		t.Fatalf("URI %s", e.URI)
	}
	code := func() string {
		c, err := totp.GenerateCodeCustom(e.Secret, clk.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := n.main.MFA.ConfirmEnrollment(ctx, u, code(), "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	n.main.Close()

	clk.Add(time.Minute)
	again := startNode(t, cfg, clk, &testenv.SyncBuffer{})
	if amr, err := again.main.MFA.VerifyCode(ctx, u.ID, code(), "127.0.0.1"); err != nil || amr != auth.AMROTP {
		t.Fatalf("after a restart: %q, %v", amr, err)
	}
}
