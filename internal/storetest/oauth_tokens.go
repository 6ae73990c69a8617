package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// --- authorization codes ---------------------------------------------------

func testCodeRoundTrip(t *testing.T, s auth.Store) {
	tokyo := time.FixedZone("JST", 9*3600)
	c := &auth.AuthCode{
		Hash:          append([]byte{0, 0xff, 0x27, 0x5c}, hashOf("code")[4:]...),
		ClientID:      "cli_1",
		UserID:        "usr_1",
		RedirectURI:   "https://app.example/cb?x='; DROP TABLE oauth_codes; --",
		Scopes:        []string{"openid", "profile", "ユーザー"},
		Audiences:     []string{"https://b.example", "https://a.example"},
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Nonce:         "nonce 😀",
		AuthTime:      at(-time.Minute).In(tokyo),
		SessionID:     "ses_1",
		FamilyID:      "fam_1",
		IDTokenClaims: []string{"email", "name"},
		ACR:           "urn:example:acr",
		DPoPJKT:       "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		AMR:           []string{"hwk", "mfa", "pwd"},
		CreatedAt:     base,
		ExpiresAt:     at(time.Minute + time.Microsecond),
	}
	mustCode(t, s, c)
	got, err := s.ConsumeAuthCode(t.Context(), c.Hash, at(time.Second))
	if err != nil {
		t.Fatalf("ConsumeAuthCode: %v", err)
	}
	wantSame(t, "consumed code", c, got) // as it was before: UsedAt zero

	minimal := &auth.AuthCode{Hash: hashOf("minimal"), ExpiresAt: at(time.Minute)}
	mustCode(t, s, minimal)
	got, err = s.ConsumeAuthCode(t.Context(), minimal.Hash, base)
	if err != nil {
		t.Fatalf("ConsumeAuthCode(minimal): %v", err)
	}
	wantSame(t, "minimal code", minimal, got)
	wantZeroTimes(t, "minimal code", got, "ExpiresAt")
	wantNoEvents(t, s)
}

func testCodeReuse(t *testing.T, s auth.Store) {
	c := newCode("c1", "cli_1", "usr_1", "fam_1")
	mustCode(t, s, c)
	if _, err := s.ConsumeAuthCode(t.Context(), c.Hash, at(time.Second)); err != nil {
		t.Fatalf("ConsumeAuthCode: %v", err)
	}
	// The second use gets the code (with its family, to revoke) and a
	// conflict; the code keeps its first UsedAt.
	for i := range 2 {
		got, err := s.ConsumeAuthCode(t.Context(), c.Hash, at(time.Duration(i+2)*time.Second))
		wantCode(t, "second ConsumeAuthCode", err, auth.ECONFLICT)
		want := *c
		want.UsedAt = at(time.Second)
		wantSame(t, "code returned with the conflict", &want, got)
	}
	// A zero time would mean "unused".
	mustCode(t, s, newCode("c2", "cli_1", "usr_1", "fam_2"))
	_, err := s.ConsumeAuthCode(t.Context(), hashOf("code:c2"), time.Time{})
	wantCode(t, "ConsumeAuthCode(zero time)", err, auth.EINVALID)
	if _, err := s.ConsumeAuthCode(t.Context(), hashOf("code:c2"), base); err != nil {
		t.Fatalf("ConsumeAuthCode after a refused zero time: %v", err)
	}
}

func testCodeDuplicateAndUnknown(t *testing.T, s auth.Store) {
	c := newCode("c1", "cli_1", "usr_1", "fam_1")
	mustCode(t, s, c)
	dup := newCode("c1", "cli_2", "usr_2", "fam_2")
	wantCode(t, "CreateAuthCode(duplicate hash)", s.CreateAuthCode(t.Context(), dup), auth.ECONFLICT)
	got, err := s.ConsumeAuthCode(t.Context(), c.Hash, base)
	if err != nil {
		t.Fatalf("ConsumeAuthCode: %v", err)
	}
	wantSame(t, "original code", c, got)
	for name, h := range map[string][]byte{"unknown": hashOf("missing"), "nil": nil, "empty": {}} {
		got, err := s.ConsumeAuthCode(t.Context(), h, base)
		wantCode(t, "ConsumeAuthCode("+name+")", err, auth.ENOTFOUND)
		if got != nil {
			t.Errorf("ConsumeAuthCode(%s) returned a code: %+v", name, got)
		}
	}
	wantCode(t, "CreateAuthCode(no hash)", s.CreateAuthCode(t.Context(), &auth.AuthCode{ClientID: "cli_1", ExpiresAt: at(time.Minute)}), auth.EINVALID)
	wantCode(t, "CreateAuthCode(no expiry)", s.CreateAuthCode(t.Context(), &auth.AuthCode{Hash: hashOf("no expiry")}), auth.EINVALID)
	bad := newCode("bad", "cli_1", "usr_1", "fam_1")
	bad.Nonce = "\x00"
	wantCode(t, "CreateAuthCode(NUL)", s.CreateAuthCode(t.Context(), bad), auth.EINVALID)
	_, err = s.ConsumeAuthCode(t.Context(), bad.Hash, base)
	wantCode(t, "ConsumeAuthCode(refused code)", err, auth.ENOTFOUND)
}

func testCodeConcurrent(t *testing.T, s auth.Store) {
	c := newCode("c1", "cli_1", "usr_1", "fam_1")
	mustCode(t, s, c)
	const n = 8
	errs := parallel(n, func(i int) error {
		got, err := s.ConsumeAuthCode(t.Context(), c.Hash, at(time.Duration(i+1)*time.Second))
		if got == nil || got.FamilyID != c.FamilyID {
			return fmt.Errorf("consumer %d got code %+v (%v)", i, got, err)
		}
		return err
	})
	wantOneWinner(t, errs, "ConsumeAuthCode", "consumers")
}

// --- refresh tokens --------------------------------------------------------

func testRefreshRoundTrip(t *testing.T, s auth.Store) {
	tokyo := time.FixedZone("JST", 9*3600)
	rt := &auth.RefreshToken{
		Hash:            append([]byte{0, 0xff}, hashOf("rt")[2:]...),
		FamilyID:        "fam_'; DROP TABLE refresh_tokens; --",
		ClientID:        "cli_1",
		UserID:          "usr_1",
		Scopes:          []string{"offline_access", "openid"},
		Audiences:       []string{"https://b.example", "https://a.example"},
		AuthTime:        at(-time.Hour).In(tokyo),
		SessionID:       "ses_1",
		DPoPJKT:         "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		AMR:             []string{"mfa", "otp", "pwd"},
		CreatedAt:       base,
		ExpiresAt:       at(24*time.Hour + time.Microsecond),
		FamilyExpiresAt: at(30 * 24 * time.Hour),
		UsedAt:          at(time.Minute),
		RevokedAt:       at(2 * time.Minute),
		Presentations:   2,
	}
	mustRefresh(t, s, rt, issued("jti_1", rt.FamilyID, at(time.Hour)))
	wantSame(t, "GetRefreshToken", rt, getRefresh(t, s, rt.Hash))

	// A token without a user (and without an access token recorded).
	bare := &auth.RefreshToken{Hash: hashOf("bare"), FamilyID: "fam_2", ClientID: "cli_1", ExpiresAt: at(time.Hour), FamilyExpiresAt: at(time.Hour)}
	mustRefresh(t, s, bare, nil)
	got := getRefresh(t, s, bare.Hash)
	wantSame(t, "minimal refresh token", bare, got)
	wantZeroTimes(t, "minimal refresh token", got, "ExpiresAt", "FamilyExpiresAt")

	for name, h := range map[string][]byte{"unknown": hashOf("missing"), "nil": nil} {
		_, err := s.GetRefreshToken(t.Context(), h)
		wantCode(t, "GetRefreshToken("+name+")", err, auth.ENOTFOUND)
	}
	wantNoEvents(t, s)
}

