package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Pushed authorization requests (RFC 9126, issue 14): pushed, started once
// by the authorization endpoint, used once when the code is issued.

// pushedTests are added to RunOAuth's table.
var pushedTests = []struct {
	name string
	test func(t *testing.T, s auth.Store)
}{
	{"pushed request: create then get returns every field unchanged", testPushedRoundTrip},
	{"pushed request: duplicate hash is a conflict; unknown is not found", testPushedDuplicateAndUnknown},
	{"pushed request: without hash, client or expiry, or with bad text, is invalid", testPushedInvalid},
	{"pushed request: starts once, for its own client, before its expiry, and takes the new deadline", testPushedStart},
	{"pushed request: is consumed once, only after it started and before its deadline", testPushedConsume},
	{"pushed request: of concurrent starts exactly one wins", testPushedStartConcurrent},
	{"pushed request: of concurrent consumes exactly one wins", testPushedConsumeConcurrent},
	{"pushed request: purge removes the expired and keeps the live", testPushedPurge},
}

func newPushed(label string) *auth.PushedRequest {
	return &auth.PushedRequest{
		Hash:      hashOf("pushed:" + label),
		ClientID:  "cli_" + label,
		Params:    "client_id=cli_" + label + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid+%E3%83%A6",
		CreatedAt: base,
		ExpiresAt: at(time.Minute),
	}
}

func mustPush(t *testing.T, s auth.Store, ps ...*auth.PushedRequest) {
	t.Helper()
	for _, p := range ps {
		if err := s.CreatePushedRequest(t.Context(), p); err != nil {
			t.Fatalf("CreatePushedRequest: %v", err)
		}
	}
}

func getPushed(t *testing.T, s auth.Store, hash []byte) *auth.PushedRequest {
	t.Helper()
	p, err := s.GetPushedRequest(t.Context(), hash)
	if err != nil {
		t.Fatalf("GetPushedRequest: %v", err)
	}
	return p
}

func testPushedRoundTrip(t *testing.T, s auth.Store) {
	p := newPushed("a")
	mustPush(t, s, p)
	wantSame(t, "GetPushedRequest", p, getPushed(t, s, p.Hash))

	full := newPushed("b")
	full.StartedAt, full.UsedAt = at(time.Second), at(2*time.Second)
	mustPush(t, s, full)
	wantSame(t, "GetPushedRequest(started and used)", full, getPushed(t, s, full.Hash))
}

func testPushedDuplicateAndUnknown(t *testing.T, s auth.Store) {
	ctx := t.Context()
	p := newPushed("a")
	mustPush(t, s, p)
	dup := newPushed("other")
	dup.Hash = p.Hash
	wantCode(t, "CreatePushedRequest(duplicate)", s.CreatePushedRequest(ctx, dup), auth.ECONFLICT)
	wantSame(t, "after duplicate", p, getPushed(t, s, p.Hash))

	unknown := hashOf("unknown")
	_, err := s.GetPushedRequest(ctx, unknown)
	wantCode(t, "GetPushedRequest(unknown)", err, auth.ENOTFOUND)
	_, err = s.StartPushedRequest(ctx, unknown, "cli_a", base, at(time.Hour))
	wantCode(t, "StartPushedRequest(unknown)", err, auth.ENOTFOUND)
	_, err = s.ConsumePushedRequest(ctx, unknown, base)
	wantCode(t, "ConsumePushedRequest(unknown)", err, auth.ENOTFOUND)
	_, err = s.ConsumePushedRequest(ctx, nil, base)
	wantCode(t, "ConsumePushedRequest(no hash)", err, auth.ENOTFOUND)
}

func testPushedInvalid(t *testing.T, s auth.Store) {
	for name, change := range map[string]func(p *auth.PushedRequest){
		"no hash":      func(p *auth.PushedRequest) { p.Hash = nil },
		"no client":    func(p *auth.PushedRequest) { p.ClientID = "" },
		"no expiry":    func(p *auth.PushedRequest) { p.ExpiresAt = time.Time{} },
		"NUL in text":  func(p *auth.PushedRequest) { p.Params = "state=a\x00b" },
		"invalid UTF8": func(p *auth.PushedRequest) { p.ClientID = "cli_\xff" },
	} {
		p := newPushed("x")
		change(p)
		wantCode(t, name, s.CreatePushedRequest(t.Context(), p), auth.EINVALID)
	}
	wantCode(t, "nil", s.CreatePushedRequest(t.Context(), nil), auth.EINVALID)
	_, err := s.GetPushedRequest(t.Context(), hashOf("pushed:x"))
	wantCode(t, "GetPushedRequest after refusals", err, auth.ENOTFOUND)
}

