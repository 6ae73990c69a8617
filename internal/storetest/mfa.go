package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// RunMFA runs the contract suite of auth.MFAStore. open is as for Run.
func RunMFA(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"mfa: a pending secret reads back unchanged and unconfirmed; none is not found", testTOTPPendingRoundTrip},
		{"mfa: a pending secret is replaced by the next, a confirmed one never", testTOTPPendingReplaced},
		{"mfa: a pending secret of an unknown user, or an incomplete one, is refused", testTOTPPendingInvalid},
		{"mfa: confirmation needs the very pending secret, stores codes and events at once", testTOTPConfirm},
		{"mfa: a refused confirmation writes nothing", testTOTPConfirmNothing},
		{"mfa: the step only moves forward, and only for a confirmed secret", testTOTPAdvanceStep},
		{"mfa: of concurrent uses of one step exactly one succeeds", testTOTPAdvanceConcurrent},
		{"mfa: a recovery code is used once, and only by its user", testRecoveryCodeOnce},
		{"mfa: of concurrent uses of one recovery code exactly one succeeds", testRecoveryCodeConcurrent},
		{"mfa: replacing the recovery codes voids the old ones and needs a confirmed secret", testRecoveryCodesReplaced},
		{"mfa: deleting the secret removes its codes and appends the events", testTOTPDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// mfaUser stores a user with that ID.
func mfaUser(t *testing.T, s auth.Store, id string) {
	t.Helper()
	mustUser(t, s, newUser(id, "name"+id))
}

func pendingTOTP(userID, label string) *auth.TOTPSecret {
	return &auth.TOTPSecret{UserID: userID, Sealed: []byte("sealed:" + label), CreatedAt: base}
}

func codeHashes(label string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = hashOf(fmt.Sprintf("recovery:%s:%d", label, i))
	}
	return out
}

func mfaEvent(typ, userID string, tm time.Time) auth.AuditEvent {
	return auth.AuditEvent{Time: tm, Type: typ, Actor: userID, Count: 1, Details: map[string]string{"user_id": userID}}
}

func mustTOTP(t *testing.T, s auth.Store, userID string) *auth.TOTPSecret {
	t.Helper()
	got, err := s.GetTOTP(t.Context(), userID)
	if err != nil {
		t.Fatalf("GetTOTP(%s): %v", userID, err)
	}
	return got
}

func recoveryCount(t *testing.T, s auth.Store, userID string) int {
	t.Helper()
	n, err := s.CountRecoveryCodes(t.Context(), userID)
	if err != nil {
		t.Fatalf("CountRecoveryCodes: %v", err)
	}
	return n
}

// confirmedTOTP stores a confirmed secret for userID at step 100 with
// three recovery codes ("codes" label).
func confirmedTOTP(t *testing.T, s auth.Store, userID string) {
	t.Helper()
	p := pendingTOTP(userID, "one")
	if err := s.PutPendingTOTP(t.Context(), p); err != nil {
		t.Fatalf("PutPendingTOTP: %v", err)
	}
	if err := s.ConfirmTOTP(t.Context(), userID, p.Sealed, 100, at(time.Minute), codeHashes("codes", 3)); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
}

func testTOTPPendingRoundTrip(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mfaUser(t, s, "usr_1")
	_, err := s.GetTOTP(ctx, "usr_1")
	wantCode(t, "GetTOTP(none)", err, auth.ENOTFOUND)
	p := pendingTOTP("usr_1", "a")
	if err := s.PutPendingTOTP(ctx, p); err != nil {
		t.Fatal(err)
	}
	got := mustTOTP(t, s, "usr_1")
	if got.UserID != "usr_1" || string(got.Sealed) != "sealed:a" || !got.CreatedAt.Equal(base) || got.Confirmed() || got.LastStep != 0 {
		t.Fatalf("GetTOTP = %+v", got)
	}
	if n := recoveryCount(t, s, "usr_1"); n != 0 {
		t.Fatalf("recovery codes of a pending secret: %d", n)
	}
}