func testRefreshDuplicate(t *testing.T, s auth.Store) {
	ctx := t.Context()
	rt := newRefresh("r1", "fam_1", "cli_1", "usr_1")
	mustRefresh(t, s, rt, issued("jti_1", "fam_1", at(time.Hour)))

	dup := newRefresh("r1", "fam_2", "cli_2", "usr_2")
	wantCode(t, "CreateRefreshToken(duplicate hash)", s.CreateRefreshToken(ctx, dup, issued("jti_2", "fam_2", at(time.Hour))), auth.ECONFLICT)
	wantSame(t, "original token", rt, getRefresh(t, s, rt.Hash))

	// A duplicate jti rolls back the token inserted before it.
	other := newRefresh("r2", "fam_3", "cli_1", "usr_1")
	wantCode(t, "CreateRefreshToken(duplicate jti)", s.CreateRefreshToken(ctx, other, issued("jti_1", "fam_3", at(time.Hour))), auth.ECONFLICT)
	wantRefreshGone(t, s, other.Hash)
	// jti_2 was not recorded: revoking its family lists nothing.
	jtis, err := s.RevokeFamily(ctx, "fam_2", base)
	if err != nil || len(jtis) != 0 {
		t.Fatalf("RevokeFamily(refused family) = %v, %v; want nothing", jtis, err)
	}

	for name, bad := range map[string]*auth.RefreshToken{
		"no hash":                {FamilyID: "f"},
		"no family":              {Hash: hashOf("x")},
		"NUL":                    {Hash: hashOf("x"), FamilyID: "f", SessionID: "\x00"},
		"bad scope":              {Hash: hashOf("x"), FamilyID: "f", Scopes: []string{"\xff"}},
		"negative presentations": {Hash: hashOf("x"), FamilyID: "f", Presentations: -1},
		// Expired reads the zero time as no deadline: a token without one
		// would be refreshable for ever.
		"no expiry":        {Hash: hashOf("x"), FamilyID: "f", FamilyExpiresAt: at(time.Hour)},
		"no family expiry": {Hash: hashOf("x"), FamilyID: "f", ExpiresAt: at(time.Hour)},
	} {
		wantCode(t, "CreateRefreshToken("+name+")", s.CreateRefreshToken(ctx, bad, nil), auth.EINVALID)
	}
	wantCode(t, "CreateRefreshToken(issued without jti)",
		s.CreateRefreshToken(ctx, newRefresh("r3", "fam_4", "cli_1", ""), issued("", "fam_4", at(time.Hour))), auth.EINVALID)
	wantCode(t, "CreateRefreshToken(issued in another family)",
		s.CreateRefreshToken(ctx, newRefresh("r3", "fam_4", "cli_1", ""), issued("jti_4", "fam_5", at(time.Hour))), auth.EINVALID)
	wantRefreshGone(t, s, hashOf("x"))
	wantRefreshGone(t, s, hashOf("refresh:r3"))
}

// rotationFixture stores the first token of fam_1 with access token jti_0,
// and returns it with the next token to rotate to.
func rotationFixture(t *testing.T, s auth.Store) (old, next *auth.RefreshToken) {
	t.Helper()
	old = newRefresh("r1", "fam_1", "cli_1", "usr_1")
	mustRefresh(t, s, old, issued("jti_0", "fam_1", at(time.Hour)))
	next = newRefresh("r2", "fam_1", "cli_1", "usr_1")
	next.CreatedAt = at(time.Minute)
	next.ExpiresAt = at(25 * time.Hour)
	return old, next
}

// familyJTIs revokes the family at base and returns the jtis it listed,
// which are the unexpired access tokens recorded in it.
func familyJTIs(t *testing.T, s auth.Store, family string) []string {
	t.Helper()
	jtis, err := s.RevokeFamily(t.Context(), family, base)
	if err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	return jtis
}

func testRotateUnused(t *testing.T, s auth.Store) {
	old, next := rotationFixture(t, s)
	now := at(time.Minute)
	if err := s.RotateRefreshToken(t.Context(), old.Hash, now, 0, next, issued("jti_1", "fam_1", at(2*time.Hour))); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	want := *old
	want.UsedAt = now
	want.Presentations = 1
	wantSame(t, "old token", &want, getRefresh(t, s, old.Hash))
	wantSame(t, "next token", next, getRefresh(t, s, next.Hash))
	wantStrings(t, "access tokens of the family", familyJTIs(t, s, "fam_1"), []string{"jti_0", "jti_1"})

	// Rotating without recording an access token is allowed too.
	third := newRefresh("r3", "fam_1", "cli_1", "usr_1")
	s2old, s2next := newRefresh("s1", "fam_2", "cli_1", "usr_1"), newRefresh("s2", "fam_2", "cli_1", "usr_1")
	mustRefresh(t, s, s2old, nil)
	if err := s.RotateRefreshToken(t.Context(), s2old.Hash, now, 0, s2next, nil); err != nil {
		t.Fatalf("RotateRefreshToken(no issued token): %v", err)
	}
	// The next token must be of the same family.
	third.FamilyID = "fam_other"
	err := s.RotateRefreshToken(t.Context(), s2next.Hash, now, 0, third, nil)
	wantCode(t, "RotateRefreshToken(other family)", err, auth.EINVALID)
	third.FamilyID = "fam_2"
	err = s.RotateRefreshToken(t.Context(), s2next.Hash, now, 0, third, issued("jti_9", "fam_other", at(time.Hour)))
	wantCode(t, "RotateRefreshToken(access token of another family)", err, auth.EINVALID)
	wantRefreshGone(t, s, third.Hash)
	if got := getRefresh(t, s, s2next.Hash); !got.UsedAt.IsZero() {
		t.Fatalf("a refused rotation marked the token used at %v", got.UsedAt)
	}
	wantNoEvents(t, s)
}

