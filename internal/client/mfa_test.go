package client_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// TestClientMFAPolicy: a client's second-factor policy is "" (the
// server's), optional or required, for clients that sign users in; it is
// kept, changed by an update, audited as a change, and cleared by an
// update that leaves it out.
func TestClientMFAPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	web := client.Input{Name: "app", RedirectURIs: []string{"https://app.example.com/cb"}}

	for name, in := range map[string]client.Input{
		"an unknown policy":       func() client.Input { in := web; in.MFA = "always"; return in }(),
		"a policy in upper case":  func() client.Input { in := web; in.MFA = "REQUIRED"; return in }(),
		"a client without users":  {Name: "svc", GrantTypes: []string{"client_credentials"}, MFA: auth.MFARequired},
		"optional without a user": {Name: "svc", GrantTypes: []string{"client_credentials"}, MFA: auth.MFAOptional},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := e.Create(ctx, "test", in)
			if auth.ErrorCode(err) != auth.EINVALID {
				t.Fatalf("err %v, want EINVALID", err)
			}
			if msg := auth.ErrorMessage(err); !strings.Contains(msg, "second-factor") && !strings.Contains(msg, "MFA policy") {
				t.Errorf("message %q names neither the policy nor its rule", msg)
			}
		})
	}

	device := client.Input{Name: "tv", Public: true, GrantTypes: []string{auth.GrantDeviceCode}, MFA: auth.MFARequired}
	if c, _ := e.mustCreate(t, device); c.MFA != auth.MFARequired {
		t.Fatalf("device client policy %q", c.MFA)
	}

	in := web
	in.MFA = auth.MFARequired
	c, _ := e.mustCreate(t, in)
	if c.MFA != auth.MFARequired {
		t.Fatalf("created with policy %q", c.MFA)
	}
	stored, err := e.db.GetClient(ctx, c.ID)
	if err != nil || stored.MFA != auth.MFARequired {
		t.Fatalf("stored policy %q (%v)", stored.MFA, err)
	}
	in.MFA = auth.MFAOptional
	up, err := e.Update(ctx, "adm_1", c.ID, in)
	if err != nil || up.MFA != auth.MFAOptional {
		t.Fatalf("updated policy %q (%v)", up.MFA, err)
	}
	evs, _, err := e.db.ListAuditEvents(ctx, auth.AuditFilter{KeyID: c.ID, Type: auth.EventClientUpdated, Limit: 10})
	if err != nil || len(evs) != 1 || !slices.Contains(strings.Split(evs[0].Details["changed"], ","), "mfa") {
		t.Fatalf("client.updated %+v (%v)", evs, err)
	}
	in.MFA = ""
	if up, err = e.Update(ctx, "adm_1", c.ID, in); err != nil || up.MFA != "" {
		t.Fatalf("cleared policy %q (%v)", up.MFA, err)
	}
}