func testTOTPPendingReplaced(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mfaUser(t, s, "usr_1")
	if err := s.PutPendingTOTP(ctx, pendingTOTP("usr_1", "a")); err != nil {
		t.Fatal(err)
	}
	b := pendingTOTP("usr_1", "b")
	b.CreatedAt = at(time.Hour)
	if err := s.PutPendingTOTP(ctx, b); err != nil {
		t.Fatalf("replace pending: %v", err)
	}
	if got := mustTOTP(t, s, "usr_1"); string(got.Sealed) != "sealed:b" || !got.CreatedAt.Equal(at(time.Hour)) {
		t.Fatalf("after replacement: %+v", got)
	}
	if err := s.ConfirmTOTP(ctx, "usr_1", b.Sealed, 7, at(2*time.Hour), codeHashes("c", 2)); err != nil {
		t.Fatal(err)
	}
	err := s.PutPendingTOTP(ctx, pendingTOTP("usr_1", "c"))
	wantCode(t, "PutPendingTOTP over a confirmed secret", err, auth.ECONFLICT)
	if got := mustTOTP(t, s, "usr_1"); string(got.Sealed) != "sealed:b" || !got.Confirmed() || got.LastStep != 7 {
		t.Fatalf("a refused replacement changed the confirmed secret: %+v", got)
	}
}

func testTOTPPendingInvalid(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mfaUser(t, s, "usr_1")
	wantCode(t, "unknown user", s.PutPendingTOTP(ctx, pendingTOTP("usr_nobody", "a")), auth.ENOTFOUND)
	wantCode(t, "no sealed bytes", s.PutPendingTOTP(ctx, &auth.TOTPSecret{UserID: "usr_1"}), auth.EINVALID)
	wantCode(t, "no user", s.PutPendingTOTP(ctx, &auth.TOTPSecret{Sealed: []byte("x")}), auth.EINVALID)
	confirmed := pendingTOTP("usr_1", "a")
	confirmed.ConfirmedAt = base
	wantCode(t, "confirmed already", s.PutPendingTOTP(ctx, confirmed), auth.EINVALID)
	wantCode(t, "NUL in the user", s.PutPendingTOTP(ctx, pendingTOTP("usr\x00", "a")), auth.EINVALID)
	if _, err := s.GetTOTP(ctx, "usr_1"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("refused writes stored something: %v", err)
	}
}

func testTOTPConfirm(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mfaUser(t, s, "usr_1")
	p := pendingTOTP("usr_1", "a")
	if err := s.PutPendingTOTP(ctx, p); err != nil {
		t.Fatal(err)
	}
	evs := []auth.AuditEvent{mfaEvent(auth.EventTOTPEnrolled, "usr_1", at(time.Minute)), mfaEvent(auth.EventRecoveryCodesGenerated, "usr_1", at(time.Minute))}
	if err := s.ConfirmTOTP(ctx, "usr_1", p.Sealed, 42, at(time.Minute), codeHashes("c", 10), evs...); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	got := mustTOTP(t, s, "usr_1")
	if !got.ConfirmedAt.Equal(at(time.Minute)) || got.LastStep != 42 || !got.CreatedAt.Equal(base) {
		t.Fatalf("confirmed secret = %+v", got)
	}
	if n := recoveryCount(t, s, "usr_1"); n != 10 {
		t.Fatalf("recovery codes = %d, want 10", n)
	}
	all := allEvents(t, s)
	if len(all) != 2 || all[0].Type != auth.EventTOTPEnrolled || all[1].Type != auth.EventRecoveryCodesGenerated {
		t.Fatalf("events = %+v", all)
	}
	// Found by the user, as the audit log's target.
	byUser, _, err := s.ListAuditEvents(ctx, auth.AuditFilter{Target: "usr_1"})
	if err != nil || len(byUser) != 2 {
		t.Fatalf("events by target: %d, %v", len(byUser), err)
	}
	// A second confirmation finds no pending secret.
	err = s.ConfirmTOTP(ctx, "usr_1", p.Sealed, 43, at(2*time.Minute), codeHashes("d", 10))
	wantCode(t, "ConfirmTOTP twice", err, auth.ENOTFOUND)
	if n := recoveryCount(t, s, "usr_1"); n != 10 {
		t.Fatalf("a refused confirmation replaced the codes: %d", n)
	}
}