func testRotateUsed(t *testing.T, s auth.Store) {
	ctx := t.Context()
	old, next := rotationFixture(t, s)
	first := at(time.Minute)
	if err := s.RotateRefreshToken(ctx, old.Hash, first, 0, next, issued("jti_1", "fam_1", at(2*time.Hour))); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	want := *old
	want.UsedAt = first
	want.Presentations = 1

	// Without grace any second presentation is refused.
	later := first.Add(10 * time.Second)
	retry := newRefresh("r3", "fam_1", "cli_1", "usr_1")
	err := s.RotateRefreshToken(ctx, old.Hash, later, 0, retry, issued("jti_2", "fam_1", at(2*time.Hour)))
	wantCode(t, "RotateRefreshToken(used, no grace)", err, auth.ECONFLICT)
	wantRefreshGone(t, s, retry.Hash)
	wantSame(t, "old token after a refused reuse", &want, getRefresh(t, s, old.Hash))

	// A grace window that ends just after the first use refuses too.
	err = s.RotateRefreshToken(ctx, old.Hash, later, later.Sub(first)-time.Microsecond, retry, issued("jti_2", "fam_1", at(2*time.Hour)))
	wantCode(t, "RotateRefreshToken(used just before the grace window)", err, auth.ECONFLICT)
	wantRefreshGone(t, s, retry.Hash)
	wantSame(t, "old token after a refused reuse", &want, getRefresh(t, s, old.Hash))

	// Within the grace window (the first use no earlier than the time of
	// use minus grace) it rotates once more, the first UsedAt stays, so
	// the window does not slide, and the token counts two presentations.
	grace := later.Sub(first)
	if err := s.RotateRefreshToken(ctx, old.Hash, later, grace, retry, issued("jti_2", "fam_1", at(2*time.Hour))); err != nil {
		t.Fatalf("RotateRefreshToken(within grace): %v", err)
	}
	want.Presentations = 2
	wantSame(t, "old token after a rotation in the grace window", &want, getRefresh(t, s, old.Hash))
	wantSame(t, "token from the grace window", retry, getRefresh(t, s, retry.Hash))

	// A second retry, still within the window, is refused and changes
	// nothing: the grace is one retry.
	again := newRefresh("r4", "fam_1", "cli_1", "usr_1")
	err = s.RotateRefreshToken(ctx, old.Hash, later, time.Hour, again, issued("jti_3", "fam_1", at(2*time.Hour)))
	wantCode(t, "RotateRefreshToken(second retry within grace)", err, auth.ECONFLICT)
	wantRefreshGone(t, s, again.Hash)
	wantSame(t, "old token after a refused second retry", &want, getRefresh(t, s, old.Hash))
	wantStrings(t, "access tokens of the family", familyJTIs(t, s, "fam_1"), []string{"jti_0", "jti_1", "jti_2"})
}

func testRotateRetryConcurrent(t *testing.T, s auth.Store) {
	old, next := rotationFixture(t, s)
	first := at(time.Minute)
	if err := s.RotateRefreshToken(t.Context(), old.Hash, first, time.Minute, next, nil); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	// Several retries within the grace window at once: the count is kept
	// in the token's row, so exactly one of them takes the one retry.
	const n = 8
	errs := parallel(n, func(i int) error {
		retry := newRefresh(fmt.Sprint("retry ", i), "fam_1", "cli_1", "usr_1")
		return s.RotateRefreshToken(t.Context(), old.Hash, first.Add(time.Second), time.Minute, retry, nil)
	})
	wantOneWinner(t, errs, "RotateRefreshToken", "retries within grace")
	if got := getRefresh(t, s, old.Hash); got.Presentations != 2 || !got.UsedAt.Equal(first) {
		t.Fatalf("old token after the retries: presentations %d, used at %v; want 2, %v", got.Presentations, got.UsedAt, first)
	}
}

func testRotateDead(t *testing.T, s auth.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		mutate func(rt *auth.RefreshToken)
		at     time.Time
	}{
		{"revoked", func(rt *auth.RefreshToken) { rt.RevokedAt = base }, at(time.Minute)},
		{"expired exactly now", func(rt *auth.RefreshToken) { rt.ExpiresAt = at(time.Minute) }, at(time.Minute)},
		{"expired before now", func(rt *auth.RefreshToken) { rt.ExpiresAt = at(time.Second) }, at(time.Minute)},
		{"family expired", func(rt *auth.RefreshToken) { rt.FamilyExpiresAt = at(time.Minute) }, at(time.Minute)},
	} {
		fam := "fam_" + tc.name
		old := newRefresh("old "+tc.name, fam, "cli_1", "usr_1")
		tc.mutate(old)
		mustRefresh(t, s, old, nil)
		next := newRefresh("next "+tc.name, fam, "cli_1", "usr_1")
		err := s.RotateRefreshToken(ctx, old.Hash, tc.at, 0, next, issued("jti "+tc.name, fam, at(2*time.Hour)))
		wantCode(t, "RotateRefreshToken("+tc.name+")", err, auth.ECONFLICT)
		wantSame(t, tc.name+" token after a refused rotation", old, getRefresh(t, s, old.Hash))
		wantRefreshGone(t, s, next.Hash)
		// The access token was not recorded: the family lists none.
		if jtis := familyJTIs(t, s, fam); len(jtis) != 0 {
			t.Fatalf("%s: refused rotation recorded %v", tc.name, jtis)
		}
	}
	// One microsecond before the deadline it still rotates.
	old := newRefresh("alive", "fam_alive", "cli_1", "usr_1")
	old.ExpiresAt = at(time.Minute)
	mustRefresh(t, s, old, nil)
	if err := s.RotateRefreshToken(ctx, old.Hash, at(time.Minute-time.Microsecond), 0,
		newRefresh("alive next", "fam_alive", "cli_1", "usr_1"), nil); err != nil {
		t.Fatalf("RotateRefreshToken(just before expiry): %v", err)
	}
}

func testRotateRollbackAndUnknown(t *testing.T, s auth.Store) {
	ctx := t.Context()
	old, _ := rotationFixture(t, s)
	other := newRefresh("taken", "fam_2", "cli_1", "usr_1")
	mustRefresh(t, s, other, nil)

	// next collides with an existing token: the old one stays unused.
	collide := newRefresh("taken", "fam_1", "cli_1", "usr_1")
	err := s.RotateRefreshToken(ctx, old.Hash, at(time.Minute), 0, collide, issued("jti_1", "fam_1", at(2*time.Hour)))
	wantCode(t, "RotateRefreshToken(next hash exists)", err, auth.ECONFLICT)
	wantSame(t, "old token after a rolled-back rotation", old, getRefresh(t, s, old.Hash))
	wantSame(t, "existing token", other, getRefresh(t, s, other.Hash))

	// The issued jti collides: the old token stays unused, next is gone.
	next := newRefresh("r2", "fam_1", "cli_1", "usr_1")
	err = s.RotateRefreshToken(ctx, old.Hash, at(time.Minute), 0, next, issued("jti_0", "fam_1", at(2*time.Hour)))
	wantCode(t, "RotateRefreshToken(jti exists)", err, auth.ECONFLICT)
	wantSame(t, "old token after a rolled-back rotation", old, getRefresh(t, s, old.Hash))
	wantRefreshGone(t, s, next.Hash)

	for name, h := range map[string][]byte{"unknown": hashOf("missing"), "nil": nil} {
		err := s.RotateRefreshToken(ctx, h, at(time.Minute), 0, newRefresh("r9", "fam_9", "cli_1", ""), nil)
		wantCode(t, "RotateRefreshToken("+name+")", err, auth.ENOTFOUND)
	}
	wantRefreshGone(t, s, hashOf("refresh:r9"))
}

