package apikey_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// leakEnv is a Service over one backend, wrapped to count store calls.
type leakEnv struct {
	*env
	backend auth.Store
}

// forEachBackend runs f on SQLite and on PostgreSQL (skipped when it cannot
// be reached, unless GATEHOUSE_REQUIRE_POSTGRES=1).
func forEachBackend(t *testing.T, f func(t *testing.T, open func(t *testing.T, configure ...func(*apikey.Config)) *leakEnv)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, func(t *testing.T, configure ...func(*apikey.Config)) *leakEnv {
			e := newEnv(t, configure...)
			return &leakEnv{env: e, backend: e.db}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, func(t *testing.T, configure ...func(*apikey.Config)) *leakEnv {
			dsn, _ := testenv.PostgresSchema(t)
			db, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatalf("postgres.Open: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			var store *countingStore
			e := newEnv(t, append([]func(*apikey.Config){func(c *apikey.Config) {
				store = &countingStore{Store: db, calls: map[string]int{}, fail: map[string]error{}}
				c.Store, c.Audit = store, store
			}}, configure...)...)
			e.store = store
			return &leakEnv{env: e, backend: db}
		})
	})
}

// eventsOf returns the audit events of one type from the backend.
func (e *leakEnv) eventsOf(t *testing.T, typ string) []auth.AuditEvent {
	t.Helper()
	evs, _, err := e.backend.ListAuditEvents(context.Background(), auth.AuditFilter{Type: typ, Limit: auth.MaxPageSize})
	if err != nil {
		t.Fatalf("ListAuditEvents: %v", err)
	}
	return evs
}

func (e *leakEnv) report(t *testing.T, key string, revoke bool) apikey.LeakReport {
	t.Helper()
	r, err := e.svc.ReportLeaked(context.Background(), key, "https://github.com/o/r/blob/abc/.env", "commit", revoke)
	if err != nil {
		t.Fatalf("ReportLeaked: %v", err)
	}
	return r
}

func TestReportLeakedRevokesALiveKeyWithTheEventsInOneWrite(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open func(*testing.T, ...func(*apikey.Config)) *leakEnv) {
		e := open(t)
		k, key := e.create(t, apikey.CreateParams{})
		e.wantCode(t, key, apikey.CodeValid) // cached now: the report must drop it
		e.store.Reset()

		r := e.report(t, key, true)
		if r.Outcome != apikey.LeakRevoked || r.KeyID != k.ID || !r.Outcome.Ours() {
			t.Fatalf("ReportLeaked = %+v, want revoked %s", r, k.ID)
		}
		if n := e.store.Calls("RevokeAPIKey"); n != 1 {
			t.Errorf("RevokeAPIKey called %d times, want 1 (the events go with the revocation)", n)
		}
		if n := e.store.Calls("AppendAuditEvents"); n != 0 {
			t.Errorf("AppendAuditEvents called %d times, want 0: the leak event must be written with the revocation", n)
		}
		e.wantCode(t, key, apikey.CodeRevoked)

		leaked := e.eventsOf(t, auth.EventKeyLeaked)
		if len(leaked) != 1 {
			t.Fatalf("%d key.leaked events, want 1", len(leaked))
		}
		ev := leaked[0]
		if ev.KeyID != k.ID || ev.Actor != auth.ActorSystem || ev.Details["url"] != "https://github.com/o/r/blob/abc/.env" ||
			ev.Details["source"] != "commit" || ev.Details["action"] != "revoked" {
			t.Errorf("key.leaked event = %+v", ev)
		}
		if revoked := e.eventsOf(t, auth.EventKeyRevoked); len(revoked) != 1 || revoked[0].KeyID != k.ID || revoked[0].Details["reason"] != "leaked" {
			t.Errorf("key.revoked events = %+v, want one for %s with reason leaked", revoked, k.ID)
		}

		// A second report of the same key: still ours, nothing written.
		if r := e.report(t, key, true); r.Outcome != apikey.LeakInactive || !r.Outcome.Ours() {
			t.Errorf("second ReportLeaked = %+v, want inactive", r)
		}
		if n := len(e.eventsOf(t, auth.EventKeyLeaked)); n != 1 {
			t.Errorf("%d key.leaked events after a second report, want 1", n)
		}
	})
}