func testTOTPConfirmNothing(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mfaUser(t, s, "usr_1")
	wantCode(t, "ConfirmTOTP without a secret", s.ConfirmTOTP(ctx, "usr_1", []byte("sealed:a"), 1, base, codeHashes("c", 2),
		mfaEvent(auth.EventTOTPEnrolled, "usr_1", base)), auth.ENOTFOUND)
	p := pendingTOTP("usr_1", "a")
	if err := s.PutPendingTOTP(ctx, p); err != nil {
		t.Fatal(err)
	}
	// The secret shown on another page (since replaced) is not the one
	// confirmed.
	wantCode(t, "ConfirmTOTP of a replaced secret", s.ConfirmTOTP(ctx, "usr_1", []byte("sealed:old"), 1, base, codeHashes("c", 2),
		mfaEvent(auth.EventTOTPEnrolled, "usr_1", base)), auth.ENOTFOUND)
	wantCode(t, "ConfirmTOTP with a short hash", s.ConfirmTOTP(ctx, "usr_1", p.Sealed, 1, base, [][]byte{[]byte("short")}), auth.EINVALID)
	dup := codeHashes("c", 1)
	wantCode(t, "ConfirmTOTP with a hash twice", s.ConfirmTOTP(ctx, "usr_1", p.Sealed, 1, base, append(dup, dup[0])), auth.EINVALID)
	wantCode(t, "ConfirmTOTP without a time", s.ConfirmTOTP(ctx, "usr_1", p.Sealed, 1, time.Time{}, codeHashes("c", 2)), auth.EINVALID)
	bad := mfaEvent(auth.EventTOTPEnrolled, "usr_1", base)
	bad.Details["x"] = "\x00"
	wantCode(t, "ConfirmTOTP with a bad event", s.ConfirmTOTP(ctx, "usr_1", p.Sealed, 1, base, codeHashes("c", 2), bad), auth.EINVALID)
	if got := mustTOTP(t, s, "usr_1"); got.Confirmed() {
		t.Fatalf("a refused confirmation confirmed: %+v", got)
	}
	if n := recoveryCount(t, s, "usr_1"); n != 0 {
		t.Fatalf("a refused confirmation stored %d codes", n)
	}
	wantNoEvents(t, s)
}

func testTOTPAdvanceStep(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mfaUser(t, s, "usr_1")
	wantCode(t, "advance without a secret", s.AdvanceTOTPStep(ctx, "usr_1", 5), auth.ENOTFOUND)
	if err := s.PutPendingTOTP(ctx, pendingTOTP("usr_1", "a")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "advance a pending secret", s.AdvanceTOTPStep(ctx, "usr_1", 5), auth.ENOTFOUND)
	if err := s.ConfirmTOTP(ctx, "usr_1", []byte("sealed:a"), 100, base, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "the confirmation's own step", s.AdvanceTOTPStep(ctx, "usr_1", 100), auth.ECONFLICT)
	wantCode(t, "an earlier step", s.AdvanceTOTPStep(ctx, "usr_1", 99), auth.ECONFLICT)
	if err := s.AdvanceTOTPStep(ctx, "usr_1", 101); err != nil {
		t.Fatalf("a later step: %v", err)
	}
	wantCode(t, "the same step again", s.AdvanceTOTPStep(ctx, "usr_1", 101), auth.ECONFLICT)
	if got := mustTOTP(t, s, "usr_1"); got.LastStep != 101 {
		t.Fatalf("LastStep = %d, want 101", got.LastStep)
	}
}

func testTOTPAdvanceConcurrent(t *testing.T, s auth.Store) {
	mfaUser(t, s, "usr_1")
	confirmedTOTP(t, s, "usr_1")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = s.AdvanceTOTPStep(t.Context(), "usr_1", 101) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch auth.ErrorCode(err) {
		case "":
			ok++
		case auth.ECONFLICT:
		default:
			t.Fatalf("AdvanceTOTPStep: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses of one step succeeded, want 1", ok, n)
	}
}

func testRecoveryCodeOnce(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mfaUser(t, s, "usr_1")
	mfaUser(t, s, "usr_2")
	confirmedTOTP(t, s, "usr_1")
	code := codeHashes("codes", 3)[1]
	wantCode(t, "another user's code", s.UseRecoveryCode(ctx, "usr_2", code, base), auth.ENOTFOUND)
	wantCode(t, "an unknown code", s.UseRecoveryCode(ctx, "usr_1", hashOf("nope"), base), auth.ENOTFOUND)
	ev := mfaEvent(auth.EventRecoveryCodeUsed, "usr_1", at(time.Hour))
	if err := s.UseRecoveryCode(ctx, "usr_1", code, at(time.Hour), ev); err != nil {
		t.Fatalf("UseRecoveryCode: %v", err)
	}
	if n := recoveryCount(t, s, "usr_1"); n != 2 {
		t.Fatalf("unused codes = %d, want 2", n)
	}
	wantCode(t, "the code again", s.UseRecoveryCode(ctx, "usr_1", code, at(2*time.Hour), ev), auth.ENOTFOUND)
	if all := allEvents(t, s); len(all) != 1 || all[0].Type != auth.EventRecoveryCodeUsed {
		t.Fatalf("events = %+v", all)
	}
}