func testRotateConcurrent(t *testing.T, s auth.Store) {
	old, _ := rotationFixture(t, s)
	const n = 8
	// Every request comes at the same instant, as with one frozen clock,
	// and there is no grace window.
	now := at(time.Minute)
	errs := parallel(n, func(i int) error {
		next := newRefresh(fmt.Sprint("next ", i), "fam_1", "cli_1", "usr_1")
		return s.RotateRefreshToken(t.Context(), old.Hash, now, 0, next, issued(fmt.Sprint("jti_", i+1), "fam_1", at(2*time.Hour)))
	})
	wantOneWinner(t, errs, "RotateRefreshToken", "rotations")
	if jtis := familyJTIs(t, s, "fam_1"); len(jtis) != 2 {
		t.Fatalf("family has access tokens %v, want jti_0 and the winner's", jtis)
	}
}

func testRecordIssued(t *testing.T, s auth.Store) {
	ctx := t.Context()
	// A code exchange for a client without refresh tokens: the family is
	// known only by its code.
	mustCode(t, s, newCode("c1", "cli_1", "usr_1", "fam_1"))
	if err := s.RecordIssuedToken(ctx, issued("jti_1", "fam_1", at(time.Hour))); err != nil {
		t.Fatalf("RecordIssuedToken: %v", err)
	}
	err := s.RecordIssuedToken(ctx, issued("jti_1", "fam_1", at(time.Hour)))
	wantCode(t, "RecordIssuedToken(duplicate jti)", err, auth.ECONFLICT)
	wantCode(t, "RecordIssuedToken(no jti)", s.RecordIssuedToken(ctx, issued("", "fam_1", at(time.Hour))), auth.EINVALID)
	wantCode(t, "RecordIssuedToken(no family)", s.RecordIssuedToken(ctx, issued("jti_2", "", at(time.Hour))), auth.EINVALID)
	wantCode(t, "RecordIssuedToken(nil)", s.RecordIssuedToken(ctx, nil), auth.EINVALID)
	wantCode(t, "RecordIssuedToken(NUL)", s.RecordIssuedToken(ctx, issued("j\x00", "fam_1", at(time.Hour))), auth.EINVALID)
	wantStrings(t, "access tokens of the family", familyJTIs(t, s, "fam_1"), []string{"jti_1"})
}

// --- revocation ------------------------------------------------------------

func testRevokeFamily(t *testing.T, s auth.Store) {
	ctx := t.Context()
	now := at(time.Hour)
	old, next := rotationFixture(t, s) // jti_0 expires at now: not listed
	if err := s.RotateRefreshToken(ctx, old.Hash, at(time.Minute), 0, next, issued("jti_2", "fam_1", at(2*time.Hour))); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	if err := s.RecordIssuedToken(ctx, issued("jti_1", "fam_1", now.Add(time.Microsecond))); err != nil {
		t.Fatalf("RecordIssuedToken: %v", err)
	}
	other := newRefresh("other", "fam_2", "cli_1", "usr_1")
	mustRefresh(t, s, other, issued("jti_other", "fam_2", at(2*time.Hour)))

	ev := oev(auth.EventFamilyRevoked, now)
	ev.Details = map[string]string{"family_id": "fam_1", "reason": "refresh token reuse"}
	jtis, err := s.RevokeFamily(ctx, "fam_1", now, ev)
	if err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	wantStrings(t, "revoked jtis", jtis, []string{"jti_1", "jti_2"})
	for _, h := range [][]byte{old.Hash, next.Hash} {
		if got := getRefresh(t, s, h); !got.RevokedAt.Equal(now) {
			t.Errorf("token RevokedAt = %v, want %v", got.RevokedAt, now)
		}
	}
	wantRevoked(t, s, "jti_0", false)
	wantRevoked(t, s, "jti_1", true)
	wantRevoked(t, s, "jti_2", true)
	list, err := s.ListRevokedTokens(ctx, time.Time{}, now)
	if err != nil {
		t.Fatalf("ListRevokedTokens: %v", err)
	}
	want := []auth.RevokedToken{
		{JTI: "jti_1", ExpiresAt: now.Add(time.Microsecond), RevokedAt: now},
		{JTI: "jti_2", ExpiresAt: at(2 * time.Hour), RevokedAt: now},
	}
	wantSame(t, "revocation list", want, list)

	// The other family is untouched.
	wantSame(t, "other family's token", other, getRefresh(t, s, other.Hash))
	wantRevoked(t, s, "jti_other", false)

	// Again: not an error, nothing new, first revocation time kept; the
	// events of each call are recorded.
	ev2 := oev(auth.EventFamilyRevoked, at(2*time.Hour))
	jtis, err = s.RevokeFamily(ctx, "fam_1", at(90*time.Minute), ev2)
	if err != nil || len(jtis) != 0 {
		t.Fatalf("second RevokeFamily = %v, %v; want nothing new", jtis, err)
	}
	if got := getRefresh(t, s, next.Hash); !got.RevokedAt.Equal(now) {
		t.Errorf("second revocation moved RevokedAt to %v", got.RevokedAt)
	}
	jtis, err = s.RevokeFamily(ctx, "fam_unknown", now)
	if err != nil || len(jtis) != 0 {
		t.Fatalf("RevokeFamily(unknown) = %v, %v; want nothing", jtis, err)
	}
	_, err = s.RevokeFamily(ctx, "fam_2", time.Time{})
	wantCode(t, "RevokeFamily(zero time)", err, auth.EINVALID)
	wantEvents(t, s, ev, ev2)

	// A revoked family cannot rotate.
	err = s.RotateRefreshToken(ctx, next.Hash, at(90*time.Minute), 0, newRefresh("r3", "fam_1", "cli_1", "usr_1"), nil)
	wantCode(t, "RotateRefreshToken(revoked family)", err, auth.ECONFLICT)

	// Nothing joins a revoked family afterwards, even a family revoked
	// before it had any token (a code redeemed twice at once: the replay
	// revokes the family while the first redemption is still issuing).
	err = s.RecordIssuedToken(ctx, issued("jti_late", "fam_1", at(2*time.Hour)))
	wantCode(t, "RecordIssuedToken(revoked family)", err, auth.ECONFLICT)
	if _, err := s.RevokeFamily(ctx, "fam_empty", now); err != nil {
		t.Fatalf("RevokeFamily(fam_empty): %v", err)
	}
	err = s.CreateRefreshToken(ctx, newRefresh("late", "fam_empty", "cli_1", "usr_1"), issued("jti_late2", "fam_empty", at(2*time.Hour)))
	wantCode(t, "CreateRefreshToken(revoked family)", err, auth.ECONFLICT)
	err = s.RecordIssuedToken(ctx, issued("jti_late3", "fam_empty", at(2*time.Hour)))
	wantCode(t, "RecordIssuedToken(family revoked before any token)", err, auth.ECONFLICT)
	wantRevoked(t, s, "jti_late", false)
	if _, err := s.GetRefreshToken(ctx, newRefresh("late", "fam_empty", "cli_1", "usr_1").Hash); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Errorf("a refresh token joined a revoked family: %v", err)
	}
}

