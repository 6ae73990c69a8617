package dashboard

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// refusal reports whether err is what a form or query may answer bad input
// with: a field error or an auth error a browser is shown (never internal).
func refusal(err error) bool {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.Message != ""
	}
	switch auth.ErrorCode(err) {
	case auth.EINVALID, auth.EFORBIDDEN:
		return true
	}
	return false
}

// FuzzKeyForm feeds the key form's parser everything a browser could post:
// it never panics, and a refusal is always a field or input error.
func FuzzKeyForm(f *testing.F) {
	f.Add("billing", "Invoices", "read, write", "90d", "100/s", "20", "30d", "1000", "1000", "month", "10.0.0.0/8", "a=b")
	f.Add("", "", "", "2030-01-31", "x/s", "-1", "1d-1h", "1e99", "0", "week", "300.0.0.0/8", "=")
	f.Add("o", "n", "\x00", "never", "0", "", "213504d", "-5", "", "", "::/0", "k=v\nk=w")
	f.Fuzz(func(t *testing.T, owner, name, scopes, expires, rate, burst, rotation, credits, refill, interval, ips, meta string) {
		form := keyForm{Owner: owner, Name: name, Scopes: scopes, Expires: expires, Rate: rate, Burst: burst,
			Rotation: rotation, Credits: credits, RefillAmount: refill, RefillInterval: interval, AllowedIPs: ips, Metadata: meta}
		v := &viewer{user: &auth.User{ID: "usr_1", Role: auth.RoleAdmin}}
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := createParams(form, v, now); err != nil && !refusal(err) {
			t.Fatalf("createParams: %T %v", err, err)
		}
		k := &auth.APIKey{ID: "key_1", Owner: "billing", Scopes: []string{"read"}, CreatedAt: now}
		if _, err := updateParams(form, k, now); err != nil && !refusal(err) {
			t.Fatalf("updateParams: %T %v", err, err)
		}
	})
}

// FuzzAuditLogQuery feeds the audit page's (and export's) query reader
// any query string.
func FuzzAuditLogQuery(f *testing.F) {
	f.Add("actor=usr_1&type=key.revoked&target=key_1&since=2030-01-01T00:00&until=2030-01-02T00:00:00&cursor=5")
	f.Add("since=yesterday&cursor=-1")
	f.Add("cursor=99999999999999999999&until=2030-13-45T99:99")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		a, err := readAuditLogQuery(q)
		if err != nil {
			if !refusal(err) {
				t.Fatalf("readAuditLogQuery: %T %v", err, err)
			}
			return
		}
		if a.filter.After < 0 {
			t.Fatalf("a negative cursor was taken: %d", a.filter.After)
		}
		if !a.filter.Since.IsZero() && !a.filter.Until.IsZero() && a.filter.Since.Location() != time.UTC {
			t.Fatalf("times not read as UTC: %v", a.filter.Since)
		}
	})
}