func testRecoveryCodeConcurrent(t *testing.T, s auth.Store) {
	mfaUser(t, s, "usr_1")
	confirmedTOTP(t, s, "usr_1")
	code := codeHashes("codes", 3)[0]
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.UseRecoveryCode(t.Context(), "usr_1", code, base, mfaEvent(auth.EventRecoveryCodeUsed, "usr_1", base))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch auth.ErrorCode(err) {
		case "":
			ok++
		case auth.ENOTFOUND:
		default:
			t.Fatalf("UseRecoveryCode: %v", err)
		}
	}
	if ok != 1 || len(allEvents(t, s)) != 1 {
		t.Fatalf("%d of %d concurrent uses of one code succeeded (events %d), want 1", ok, n, len(allEvents(t, s)))
	}
}

func testRecoveryCodesReplaced(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mfaUser(t, s, "usr_1")
	wantCode(t, "replace without a secret", s.ReplaceRecoveryCodes(ctx, "usr_1", codeHashes("new", 10), base), auth.ENOTFOUND)
	if err := s.PutPendingTOTP(ctx, pendingTOTP("usr_1", "one")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "replace with a pending secret", s.ReplaceRecoveryCodes(ctx, "usr_1", codeHashes("new", 10), base), auth.ENOTFOUND)
	if err := s.ConfirmTOTP(ctx, "usr_1", []byte("sealed:one"), 1, base, codeHashes("codes", 3)); err != nil {
		t.Fatal(err)
	}
	old := codeHashes("codes", 3)
	if err := s.UseRecoveryCode(ctx, "usr_1", old[0], base); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "replace with bad hashes", s.ReplaceRecoveryCodes(ctx, "usr_1", [][]byte{{1}}, base), auth.EINVALID)
	if n := recoveryCount(t, s, "usr_1"); n != 2 {
		t.Fatalf("a refused replacement changed the codes: %d", n)
	}
	if err := s.ReplaceRecoveryCodes(ctx, "usr_1", codeHashes("new", 10), at(time.Hour),
		mfaEvent(auth.EventRecoveryCodesGenerated, "usr_1", at(time.Hour))); err != nil {
		t.Fatalf("ReplaceRecoveryCodes: %v", err)
	}
	if n := recoveryCount(t, s, "usr_1"); n != 10 {
		t.Fatalf("unused codes after replacement = %d, want 10", n)
	}
	wantCode(t, "an old code", s.UseRecoveryCode(ctx, "usr_1", old[1], base), auth.ENOTFOUND)
	if err := s.UseRecoveryCode(ctx, "usr_1", codeHashes("new", 10)[9], base); err != nil {
		t.Fatalf("a new code: %v", err)
	}
	if all := allEvents(t, s); len(all) != 1 || all[0].Type != auth.EventRecoveryCodesGenerated {
		t.Fatalf("events = %+v", all)
	}
}

func testTOTPDelete(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mfaUser(t, s, "usr_1")
	mfaUser(t, s, "usr_2")
	wantCode(t, "delete without a secret", s.DeleteTOTP(ctx, "usr_1", mfaEvent(auth.EventTOTPRemoved, "usr_1", base)), auth.ENOTFOUND)
	wantNoEvents(t, s)
	confirmedTOTP(t, s, "usr_1")
	confirmedTOTP(t, s, "usr_2")
	if err := s.DeleteTOTP(ctx, "usr_1", mfaEvent(auth.EventTOTPRemoved, "usr_1", base)); err != nil {
		t.Fatalf("DeleteTOTP: %v", err)
	}
	if _, err := s.GetTOTP(ctx, "usr_1"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("GetTOTP after delete: %v", err)
	}
	if n := recoveryCount(t, s, "usr_1"); n != 0 {
		t.Fatalf("recovery codes after delete: %d", n)
	}
	if n := recoveryCount(t, s, "usr_2"); n != 3 {
		t.Fatalf("another user's codes: %d", n)
	}
	if all := allEvents(t, s); len(all) != 1 || all[0].Type != auth.EventTOTPRemoved {
		t.Fatalf("events = %+v", all)
	}
	// A new enrolment can start.
	if err := s.PutPendingTOTP(ctx, pendingTOTP("usr_1", "again")); err != nil {
		t.Fatalf("PutPendingTOTP after delete: %v", err)
	}
}