func testRevocationList(t *testing.T, s auth.Store) {
	ctx := t.Context()
	wantRevoked(t, s, "jti_1", false)
	ev := oev(auth.EventTokenRevoked, at(time.Minute))
	entries := []auth.RevokedToken{
		{JTI: "jti_1", ExpiresAt: at(time.Hour), RevokedAt: at(time.Minute)},
		{JTI: "jti_2", ExpiresAt: at(2 * time.Hour), RevokedAt: at(2 * time.Minute)},
		{JTI: "jti_3", ExpiresAt: at(3 * time.Minute), RevokedAt: at(3 * time.Minute)}, // expired as soon as listed
	}
	for _, e := range entries {
		if err := s.RevokeToken(ctx, e, ev); err != nil {
			t.Fatalf("RevokeToken(%s): %v", e.JTI, err)
		}
	}
	// Again, with other times: not an error; the first entry stays.
	if err := s.RevokeToken(ctx, auth.RevokedToken{JTI: "jti_1", ExpiresAt: at(5 * time.Hour), RevokedAt: at(4 * time.Minute)}, ev); err != nil {
		t.Fatalf("RevokeToken again: %v", err)
	}
	for _, e := range entries {
		wantRevoked(t, s, e.JTI, true)
	}
	wantRevoked(t, s, "jti_other", false)

	for _, tc := range []struct {
		since, now time.Time
		want       []auth.RevokedToken
	}{
		{time.Time{}, at(3 * time.Minute), entries[:2]},
		{time.Time{}, base, entries},
		{at(time.Minute), base, entries[1:]}, // revoked after since, not at it
		{at(time.Minute), at(time.Hour), entries[1:2]},
		{at(time.Hour), base, nil},
		{time.Time{}, at(2 * time.Hour), nil},
	} {
		got, err := s.ListRevokedTokens(ctx, tc.since, tc.now)
		if err != nil {
			t.Fatalf("ListRevokedTokens: %v", err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("ListRevokedTokens(since %v, now %v) = %+v, want %+v", tc.since, tc.now, got, tc.want)
		}
		if len(got) > 0 {
			wantSame(t, fmt.Sprintf("ListRevokedTokens(since %v, now %v)", tc.since, tc.now), tc.want, got)
		}
	}
	for name, bad := range map[string]auth.RevokedToken{
		"no jti":  {ExpiresAt: at(time.Hour), RevokedAt: base},
		"no time": {JTI: "jti_x", ExpiresAt: at(time.Hour)},
		"NUL":     {JTI: "\x00", ExpiresAt: at(time.Hour), RevokedAt: base},
	} {
		wantCode(t, "RevokeToken("+name+")", s.RevokeToken(ctx, bad, ev), auth.EINVALID)
	}
	wantRevoked(t, s, "jti_x", false)
	wantEvents(t, s, ev, ev, ev, ev)
}

func testUseJTI(t *testing.T, s auth.Store) {
	ctx := t.Context()
	exp := at(time.Minute)
	if err := s.UseJTI(ctx, "jti_1", exp, base); err != nil {
		t.Fatalf("UseJTI: %v", err)
	}
	wantCode(t, "UseJTI(replay)", s.UseJTI(ctx, "jti_1", exp, base), auth.ECONFLICT)
	wantCode(t, "UseJTI(replay just before expiry)", s.UseJTI(ctx, "jti_1", exp, exp.Add(-time.Microsecond)), auth.ECONFLICT)
	wantCode(t, "UseJTI(replay with a later expiry)", s.UseJTI(ctx, "jti_1", at(time.Hour), base), auth.ECONFLICT)
	if err := s.UseJTI(ctx, "jti_2", exp, base); err != nil {
		t.Fatalf("UseJTI(another jti): %v", err)
	}
	// Once expired it may be recorded again, and is then held to the new
	// expiry.
	if err := s.UseJTI(ctx, "jti_1", at(time.Hour), exp); err != nil {
		t.Fatalf("UseJTI(after expiry): %v", err)
	}
	wantCode(t, "UseJTI(replay of the renewed jti)", s.UseJTI(ctx, "jti_1", at(time.Hour), at(30*time.Minute)), auth.ECONFLICT)
	wantCode(t, "UseJTI(empty)", s.UseJTI(ctx, "", exp, base), auth.EINVALID)
	wantCode(t, "UseJTI(invalid UTF-8)", s.UseJTI(ctx, "\xff", exp, base), auth.EINVALID)
}

func testUseJTIConcurrent(t *testing.T, s auth.Store) {
	const n = 8
	errs := parallel(n, func(int) error { return s.UseJTI(t.Context(), "jti_1", at(time.Minute), base) })
	wantOneWinner(t, errs, "UseJTI", "uses")
}

// --- consents --------------------------------------------------------------

func testConsentRoundTrip(t *testing.T, s auth.Store) {
	ctx := t.Context()
	c := &auth.Consent{UserID: "usr_1", ClientID: "cli_b", Scopes: []string{"email", "openid", "ユーザー"}, GrantedAt: base}
	ev := oev(auth.EventConsentGranted, base)
	if err := s.SaveConsent(ctx, c, ev); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}
	got, err := s.GetConsent(ctx, "usr_1", "cli_b")
	if err != nil {
		t.Fatalf("GetConsent: %v", err)
	}
	wantSame(t, "GetConsent", c, got)

	// Replace: the new scopes and time win.
	c2 := &auth.Consent{UserID: "usr_1", ClientID: "cli_b", Scopes: []string{"openid"}, GrantedAt: at(time.Hour)}
	if err := s.SaveConsent(ctx, c2, ev); err != nil {
		t.Fatalf("SaveConsent(replace): %v", err)
	}
	got, err = s.GetConsent(ctx, "usr_1", "cli_b")
	if err != nil {
		t.Fatalf("GetConsent: %v", err)
	}
	wantSame(t, "replaced consent", c2, got)

	empty := &auth.Consent{UserID: "usr_1", ClientID: "cli_a"} // nil scopes, zero time
	if err := s.SaveConsent(ctx, empty); err != nil {
		t.Fatalf("SaveConsent(empty): %v", err)
	}
	if err := s.SaveConsent(ctx, &auth.Consent{UserID: "usr_2", ClientID: "cli_a"}); err != nil {
		t.Fatalf("SaveConsent(other user): %v", err)
	}
	list, err := s.ListConsents(ctx, "usr_1")
	if err != nil {
		t.Fatalf("ListConsents: %v", err)
	}
	wantSame(t, "ListConsents", []*auth.Consent{empty, c2}, list)
	if list, err := s.ListConsents(ctx, "usr_none"); err != nil || len(list) != 0 {
		t.Fatalf("ListConsents(no consents) = %+v, %v", list, err)
	}

	_, err = s.GetConsent(ctx, "usr_2", "cli_b")
	wantCode(t, "GetConsent(unknown)", err, auth.ENOTFOUND)
	for name, bad := range map[string]*auth.Consent{
		"no user":   {ClientID: "cli_a"},
		"no client": {UserID: "usr_1"},
		"NUL":       {UserID: "usr_1", ClientID: "cli_a", Scopes: []string{"\x00"}},
	} {
		wantCode(t, "SaveConsent("+name+")", s.SaveConsent(ctx, bad, ev), auth.EINVALID)
	}
	wantEvents(t, s, ev, ev)
}

