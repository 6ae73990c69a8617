package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// RunRegistration runs the contract suite of auth.RegistrationStore: the
// initial access tokens of dynamic client registration. open is as for
// Run.
func RunRegistration(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"initial token: create then get by hash and list return every field unchanged", testInitialTokenRoundTrip},
		{"initial token: duplicate ID or hash is a conflict and writes nothing", testInitialTokenDuplicate},
		{"initial token: list pages in ascending ID order", testInitialTokenList},
		{"initial token: revoke once appends its event; again changes nothing; unknown is not found", testInitialTokenRevoke},
		{"register: takes one use, inserts the client and appends the events", testRegisterClient},
		{"register: an unknown, used-up, expired or revoked token writes nothing", testRegisterRefused},
		{"register: a client ID that exists is a conflict and takes no use", testRegisterDuplicateClient},
		{"register: of concurrent registrations for the last use exactly one wins", testRegisterConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

func newInitialToken(id string, uses int) *auth.InitialAccessToken {
	return &auth.InitialAccessToken{
		ID: id, Hash: hashOf("iat:" + id), Hint: "AbCd", CreatedBy: "key_admin",
		Uses: uses, CreatedAt: base, ExpiresAt: at(time.Hour),
	}
}

func mustInitialToken(t *testing.T, s auth.Store, tok *auth.InitialAccessToken) {
	t.Helper()
	if err := s.CreateInitialAccessToken(t.Context(), tok, oev(auth.EventRegistrationTokenCreated, tok.CreatedAt)); err != nil {
		t.Fatalf("CreateInitialAccessToken(%s): %v", tok.ID, err)
	}
}

func getInitialToken(t *testing.T, s auth.Store, hash []byte) *auth.InitialAccessToken {
	t.Helper()
	got, err := s.GetInitialAccessToken(t.Context(), hash)
	if err != nil {
		t.Fatalf("GetInitialAccessToken: %v", err)
	}
	return got
}

func testInitialTokenRoundTrip(t *testing.T, s auth.Store) {
	tokyo := time.FixedZone("JST", 9*3600)
	tok := &auth.InitialAccessToken{
		ID: "iat_01'; DROP TABLE initial_access_tokens; --", Hash: append([]byte{0, 0xff}, hashOf("full")[2:]...),
		Hint: "Zz9_", CreatedBy: `key_管理 "x"`, Uses: 1 << 20, Used: 3,
		CreatedAt: base.In(tokyo), ExpiresAt: at(24*time.Hour + time.Microsecond),
		LastUsedAt: at(time.Minute), RevokedAt: at(2 * time.Minute),
	}
	mustInitialToken(t, s, tok)
	want := *tok
	want.CreatedAt = base
	wantSame(t, "GetInitialAccessToken", &want, getInitialToken(t, s, tok.Hash))
	list, next, err := s.ListInitialAccessTokens(t.Context(), auth.InitialAccessTokenFilter{})
	if err != nil || next != "" || len(list) != 1 {
		t.Fatalf("ListInitialAccessTokens = %d tokens, %q, %v; want 1", len(list), next, err)
	}
	wantSame(t, "ListInitialAccessTokens", &want, list[0])

	bare := newInitialToken("iat_2", 1)
	mustInitialToken(t, s, bare)
	got := getInitialToken(t, s, bare.Hash)
	wantZeroTimes(t, "bare token", got, "CreatedAt", "ExpiresAt")
	wantCode(t, "GetInitialAccessToken(unknown)", func() error { _, err := s.GetInitialAccessToken(t.Context(), hashOf("nope")); return err }(), auth.ENOTFOUND)
	wantCode(t, "GetInitialAccessToken(nil)", func() error { _, err := s.GetInitialAccessToken(t.Context(), nil); return err }(), auth.ENOTFOUND)
	if evs := allEvents(t, s); len(evs) != 2 || evs[0].Type != auth.EventRegistrationTokenCreated {
		t.Fatalf("events = %+v, want two %s", evs, auth.EventRegistrationTokenCreated)
	}
}

func testInitialTokenDuplicate(t *testing.T, s auth.Store) {
	mustInitialToken(t, s, newInitialToken("iat_1", 1))
	sameID := newInitialToken("iat_1", 1)
	sameID.Hash = hashOf("other")
	wantCode(t, "same ID", s.CreateInitialAccessToken(t.Context(), sameID, oev(auth.EventRegistrationTokenCreated, base)), auth.ECONFLICT)
	sameHash := newInitialToken("iat_2", 1)
	sameHash.Hash = hashOf("iat:iat_1")
	wantCode(t, "same hash", s.CreateInitialAccessToken(t.Context(), sameHash, oev(auth.EventRegistrationTokenCreated, base)), auth.ECONFLICT)
	for name, bad := range map[string]*auth.InitialAccessToken{
		"no uses":   {ID: "iat_3", Hash: hashOf("3"), ExpiresAt: at(time.Hour)},
		"no expiry": {ID: "iat_4", Hash: hashOf("4"), Uses: 1},
		"NUL":       {ID: "iat_5", Hash: hashOf("5"), Uses: 1, ExpiresAt: at(time.Hour), CreatedBy: "a\x00b"},
	} {
		wantCode(t, name, s.CreateInitialAccessToken(t.Context(), bad), auth.EINVALID)
	}
	if evs := allEvents(t, s); len(evs) != 1 {
		t.Fatalf("%d events, want only the first creation's", len(evs))
	}
}

func testInitialTokenList(t *testing.T, s auth.Store) {
	for i := 5; i >= 1; i-- {
		mustInitialToken(t, s, newInitialToken(fmt.Sprintf("iat_%d", i), 1))
	}
	var ids []string
	after := ""
	for {
		page, next, err := s.ListInitialAccessTokens(t.Context(), auth.InitialAccessTokenFilter{After: after, Limit: 2})
		if err != nil {
			t.Fatalf("ListInitialAccessTokens: %v", err)
		}
		for _, tok := range page {
			ids = append(ids, tok.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if fmt.Sprint(ids) != "[iat_1 iat_2 iat_3 iat_4 iat_5]" {
		t.Fatalf("paged IDs = %v", ids)
	}
}

func testInitialTokenRevoke(t *testing.T, s auth.Store) {
	tok := newInitialToken("iat_1", 2)
	mustInitialToken(t, s, tok)
	got, err := s.RevokeInitialAccessToken(t.Context(), tok.ID, at(time.Minute), oev(auth.EventRegistrationTokenRevoked, at(time.Minute)))
	if err != nil || !got.RevokedAt.Equal(at(time.Minute)) {
		t.Fatalf("RevokeInitialAccessToken = %+v, %v", got, err)
	}
	again, err := s.RevokeInitialAccessToken(t.Context(), tok.ID, at(2*time.Minute), oev(auth.EventRegistrationTokenRevoked, at(2*time.Minute)))
	if err != nil || !again.RevokedAt.Equal(at(time.Minute)) {
		t.Fatalf("second revoke = %+v, %v; want the first revocation kept", again, err)
	}
	if !getInitialToken(t, s, tok.Hash).RevokedAt.Equal(at(time.Minute)) {
		t.Fatal("stored RevokedAt is not the first revocation's")
	}
	_, err = s.RevokeInitialAccessToken(t.Context(), "iat_nope", at(time.Minute))
	wantCode(t, "revoke unknown", err, auth.ENOTFOUND)
	if evs := allEvents(t, s); len(evs) != 2 || evs[1].Type != auth.EventRegistrationTokenRevoked {
		t.Fatalf("events = %+v, want created then one revoked", evs)
	}
}

func registered(id string) *auth.Client {
	c := newClient(id)
	c.RegistrationTokenHash = hashOf("rat:" + id)
	c.Metadata = []byte(`{"client_uri":"https://app.example"}`)
	return c
}

func testRegisterClient(t *testing.T, s auth.Store) {
	tok := newInitialToken("iat_1", 2)
	mustInitialToken(t, s, tok)
	c := registered("cli_1")
	if err := s.RegisterClient(t.Context(), c, tok.Hash, at(time.Minute), oev(auth.EventClientCreated, at(time.Minute))); err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	got, err := s.GetClient(t.Context(), c.ID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	wantSame(t, "registered client", c, got)
	after := getInitialToken(t, s, tok.Hash)
	if after.Used != 1 || !after.LastUsedAt.Equal(at(time.Minute)) {
		t.Fatalf("token after one registration: used %d at %v", after.Used, after.LastUsedAt)
	}
	evs := allEvents(t, s)
	if len(evs) != 2 || evs[1].Type != auth.EventClientCreated {
		t.Fatalf("events = %+v, want the token's creation then client.created", evs)
	}
}

func testRegisterRefused(t *testing.T, s auth.Store) {
	usedUp := newInitialToken("iat_used", 1)
	usedUp.Used = 1
	revoked := newInitialToken("iat_revoked", 5)
	revoked.RevokedAt = base
	expired := newInitialToken("iat_expired", 5)
	for _, tok := range []*auth.InitialAccessToken{usedUp, revoked, expired} {
		mustInitialToken(t, s, tok)
	}
	before := len(allEvents(t, s))
	for _, tc := range []struct {
		name string
		hash []byte
		at   time.Time
		code string
	}{
		{"unknown", hashOf("nope"), at(time.Minute), auth.ENOTFOUND},
		{"none", nil, at(time.Minute), auth.ENOTFOUND},
		{"used up", usedUp.Hash, at(time.Minute), auth.EUNAUTHORIZED},
		{"revoked", revoked.Hash, at(time.Minute), auth.EUNAUTHORIZED},
		{"expired (at its expiry)", expired.Hash, expired.ExpiresAt, auth.EUNAUTHORIZED},
	} {
		err := s.RegisterClient(t.Context(), registered("cli_"+tc.name[:4]), tc.hash, tc.at, oev(auth.EventClientCreated, tc.at))
		wantCode(t, "RegisterClient("+tc.name+")", err, tc.code)
	}
	list, _, err := s.ListClients(t.Context(), auth.ClientFilter{})
	if err != nil || len(list) != 0 {
		t.Fatalf("clients after refused registrations: %d, %v", len(list), err)
	}
	if n := len(allEvents(t, s)); n != before {
		t.Fatalf("refused registrations appended %d events", n-before)
	}
	for _, tok := range []*auth.InitialAccessToken{usedUp, revoked, expired} {
		if got := getInitialToken(t, s, tok.Hash); got.Used != tok.Used || !got.LastUsedAt.IsZero() {
			t.Fatalf("%s: used %d, last used %v after refusals", tok.ID, got.Used, got.LastUsedAt)
		}
	}
}

func testRegisterDuplicateClient(t *testing.T, s auth.Store) {
	tok := newInitialToken("iat_1", 2)
	mustInitialToken(t, s, tok)
	if err := s.CreateClient(t.Context(), newClient("cli_1"), oev(auth.EventClientCreated, base)); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	err := s.RegisterClient(t.Context(), registered("cli_1"), tok.Hash, at(time.Minute), oev(auth.EventClientCreated, at(time.Minute)))
	wantCode(t, "RegisterClient(existing ID)", err, auth.ECONFLICT)
	if got := getInitialToken(t, s, tok.Hash); got.Used != 0 {
		t.Fatalf("a failed registration took a use: used %d", got.Used)
	}
}

func testRegisterConcurrent(t *testing.T, s auth.Store) {
	tok := newInitialToken("iat_1", 3)
	tok.Used = 2 // one use left
	mustInitialToken(t, s, tok)
	const n = 8
	errs := parallel(n, func(i int) error {
		return s.RegisterClient(t.Context(), registered(fmt.Sprintf("cli_%d", i)), tok.Hash, at(time.Minute), oev(auth.EventClientCreated, at(time.Minute)))
	})
	wins := 0
	for _, err := range errs {
		switch auth.ErrorCode(err) {
		case "":
			wins++
		case auth.EUNAUTHORIZED:
		default:
			t.Errorf("concurrent RegisterClient: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent registrations won the last use, want exactly 1", wins, n)
	}
	if got := getInitialToken(t, s, tok.Hash); got.Used != 3 {
		t.Fatalf("token used %d times, want 3", got.Used)
	}
	list, _, err := s.ListClients(t.Context(), auth.ClientFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("%d clients registered (%v), want 1", len(list), err)
	}
}
