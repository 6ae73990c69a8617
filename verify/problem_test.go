package verify

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/problem"
)

// TestWriteErrorEveryReason: each reason is answered with the type and
// status its row of the refusal table says, and docs/problems.md (held to
// Problems by docs/problems_test.go) documents.
func TestWriteErrorEveryReason(t *testing.T) {
	t.Parallel()
	want := map[Reason]struct {
		name   string
		status int
	}{
		ReasonMissing:                        {"credentials_missing", 401},
		ReasonMalformed:                      {"credentials_invalid", 401},
		ReasonExpired:                        {"credentials_invalid", 401},
		ReasonNotYetValid:                    {"credentials_invalid", 401},
		ReasonBadSignature:                   {"credentials_invalid", 401},
		ReasonUnknownKID:                     {"credentials_invalid", 401},
		ReasonWrongIssuer:                    {"credentials_invalid", 401},
		ReasonWrongAudience:                  {"credentials_invalid", 401},
		ReasonWrongType:                      {"credentials_invalid", 401},
		ReasonRevoked:                        {"credentials_invalid", 401},
		ReasonInsufficientScope:              {"insufficient_scope", 403},
		ReasonKeysUnavailable:                {"unavailable", 503},
		ReasonRateLimited:                    {"rate_limited", 429},
		ReasonUsageExceeded:                  {"usage_exceeded", 429},
		ReasonIPNotAllowed:                   {"ip_not_allowed", 403},
		ReasonInvalidDPoPProof:               {"credentials_invalid", 401},
		ReasonDPoPReplayed:                   {"credentials_invalid", 401},
		ReasonUseDPoPNonce:                   {"credentials_invalid", 401},
		ReasonDPoPBinding:                    {"credentials_invalid", 401},
		ReasonInsufficientUserAuthentication: {"insufficient_user_authentication", 401},
		"a reason of another package":        {"credentials_invalid", 401},
	}
	if len(refusals)+1 != len(want) {
		t.Fatalf("the refusal table has %d reasons, this test %d: add the new one here", len(refusals), len(want)-1)
	}
	answer := func(err error) problem.Details {
		rec := httptest.NewRecorder()
		WriteError(rec, "api", err, nil)
		var d problem.Details
		if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != d.Status {
			t.Fatalf("body %q, status %d: %v", rec.Body, rec.Code, err)
		}
		return d
	}
	for r, w := range want {
		d := answer(&Error{Reason: r})
		if d.Type != problem.TypePrefix+w.name || d.Status != w.status || d.Title == "" {
			t.Errorf("%s: %+v, want %s %d", r, d, w.name, w.status)
		}
	}
	if d := answer(errors.New("not a refusal")); d.Type != problem.TypePrefix+"credentials_invalid" || d.Status != 401 {
		t.Errorf("another error: %+v", d)
	}
}