func testConsentDelete(t *testing.T, s auth.Store) {
	ctx := t.Context()
	now := at(time.Hour)
	for _, c := range []auth.Consent{
		{UserID: "usr_1", ClientID: "cli_1", Scopes: []string{"openid"}},
		{UserID: "usr_1", ClientID: "cli_2"},
		{UserID: "usr_2", ClientID: "cli_1"},
	} {
		if err := s.SaveConsent(ctx, &c); err != nil {
			t.Fatalf("SaveConsent: %v", err)
		}
	}
	// usr_1 at cli_1: two refresh families and a code-only family.
	mustRefresh(t, s, newRefresh("a", "fam_a", "cli_1", "usr_1"), issued("jti_a", "fam_a", at(2*time.Hour)))
	mustRefresh(t, s, newRefresh("b", "fam_b", "cli_1", "usr_1"), issued("jti_b", "fam_b", at(2*time.Hour)))
	mustCode(t, s, newCode("c", "cli_1", "usr_1", "fam_c"))
	if err := s.RecordIssuedToken(ctx, issued("jti_c", "fam_c", at(2*time.Hour))); err != nil {
		t.Fatalf("RecordIssuedToken: %v", err)
	}
	// The same user at another client, and another user at the same client.
	mustRefresh(t, s, newRefresh("d", "fam_d", "cli_2", "usr_1"), issued("jti_d", "fam_d", at(2*time.Hour)))
	mustRefresh(t, s, newRefresh("e", "fam_e", "cli_1", "usr_2"), issued("jti_e", "fam_e", at(2*time.Hour)))

	ev := oev(auth.EventConsentRevoked, now)
	if err := s.DeleteConsent(ctx, "usr_1", "cli_1", now, ev); err != nil {
		t.Fatalf("DeleteConsent: %v", err)
	}
	_, err := s.GetConsent(ctx, "usr_1", "cli_1")
	wantCode(t, "GetConsent(deleted)", err, auth.ENOTFOUND)
	for _, h := range []string{"a", "b"} {
		if rt := getRefresh(t, s, hashOf("refresh:"+h)); !rt.RevokedAt.Equal(now) {
			t.Errorf("token of fam_%s RevokedAt = %v, want %v", h, rt.RevokedAt, now)
		}
	}
	wantStrings(t, "revocation list", listedJTIs(t, s, now), []string{"jti_a", "jti_b", "jti_c"})
	for _, h := range []string{"d", "e"} {
		if rt := getRefresh(t, s, hashOf("refresh:"+h)); !rt.RevokedAt.IsZero() {
			t.Errorf("token of fam_%s was revoked", h)
		}
	}
	for _, k := range [][2]string{{"usr_1", "cli_2"}, {"usr_2", "cli_1"}} {
		if _, err := s.GetConsent(ctx, k[0], k[1]); err != nil {
			t.Errorf("GetConsent(%s, %s): %v", k[0], k[1], err)
		}
	}
	err = s.DeleteConsent(ctx, "usr_1", "cli_1", now, oev(auth.EventConsentRevoked, now))
	wantCode(t, "DeleteConsent(again)", err, auth.ENOTFOUND)
	wantEvents(t, s, ev)
}

// testConsentDeleteRevokesCodeFamilies: a code issued under a consent that
// is then revoked must not be exchanged for tokens afterwards (it lives up
// to a minute), so the families of the user's codes at that client are
// revoked with the consent.
func testConsentDeleteRevokesCodeFamilies(t *testing.T, s auth.Store) {
	ctx := t.Context()
	now := at(time.Hour)
	for _, c := range []auth.Consent{
		{UserID: "usr_1", ClientID: "cli_1", Scopes: []string{"openid"}},
		{UserID: "usr_1", ClientID: "cli_2", Scopes: []string{"openid"}},
	} {
		if err := s.SaveConsent(ctx, &c); err != nil {
			t.Fatalf("SaveConsent: %v", err)
		}
	}
	mustCode(t, s, newCode("pending", "cli_1", "usr_1", "fam_pending"))
	mustCode(t, s, newCode("other", "cli_2", "usr_1", "fam_other"))
	if err := s.DeleteConsent(ctx, "usr_1", "cli_1", now); err != nil {
		t.Fatalf("DeleteConsent: %v", err)
	}
	// The code is still there (redeeming it is the token endpoint's
	// business), but its family takes no token.
	if _, err := s.ConsumeAuthCode(ctx, hashOf("code:pending"), now); err != nil {
		t.Fatalf("ConsumeAuthCode: %v", err)
	}
	err := s.CreateRefreshToken(ctx, newRefresh("p", "fam_pending", "cli_1", "usr_1"), issued("jti_p", "fam_pending", at(2*time.Hour)))
	wantCode(t, "CreateRefreshToken(family of a code under a revoked consent)", err, auth.ECONFLICT)
	err = s.RecordIssuedToken(ctx, issued("jti_p2", "fam_pending", at(2*time.Hour)))
	wantCode(t, "RecordIssuedToken(family of a code under a revoked consent)", err, auth.ECONFLICT)
	// Another client's code is not touched.
	if err := s.RecordIssuedToken(ctx, issued("jti_o", "fam_other", at(2*time.Hour))); err != nil {
		t.Fatalf("RecordIssuedToken(other client's family): %v", err)
	}
}

// --- sessions --------------------------------------------------------------

