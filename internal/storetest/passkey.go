package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// RunPasskeys runs the contract suite of auth.PasskeyStore: users'
// passkeys and the state of their ceremonies. open is as for Run.
func RunPasskeys(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"passkey: create then get by credential ID and list return every field unchanged", testPasskeyRoundTrip},
		{"passkey: duplicate ID or credential ID is a conflict and writes nothing", testPasskeyDuplicate},
		{"passkey: text the database cannot keep is invalid and writes nothing", testPasskeyInvalid},
		{"passkey: list holds only the user's passkeys, oldest first", testPasskeyList},
		{"passkey: rename and delete act only on the user's own passkey", testPasskeyRenameDelete},
		{"passkey: a use is recorded only against the sign count it was checked with", testPasskeyUse},
		{"passkey: of concurrent uses checked against one count exactly one is recorded", testPasskeyUseConcurrent},
		{"ceremony: consumed once, returned unchanged, then not found", testCeremonyOnce},
		{"ceremony: an expired one is not found and a new one forgets it", testCeremonyExpiry},
		{"ceremony: of concurrent consumers exactly one gets it", testCeremonyConcurrent},
		{"ceremony: duplicate hash is a conflict; incomplete ones are invalid", testCeremonyInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// newPasskey returns a passkey of user with every field set.
func newPasskey(id, user string) *auth.Passkey {
	return &auth.Passkey{
		ID: id, UserID: user, Name: "Laptop 😀 '; --", CredentialID: hashOf("cred:" + id), PublicKey: hashOf("pk:" + id),
		AttestationType: "none", AttestationFormat: "packed", Attestation: []byte(`{"clientDataJSON":"e30"}`),
		Transports: []string{"hybrid", "internal"}, AAGUID: hashOf("aaguid")[:16], Attachment: "platform",
		SignCount: 4294967295, BackupEligible: true, BackupState: true, UserVerified: true,
		CreatedAt: base, LastUsedAt: at(time.Minute),
	}
}

func pev(typ, user string, tm time.Time) auth.AuditEvent {
	return auth.AuditEvent{Time: tm, Type: typ, Actor: user, Count: 1, Details: map[string]string{"user_id": user}}
}

func mustPasskey(t *testing.T, s auth.Store, p *auth.Passkey) {
	t.Helper()
	if err := s.CreatePasskey(t.Context(), p); err != nil {
		t.Fatalf("CreatePasskey(%s): %v", p.ID, err)
	}
}

func getPasskey(t *testing.T, s auth.Store, credentialID []byte) *auth.Passkey {
	t.Helper()
	p, err := s.GetPasskeyByCredentialID(t.Context(), credentialID)
	if err != nil {
		t.Fatalf("GetPasskeyByCredentialID: %v", err)
	}
	return p
}

// samePasskey compares passkeys, with nil and empty byte slices alike.
func samePasskey(t *testing.T, what string, got, want *auth.Passkey) {
	t.Helper()
	g, w := *got, *want
	for _, f := range []struct{ g, w *[]byte }{{&g.Attestation, &w.Attestation}, {&g.AAGUID, &w.AAGUID}} {
		if !bytes.Equal(*f.g, *f.w) {
			t.Fatalf("%s: bytes %x, want %x", what, *f.g, *f.w)
		}
		*f.g, *f.w = nil, nil
	}
	if len(w.Transports) == 0 {
		w.Transports = []string{}
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func testPasskeyRoundTrip(t *testing.T, s auth.Store) {
	p := newPasskey("pk_1", "usr_1")
	if err := s.CreatePasskey(t.Context(), p, pev(auth.EventPasskeyRegistered, "usr_1", base)); err != nil {
		t.Fatal(err)
	}
	samePasskey(t, "get", getPasskey(t, s, p.CredentialID), p)
	list, err := s.ListPasskeys(t.Context(), "usr_1")
	if err != nil || len(list) != 1 {
		t.Fatalf("ListPasskeys: %v %v", list, err)
	}
	samePasskey(t, "list", list[0], p)
	if evs := allEvents(t, s); len(evs) != 1 || evs[0].Type != auth.EventPasskeyRegistered || evs[0].Target() != "usr_1" {
		t.Fatalf("events %+v", evs)
	}
	// Zero values read back as zero values.
	z := &auth.Passkey{ID: "pk_2", UserID: "usr_1", CredentialID: []byte{1}, PublicKey: []byte{2}, CreatedAt: base}
	mustPasskey(t, s, z)
	samePasskey(t, "zero", getPasskey(t, s, z.CredentialID), z)
	_, err = s.GetPasskeyByCredentialID(t.Context(), []byte{3})
	wantCode(t, "unknown credential", err, auth.ENOTFOUND)
	_, err = s.GetPasskeyByCredentialID(t.Context(), nil)
	wantCode(t, "no credential", err, auth.ENOTFOUND)
}

func testPasskeyDuplicate(t *testing.T, s auth.Store) {
	mustPasskey(t, s, newPasskey("pk_1", "usr_1"))
	sameID := newPasskey("pk_1", "usr_2")
	sameID.CredentialID = []byte("other")
	sameCred := newPasskey("pk_2", "usr_2")
	sameCred.CredentialID = newPasskey("pk_1", "").CredentialID
	for name, p := range map[string]*auth.Passkey{"same ID": sameID, "same credential ID": sameCred} {
		err := s.CreatePasskey(t.Context(), p, pev(auth.EventPasskeyRegistered, "usr_2", base))
		wantCode(t, name, err, auth.ECONFLICT)
	}
	if list, _ := s.ListPasskeys(t.Context(), "usr_2"); len(list) != 0 {
		t.Fatalf("usr_2 has %d passkeys", len(list))
	}
	wantNoEvents(t, s)
}

func testPasskeyInvalid(t *testing.T, s auth.Store) {
	bad := newPasskey("pk_1", "usr_1")
	bad.Name = "a\x00b"
	noKey := newPasskey("pk_2", "usr_1")
	noKey.PublicKey = nil
	for name, p := range map[string]*auth.Passkey{"NUL in name": bad, "no public key": noKey} {
		wantCode(t, name, s.CreatePasskey(t.Context(), p), auth.EINVALID)
	}
	mustPasskey(t, s, newPasskey("pk_3", "usr_1"))
	wantCode(t, "rename with NUL", s.RenamePasskey(t.Context(), "usr_1", "pk_3", "x\x00"), auth.EINVALID)
	wantCode(t, "rename with invalid UTF-8", s.RenamePasskey(t.Context(), "usr_1", "pk_3", "x\xff"), auth.EINVALID)
	if got := getPasskey(t, s, newPasskey("pk_3", "").CredentialID); got.Name != newPasskey("", "").Name {
		t.Fatalf("name changed to %q", got.Name)
	}
	wantNoEvents(t, s)
}

func testPasskeyList(t *testing.T, s auth.Store) {
	for i, id := range []string{"pk_3", "pk_1", "pk_2"} {
		p := newPasskey(id, "usr_1")
		p.CreatedAt = at(time.Duration(i) * time.Second)
		mustPasskey(t, s, p)
	}
	mustPasskey(t, s, newPasskey("pk_0", "usr_2"))
	list, err := s.ListPasskeys(t.Context(), "usr_1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ID)
	}
	if fmt.Sprint(ids) != "[pk_1 pk_2 pk_3]" {
		t.Fatalf("ids %v", ids)
	}
	if list, err := s.ListPasskeys(t.Context(), "usr_none"); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("unknown user: %#v %v", list, err)
	}
}

func testPasskeyRenameDelete(t *testing.T, s auth.Store) {
	p := newPasskey("pk_1", "usr_1")
	mustPasskey(t, s, p)
	// Another user cannot touch it, and an unknown ID is not found.
	wantCode(t, "rename by another user", s.RenamePasskey(t.Context(), "usr_2", "pk_1", "mine", pev(auth.EventPasskeyRenamed, "usr_2", base)), auth.ENOTFOUND)
	wantCode(t, "delete by another user", s.DeletePasskey(t.Context(), "usr_2", "pk_1", pev(auth.EventPasskeyRemoved, "usr_2", base)), auth.ENOTFOUND)
	wantCode(t, "delete unknown", s.DeletePasskey(t.Context(), "usr_1", "pk_9", pev(auth.EventPasskeyRemoved, "usr_1", base)), auth.ENOTFOUND)
	wantNoEvents(t, s)

	if err := s.RenamePasskey(t.Context(), "usr_1", "pk_1", "Phone", pev(auth.EventPasskeyRenamed, "usr_1", base)); err != nil {
		t.Fatal(err)
	}
	if got := getPasskey(t, s, p.CredentialID); got.Name != "Phone" {
		t.Fatalf("name %q", got.Name)
	}
	if err := s.DeletePasskey(t.Context(), "usr_1", "pk_1", pev(auth.EventPasskeyRemoved, "usr_1", base)); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetPasskeyByCredentialID(t.Context(), p.CredentialID)
	wantCode(t, "get after delete", err, auth.ENOTFOUND)
	wantCode(t, "delete twice", s.DeletePasskey(t.Context(), "usr_1", "pk_1"), auth.ENOTFOUND)
	evs := allEvents(t, s)
	if len(evs) != 2 || evs[0].Type != auth.EventPasskeyRenamed || evs[1].Type != auth.EventPasskeyRemoved {
		t.Fatalf("events %+v", evs)
	}
	// The credential ID is free again.
	mustPasskey(t, s, newPasskey("pk_1", "usr_1"))
}

func testPasskeyUse(t *testing.T, s auth.Store) {
	p := newPasskey("pk_1", "usr_1")
	p.SignCount, p.BackupState, p.UserVerified, p.LastUsedAt = 7, false, false, time.Time{}
	mustPasskey(t, s, p)
	use := auth.PasskeyUse{SignCount: 8, BackupState: true, UserVerified: true, At: at(time.Hour)}
	wantCode(t, "stale count", s.RecordPasskeyUse(t.Context(), "pk_1", 6, use, pev(auth.EventPasskeyFailed, "usr_1", base)), auth.ECONFLICT)
	wantCode(t, "unknown passkey", s.RecordPasskeyUse(t.Context(), "pk_9", 7, use), auth.ENOTFOUND)
	wantNoEvents(t, s)
	if err := s.RecordPasskeyUse(t.Context(), "pk_1", 7, use); err != nil {
		t.Fatal(err)
	}
	want := *p
	want.SignCount, want.BackupState, want.UserVerified, want.LastUsedAt = 8, true, true, at(time.Hour)
	samePasskey(t, "after use", getPasskey(t, s, p.CredentialID), &want)
	// The same count again is refused: it was recorded.
	wantCode(t, "the same count twice", s.RecordPasskeyUse(t.Context(), "pk_1", 7, use), auth.ECONFLICT)
	// A clone warning is recorded with its event.
	warn := auth.PasskeyUse{SignCount: 8, CloneWarning: true, At: at(2 * time.Hour)}
	if err := s.RecordPasskeyUse(t.Context(), "pk_1", 8, warn, pev(auth.EventPasskeyFailed, "usr_1", base)); err != nil {
		t.Fatal(err)
	}
	if got := getPasskey(t, s, p.CredentialID); !got.CloneWarning || got.SignCount != 8 {
		t.Fatalf("after warning %+v", got)
	}
	if evs := allEvents(t, s); len(evs) != 1 || evs[0].Type != auth.EventPasskeyFailed {
		t.Fatalf("events %+v", evs)
	}
}

func testPasskeyUseConcurrent(t *testing.T, s auth.Store) {
	p := newPasskey("pk_1", "usr_1")
	p.SignCount = 1
	mustPasskey(t, s, p)
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.RecordPasskeyUse(t.Context(), "pk_1", 1, auth.PasskeyUse{SignCount: uint32(2 + i), At: base})
			mu.Lock()
			defer mu.Unlock()
			switch auth.ErrorCode(err) {
			case "":
				wins++
			case auth.ECONFLICT:
			default:
				t.Errorf("RecordPasskeyUse: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d uses recorded, want 1", wins)
	}
}

func newCeremony(label string, expires time.Time) *auth.PasskeyCeremony {
	return &auth.PasskeyCeremony{Hash: hashOf("ceremony:" + label), Kind: auth.CeremonyLogin, UserID: "usr_1",
		Data: []byte(`{"challenge":"` + label + `"}`), CreatedAt: base, ExpiresAt: expires}
}

func testCeremonyOnce(t *testing.T, s auth.Store) {
	c := newCeremony("a", at(5*time.Minute))
	c.Kind, c.UserID = auth.CeremonyRegistration, ""
	if err := s.CreatePasskeyCeremony(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	got, err := s.ConsumePasskeyCeremony(t.Context(), c.Hash, at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v\nwant %+v", got, c)
	}
	_, err = s.ConsumePasskeyCeremony(t.Context(), c.Hash, at(time.Minute))
	wantCode(t, "second consume", err, auth.ENOTFOUND)
	_, err = s.ConsumePasskeyCeremony(t.Context(), hashOf("unknown"), base)
	wantCode(t, "unknown", err, auth.ENOTFOUND)
	_, err = s.ConsumePasskeyCeremony(t.Context(), nil, base)
	wantCode(t, "no hash", err, auth.ENOTFOUND)
}

func testCeremonyExpiry(t *testing.T, s auth.Store) {
	old := newCeremony("old", at(time.Minute))
	if err := s.CreatePasskeyCeremony(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	_, err := s.ConsumePasskeyCeremony(t.Context(), old.Hash, at(time.Minute))
	wantCode(t, "consume at expiry", err, auth.ENOTFOUND)
	// An expired ceremony is forgotten when a later one is made: consuming
	// it before its expiry (a clock going back) finds nothing.
	stale := newCeremony("stale", at(time.Minute))
	if err := s.CreatePasskeyCeremony(t.Context(), stale); err != nil {
		t.Fatal(err)
	}
	fresh := newCeremony("fresh", at(time.Hour))
	fresh.CreatedAt = at(2 * time.Minute)
	if err := s.CreatePasskeyCeremony(t.Context(), fresh); err != nil {
		t.Fatal(err)
	}
	_, err = s.ConsumePasskeyCeremony(t.Context(), stale.Hash, base)
	wantCode(t, "consume a forgotten ceremony", err, auth.ENOTFOUND)
	if _, err := s.ConsumePasskeyCeremony(t.Context(), fresh.Hash, at(3*time.Minute)); err != nil {
		t.Fatalf("fresh: %v", err)
	}
}

func testCeremonyConcurrent(t *testing.T, s auth.Store) {
	c := newCeremony("race", at(time.Hour))
	if err := s.CreatePasskeyCeremony(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ConsumePasskeyCeremony(t.Context(), c.Hash, base)
			mu.Lock()
			defer mu.Unlock()
			switch auth.ErrorCode(err) {
			case "":
				wins++
			case auth.ENOTFOUND:
			default:
				t.Errorf("ConsumePasskeyCeremony: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d consumers got the ceremony, want 1", wins)
	}
}

func testCeremonyInvalid(t *testing.T, s auth.Store) {
	c := newCeremony("dup", at(time.Hour))
	if err := s.CreatePasskeyCeremony(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "duplicate", s.CreatePasskeyCeremony(t.Context(), newCeremony("dup", at(time.Hour))), auth.ECONFLICT)
	noData := newCeremony("nodata", at(time.Hour))
	noData.Data = nil
	badKind := newCeremony("kind", at(time.Hour))
	badKind.Kind = "other"
	noExpiry := newCeremony("noexp", time.Time{})
	for name, c := range map[string]*auth.PasskeyCeremony{"no data": noData, "unknown kind": badKind, "no expiry": noExpiry} {
		wantCode(t, name, s.CreatePasskeyCeremony(t.Context(), c), auth.EINVALID)
	}
}