func testPushedStart(t *testing.T, s auth.Store) {
	ctx := t.Context()
	p := newPushed("a")
	mustPush(t, s, p)
	got, err := s.StartPushedRequest(ctx, p.Hash, p.ClientID, at(10*time.Second), at(time.Hour))
	if err != nil {
		t.Fatalf("StartPushedRequest: %v", err)
	}
	want := *p
	want.StartedAt, want.ExpiresAt = at(10*time.Second), at(time.Hour)
	wantSame(t, "started", &want, got)
	wantSame(t, "stored after start", &want, getPushed(t, s, p.Hash))

	_, err = s.StartPushedRequest(ctx, p.Hash, p.ClientID, at(11*time.Second), at(2*time.Hour))
	wantCode(t, "second start", err, auth.ECONFLICT)
	wantSame(t, "stored after second start", &want, getPushed(t, s, p.Hash))

	other := newPushed("other")
	mustPush(t, s, other)
	_, err = s.StartPushedRequest(ctx, other.Hash, "cli_a", at(time.Second), at(time.Hour))
	wantCode(t, "start by another client", err, auth.ECONFLICT)
	wantSame(t, "stored after start by another client", other, getPushed(t, s, other.Hash))

	late := newPushed("late")
	mustPush(t, s, late)
	_, err = s.StartPushedRequest(ctx, late.Hash, late.ClientID, late.ExpiresAt, at(time.Hour))
	wantCode(t, "start at expiry", err, auth.ECONFLICT)
	wantSame(t, "stored after late start", late, getPushed(t, s, late.Hash))
}

func testPushedConsume(t *testing.T, s auth.Store) {
	ctx := t.Context()
	p := newPushed("a")
	mustPush(t, s, p)
	_, err := s.ConsumePushedRequest(ctx, p.Hash, at(time.Second))
	wantCode(t, "consume before start", err, auth.ECONFLICT)
	wantSame(t, "stored after early consume", p, getPushed(t, s, p.Hash))

	if _, err := s.StartPushedRequest(ctx, p.Hash, p.ClientID, at(time.Second), at(time.Hour)); err != nil {
		t.Fatalf("StartPushedRequest: %v", err)
	}
	got, err := s.ConsumePushedRequest(ctx, p.Hash, at(time.Minute))
	if err != nil {
		t.Fatalf("ConsumePushedRequest: %v", err)
	}
	if !got.UsedAt.Equal(at(time.Minute)) || got.Params != p.Params || got.ClientID != p.ClientID {
		t.Fatalf("consumed = %+v", got)
	}
	wantSame(t, "stored after consume", got, getPushed(t, s, p.Hash))
	_, err = s.ConsumePushedRequest(ctx, p.Hash, at(2*time.Minute))
	wantCode(t, "second consume", err, auth.ECONFLICT)

	late := newPushed("late")
	mustPush(t, s, late)
	if _, err := s.StartPushedRequest(ctx, late.Hash, late.ClientID, at(time.Second), at(time.Hour)); err != nil {
		t.Fatalf("StartPushedRequest: %v", err)
	}
	_, err = s.ConsumePushedRequest(ctx, late.Hash, at(time.Hour))
	wantCode(t, "consume at the deadline", err, auth.ECONFLICT)
	if u := getPushed(t, s, late.Hash).UsedAt; !u.IsZero() {
		t.Fatalf("late consume stored UsedAt %v", u)
	}
}

func testPushedStartConcurrent(t *testing.T, s auth.Store) {
	p := newPushed("a")
	mustPush(t, s, p)
	errs := parallel(8, func(int) error {
		_, err := s.StartPushedRequest(t.Context(), p.Hash, p.ClientID, at(time.Second), at(time.Hour))
		return err
	})
	wantOneWinner(t, errs, "StartPushedRequest", "starts")
}

func testPushedConsumeConcurrent(t *testing.T, s auth.Store) {
	p := newPushed("a")
	mustPush(t, s, p)
	if _, err := s.StartPushedRequest(t.Context(), p.Hash, p.ClientID, at(time.Second), at(time.Hour)); err != nil {
		t.Fatalf("StartPushedRequest: %v", err)
	}
	errs := parallel(8, func(int) error {
		_, err := s.ConsumePushedRequest(t.Context(), p.Hash, at(time.Minute))
		return err
	})
	wantOneWinner(t, errs, "ConsumePushedRequest", "consumes")
}

func testPushedPurge(t *testing.T, s auth.Store) {
	ctx := t.Context()
	dead, live := newPushed("dead"), newPushed("live")
	live.ExpiresAt = at(time.Hour)
	mustPush(t, s, dead, live)
	if err := s.PurgeExpired(ctx, at(30*time.Minute)); err != nil {
		t.Fatalf("PurgeExpired: %v", err)
	}
	_, err := s.GetPushedRequest(ctx, dead.Hash)
	wantCode(t, "GetPushedRequest(purged)", err, auth.ENOTFOUND)
	wantSame(t, "live after purge", live, getPushed(t, s, live.Hash))
}