func testSessionRoundTrip(t *testing.T, s auth.Store) {
	ctx := t.Context()
	tokyo := time.FixedZone("JST", 9*3600)
	ses := &auth.Session{
		Hash:      append([]byte{0, 0xff}, hashOf("session")[2:]...),
		UserID:    "usr_1",
		AuthTime:  at(-time.Minute).In(tokyo),
		CreatedAt: base,
		ExpiresAt: at(time.Hour),
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 'quoted' 😀",
		Address:   "2001:db8::1",
		AMR:       []string{"pwd"},
	}
	if err := s.CreateSession(ctx, ses); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	got, err := s.GetSession(ctx, ses.Hash, base)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	wantSame(t, "GetSession", ses, got)
	if _, err := s.GetSession(ctx, ses.Hash, at(time.Hour-time.Microsecond)); err != nil {
		t.Fatalf("GetSession just before expiry: %v", err)
	}
	for name, now := range map[string]time.Time{"at expiry": at(time.Hour), "after expiry": at(2 * time.Hour)} {
		_, err := s.GetSession(ctx, ses.Hash, now)
		wantCode(t, "GetSession("+name+")", err, auth.ENOTFOUND)
	}
	wantCode(t, "CreateSession(duplicate)", s.CreateSession(ctx, &auth.Session{Hash: ses.Hash, UserID: "usr_2", ExpiresAt: at(time.Hour)}), auth.ECONFLICT)
	if got, err := s.GetSession(ctx, ses.Hash, base); err != nil || got.UserID != "usr_1" {
		t.Fatalf("session after a refused duplicate = %+v, %v", got, err)
	}
	// A session without a recorded browser (as every session created
	// before they were recorded) reads back with empty text.
	bare := &auth.Session{Hash: hashOf("bare"), UserID: "usr_1", CreatedAt: base, ExpiresAt: at(time.Hour)}
	if err := s.CreateSession(ctx, bare); err != nil {
		t.Fatalf("CreateSession(no user agent or address): %v", err)
	}
	if got, err := s.GetSession(ctx, bare.Hash, base); err != nil {
		t.Fatalf("GetSession(no user agent or address): %v", err)
	} else {
		wantSame(t, "GetSession(no user agent or address)", bare, got)
	}
	for name, bad := range map[string]*auth.Session{
		"no hash":                      {UserID: "usr_1"},
		"no user":                      {Hash: hashOf("x")},
		"NUL":                          {Hash: hashOf("x"), UserID: "\x00"},
		"NUL in the user agent":        {Hash: hashOf("x"), UserID: "usr_1", UserAgent: "a\x00b"},
		"invalid UTF-8 in the address": {Hash: hashOf("x"), UserID: "usr_1", Address: "\xff"},
		"NUL in a method":              {Hash: hashOf("x"), UserID: "usr_1", AMR: []string{"p\x00"}},
	} {
		wantCode(t, "CreateSession("+name+")", s.CreateSession(ctx, bad), auth.EINVALID)
	}
	for name, h := range map[string][]byte{"unknown": hashOf("missing"), "nil": nil} {
		_, err := s.GetSession(ctx, h, base)
		wantCode(t, "GetSession("+name+")", err, auth.ENOTFOUND)
	}

	// A step-up replaces the methods and the time of the sign-in, and
	// nothing else.
	stepped := at(30 * time.Second)
	if err := s.UpgradeSession(ctx, ses.Hash, []string{"mfa", "otp", "pwd"}, stepped); err != nil {
		t.Fatalf("UpgradeSession: %v", err)
	}
	want := *ses
	want.AMR, want.AuthTime = []string{"mfa", "otp", "pwd"}, stepped
	if got, err := s.GetSession(ctx, ses.Hash, base); err != nil {
		t.Fatalf("GetSession(upgraded): %v", err)
	} else {
		wantSame(t, "GetSession(upgraded)", &want, got)
	}
	wantCode(t, "UpgradeSession(unknown)", s.UpgradeSession(ctx, hashOf("missing"), []string{"pwd"}, stepped), auth.ENOTFOUND)
	wantCode(t, "UpgradeSession(NUL)", s.UpgradeSession(ctx, ses.Hash, []string{"\x00"}, stepped), auth.EINVALID)

	if err := s.DeleteSession(ctx, ses.Hash); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	_, err = s.GetSession(ctx, ses.Hash, base)
	wantCode(t, "GetSession(deleted)", err, auth.ENOTFOUND)
	if err := s.DeleteSession(ctx, ses.Hash); err != nil {
		t.Fatalf("DeleteSession(unknown): %v", err)
	}
	wantNoEvents(t, s)
}