func TestReportLeakedNotifyLeavesTheKeyValid(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open func(*testing.T, ...func(*apikey.Config)) *leakEnv) {
		e := open(t)
		k, key := e.create(t, apikey.CreateParams{})
		if r := e.report(t, key, false); r.Outcome != apikey.LeakNotified || r.KeyID != k.ID || !r.Outcome.Ours() {
			t.Fatalf("ReportLeaked = %+v, want notified %s", r, k.ID)
		}
		e.wantCode(t, key, apikey.CodeValid)
		leaked := e.eventsOf(t, auth.EventKeyLeaked)
		if len(leaked) != 1 || leaked[0].KeyID != k.ID || leaked[0].Details["action"] != "notified" || leaked[0].Details["source"] != "commit" {
			t.Fatalf("key.leaked events = %+v, want one for %s", leaked, k.ID)
		}
		if n := len(e.eventsOf(t, auth.EventKeyRevoked)); n != 0 {
			t.Errorf("%d key.revoked events, want 0", n)
		}
	})
}

func TestReportLeakedRefusesNoiseBeforeTheStore(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open func(*testing.T, ...func(*apikey.Config)) *leakEnv) {
		e := open(t)
		_, key := e.create(t, apikey.CreateParams{})
		e.store.Reset()
		last := "A"
		if strings.HasSuffix(key, "A") {
			last = "B"
		}
		mangled := key[:len(key)-1] + last // the checksum no longer matches
		for _, bad := range []string{"", "NMIfyYncKcRALEXAMPLE", key + "x", key[:len(key)-1], strings.ToUpper(key), mangled} {
			if r := e.report(t, bad, true); r.Outcome != apikey.LeakMalformed || r.Outcome.Ours() || r.KeyID != "" {
				t.Errorf("ReportLeaked(malformed) = %+v, want malformed", r)
			}
		}
		if n := e.store.Calls(""); n != 0 {
			t.Errorf("malformed reports made %d store calls, want 0", n)
		}

		unknown := apikey.Assemble("sk_live_", strings.Repeat("A", apikey.BodyLength))
		if r := e.report(t, unknown, true); r.Outcome != apikey.LeakUnknown || r.Outcome.Ours() {
			t.Errorf("ReportLeaked(unknown) = %+v, want unknown", r)
		}
		if n := e.store.Calls("GetAPIKeyByHash"); n != 1 {
			t.Errorf("an unknown key made %d lookups, want 1", n)
		}
		if n := len(e.eventsOf(t, auth.EventKeyLeaked)); n != 0 {
			t.Errorf("%d key.leaked events, want 0", n)
		}
		e.wantCode(t, key, apikey.CodeValid)
	})
}

func TestReportLeakedLeavesExpiredKeysAlone(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open func(*testing.T, ...func(*apikey.Config)) *leakEnv) {
		e := open(t)
		_, key := e.create(t, apikey.CreateParams{ExpiresAt: t0.Add(time.Hour)})
		e.clock.Add(2 * time.Hour)
		if r := e.report(t, key, true); r.Outcome != apikey.LeakInactive || !r.Outcome.Ours() {
			t.Errorf("ReportLeaked(expired) = %+v, want inactive", r)
		}
		if n := len(e.eventsOf(t, auth.EventKeyLeaked)); n != 0 {
			t.Errorf("%d key.leaked events, want 0", n)
		}
	})
}

func TestReportLeakedHandlesEveryEnvironment(t *testing.T) {
	t.Parallel()
	// A node that accepts live keys only still acts on a leaked test key.
	e := newEnv(t, func(c *apikey.Config) { c.Environments = []string{auth.KeyEnvLive} })
	k, key := e.create(t, apikey.CreateParams{Environment: auth.KeyEnvTest})
	r, err := e.svc.ReportLeaked(context.Background(), key, "", "content", true)
	if err != nil || r.Outcome != apikey.LeakRevoked || r.KeyID != k.ID {
		t.Fatalf("ReportLeaked(test key) = %+v, %v, want revoked", r, err)
	}
	if got := e.get(t, k.ID); got.RevokedAt.IsZero() {
		t.Error("the test key is not revoked")
	}
}

func TestReportLeakedReturnsStoreErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, key := e.create(t, apikey.CreateParams{})
	e.wantCode(t, key, apikey.CodeValid)
	e.store.Fail("RevokeAPIKey", auth.Errorf(auth.EUNAVAILABLE, "down"))
	_, err := e.svc.ReportLeaked(context.Background(), key, "u", "commit", true)
	if auth.ErrorCode(err) != auth.EUNAVAILABLE {
		t.Fatalf("ReportLeaked with a failing store = %v, want unavailable", err)
	}
	e.store.Fail("RevokeAPIKey", nil)
	e.store.Fail("AppendAuditEvents", errors.New("disk full"))
	if _, err := e.svc.ReportLeaked(context.Background(), key, "u", "commit", false); err == nil {
		t.Fatal("ReportLeaked(notify) with a failing audit store succeeded")
	}
	if got := e.get(t, k.ID); !got.RevokedAt.IsZero() {
		t.Error("a failed report revoked the key")
	}
}