func testDeleteUserSessions(t *testing.T, s auth.Store) {
	ctx := t.Context()
	for i, u := range []string{"usr_1", "usr_1", "usr_2"} {
		if err := s.CreateSession(ctx, &auth.Session{Hash: hashOf(fmt.Sprint("s", i)), UserID: u, ExpiresAt: at(time.Hour)}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	if err := s.DeleteUserSessions(ctx, "usr_1"); err != nil {
		t.Fatalf("DeleteUserSessions: %v", err)
	}
	for i, want := range []string{auth.ENOTFOUND, auth.ENOTFOUND, ""} {
		_, err := s.GetSession(ctx, hashOf(fmt.Sprint("s", i)), base)
		wantCode(t, fmt.Sprint("GetSession(s", i, ")"), err, want)
	}
	if err := s.DeleteUserSessions(ctx, "usr_none"); err != nil {
		t.Fatalf("DeleteUserSessions(no sessions): %v", err)
	}
}

// --- purge -----------------------------------------------------------------

func testPurgeExpired(t *testing.T, s auth.Store) {
	ctx := t.Context()
	cutoff := at(time.Hour)
	dead, alive := cutoff.Add(-time.Microsecond), cutoff // alive: not dead before the cutoff

	deadCode, liveCode := newCode("dead", "cli_1", "usr_1", "fam_x"), newCode("alive", "cli_1", "usr_1", "fam_y")
	deadCode.ExpiresAt, liveCode.ExpiresAt = dead, alive
	mustCode(t, s, deadCode)
	mustCode(t, s, liveCode)

	idle, family, live := newRefresh("idle", "fam_1", "cli_1", "usr_1"), newRefresh("family", "fam_2", "cli_1", "usr_1"), newRefresh("live", "fam_3", "cli_1", "usr_1")
	idle.ExpiresAt = dead
	family.FamilyExpiresAt = dead
	live.ExpiresAt, live.FamilyExpiresAt = alive, alive
	mustRefresh(t, s, idle, issued("jti_dead", "fam_1", dead))
	mustRefresh(t, s, family, nil)
	mustRefresh(t, s, live, issued("jti_live", "fam_3", alive))

	for _, r := range []auth.RevokedToken{
		{JTI: "rev_dead", ExpiresAt: dead, RevokedAt: base},
		{JTI: "rev_live", ExpiresAt: alive, RevokedAt: base},
	} {
		if err := s.RevokeToken(ctx, r); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
	}
	for jti, exp := range map[string]time.Time{"use_dead": dead, "use_live": alive} {
		if err := s.UseJTI(ctx, jti, exp, base); err != nil {
			t.Fatalf("UseJTI: %v", err)
		}
	}
	for name, exp := range map[string]time.Time{"ses_dead": dead, "ses_live": alive} {
		if err := s.CreateSession(ctx, &auth.Session{Hash: hashOf(name), UserID: "usr_1", ExpiresAt: exp}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	if err := s.SaveConsent(ctx, &auth.Consent{UserID: "usr_1", ClientID: "cli_1"}); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}

	if err := s.PurgeExpired(ctx, cutoff); err != nil {
		t.Fatalf("PurgeExpired: %v", err)
	}

	_, err := s.ConsumeAuthCode(ctx, deadCode.Hash, base)
	wantCode(t, "ConsumeAuthCode(purged)", err, auth.ENOTFOUND)
	if _, err := s.ConsumeAuthCode(ctx, liveCode.Hash, base); err != nil {
		t.Errorf("ConsumeAuthCode(kept): %v", err)
	}
	wantRefreshGone(t, s, idle.Hash)
	wantRefreshGone(t, s, family.Hash)
	getRefresh(t, s, live.Hash)
	wantRevoked(t, s, "rev_dead", false)
	wantRevoked(t, s, "rev_live", true)
	// Revoking the families at base lists only the issued token still kept.
	if jtis := familyJTIs(t, s, "fam_1"); len(jtis) != 0 {
		t.Errorf("purged issued token revoked: %v", jtis)
	}
	wantStrings(t, "kept issued token", familyJTIs(t, s, "fam_3"), []string{"jti_live"})
	// A purged jti may be used again even before its old expiry.
	if err := s.UseJTI(ctx, "use_dead", at(2*time.Hour), base); err != nil {
		t.Errorf("UseJTI(purged): %v", err)
	}
	wantCode(t, "UseJTI(kept)", s.UseJTI(ctx, "use_live", at(2*time.Hour), base), auth.ECONFLICT)
	_, err = s.GetSession(ctx, hashOf("ses_dead"), base)
	wantCode(t, "GetSession(purged)", err, auth.ENOTFOUND)
	if _, err := s.GetSession(ctx, hashOf("ses_live"), base); err != nil {
		t.Errorf("GetSession(kept): %v", err)
	}
	if _, err := s.GetConsent(ctx, "usr_1", "cli_1"); err != nil {
		t.Errorf("consents never expire: %v", err)
	}
}

// testPurgeKeepsWhatReuseDetectionNeeds: a spent refresh token or a used
// code, presented again, revokes its family (RFC 9700 4.14.2, RFC 6749
// 4.1.2), which the server can only do while it still has the record. A
// rotated token dies at its own idle expiry while the family lives on in
// its successor, and a code dies a minute after its tokens were issued: so
// neither is purged while a refresh token of its family is alive. Once the
// whole family is dead they go.
func testPurgeKeepsWhatReuseDetectionNeeds(t *testing.T, s auth.Store) {
	ctx := t.Context()
	cutoff := at(time.Hour)
	dead, alive := cutoff.Add(-time.Microsecond), cutoff

	// A family alive in its second token, the first spent and dead, its
	// code used and dead; and a family whose every token is dead.
	for _, fam := range []string{"live", "gone"} {
		code := newCode(fam, "cli_1", "usr_1", "fam_"+fam)
		code.ExpiresAt = dead
		mustCode(t, s, code)
		if _, err := s.ConsumeAuthCode(ctx, code.Hash, base); err != nil {
			t.Fatalf("ConsumeAuthCode: %v", err)
		}
		first, second := newRefresh(fam+"1", "fam_"+fam, "cli_1", "usr_1"), newRefresh(fam+"2", "fam_"+fam, "cli_1", "usr_1")
		first.ExpiresAt = dead
		second.ExpiresAt = dead
		if fam == "live" {
			second.ExpiresAt = alive
		}
		mustRefresh(t, s, first, nil)
		if err := s.RotateRefreshToken(ctx, first.Hash, base, 0, second, nil); err != nil {
			t.Fatalf("RotateRefreshToken: %v", err)
		}
	}

	if err := s.PurgeExpired(ctx, cutoff); err != nil {
		t.Fatalf("PurgeExpired: %v", err)
	}

	if rt := getRefresh(t, s, hashOf("refresh:live1")); rt.UsedAt.IsZero() {
		t.Errorf("the spent token of a live family lost its use: %+v", rt)
	}
	getRefresh(t, s, hashOf("refresh:live2"))
	c, err := s.ConsumeAuthCode(ctx, hashOf("code:live"), cutoff)
	wantCode(t, "ConsumeAuthCode(used code of a live family)", err, auth.ECONFLICT)
	if c == nil || c.FamilyID != "fam_live" {
		t.Errorf("used code of a live family = %+v, want it kept with its family", c)
	}
	wantRefreshGone(t, s, hashOf("refresh:gone1"))
	wantRefreshGone(t, s, hashOf("refresh:gone2"))
	_, err = s.ConsumeAuthCode(ctx, hashOf("code:gone"), cutoff)
	wantCode(t, "ConsumeAuthCode(code of a dead family)", err, auth.ENOTFOUND)
}

// --- events ----------------------------------------------------------------

func testOAuthInvalidEvents(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mustClient(t, s, newClient("cli_1"))
	mustUser(t, s, newUser("usr_1", "alice"))
	if err := s.CreateSigningKey(ctx, newSigningKey("kid_1", base)); err != nil {
		t.Fatalf("CreateSigningKey: %v", err)
	}
	if err := s.SaveConsent(ctx, &auth.Consent{UserID: "usr_1", ClientID: "cli_1"}); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}
	mustRefresh(t, s, newRefresh("r1", "fam_1", "cli_1", "usr_1"), issued("jti_1", "fam_1", at(time.Hour)))
	bad := auth.AuditEvent{Time: base, Type: "bad\x00", Actor: "a", Count: 1}

	for name, op := range map[string]func() error{
		"CreateClient": func() error { return s.CreateClient(ctx, newClient("cli_2"), bad) },
		"UpdateClient": func() error {
			c := newClient("cli_1")
			c.Name = "changed"
			return s.UpdateClient(ctx, c, c.UpdatedAt, bad)
		},
		"DeleteClient": func() error { return s.DeleteClient(ctx, "cli_1", base, bad) },
		"CreateUser":   func() error { return s.CreateUser(ctx, newUser("usr_2", "bob"), bad) },
		"UpdateUser": func() error {
			return s.UpdateUser(ctx, newUser("usr_1", "renamed"), bad)
		},
		"CreateSigningKey": func() error { return s.CreateSigningKey(ctx, newSigningKey("kid_2", base), bad) },
		"RetireSigningKey": func() error { return s.RetireSigningKey(ctx, "kid_1", base, at(time.Hour), bad) },
		"RevokeFamily": func() error {
			_, err := s.RevokeFamily(ctx, "fam_1", base, bad)
			return err
		},
		"RevokeToken": func() error {
			return s.RevokeToken(ctx, auth.RevokedToken{JTI: "jti_x", ExpiresAt: at(time.Hour), RevokedAt: base}, bad)
		},
		"SaveConsent":   func() error { return s.SaveConsent(ctx, &auth.Consent{UserID: "usr_1", ClientID: "cli_9"}, bad) },
		"DeleteConsent": func() error { return s.DeleteConsent(ctx, "usr_1", "cli_1", base, bad) },
	} {
		wantCode(t, name+"(bad event)", op(), auth.EINVALID)
	}
	// Nothing changed.
	c, err := s.GetClient(ctx, "cli_1")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	wantSame(t, "client", newClient("cli_1"), c)
	_, err = s.GetClient(ctx, "cli_2")
	wantCode(t, "GetClient(cli_2)", err, auth.ENOTFOUND)
	_, err = s.GetUserByUsername(ctx, "bob")
	wantCode(t, "GetUserByUsername(bob)", err, auth.ENOTFOUND)
	if _, err := s.GetUserByUsername(ctx, "alice"); err != nil {
		t.Fatalf("GetUserByUsername(alice): %v", err)
	}
	keys := listKeys(t, s)
	if len(keys) != 1 || !keys[0].RetiredAt.IsZero() {
		t.Fatalf("signing keys = %+v, want kid_1 unretired", keys)
	}
	if rt := getRefresh(t, s, hashOf("refresh:r1")); !rt.RevokedAt.IsZero() {
		t.Fatalf("refresh token revoked")
	}
	wantRevoked(t, s, "jti_1", false)
	wantRevoked(t, s, "jti_x", false)
	if list, err := s.ListConsents(ctx, "usr_1"); err != nil || len(list) != 1 || list[0].ClientID != "cli_1" {
		t.Fatalf("consents = %+v, %v; want only cli_1", list, err)
	}
	wantNoEvents(t, s)
}

// wantOneWinner holds the errors of n concurrent calls of op to the rule
// that exactly one succeeds and every other one is refused with ECONFLICT.
func wantOneWinner(t *testing.T, errs []error, op, who string) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch auth.ErrorCode(err) {
		case "":
			wins++
		case auth.ECONFLICT:
		default:
			t.Errorf("concurrent %s: %v", op, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent %s won, want exactly 1", wins, len(errs), who)
	}
}
