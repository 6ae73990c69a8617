package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// RunOAuth runs the contract suite of auth.OAuthStore. open is as for Run:
// a fresh, empty store per test, closed in t.Cleanup, safe to call
// concurrently.
func RunOAuth(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"client: create then get and list return every field unchanged", testClientRoundTrip},
		{"client: nil and empty lists read back empty, nil bytes nil, zero times zero", testClientZeroValues},
		{"client: duplicate ID is a conflict and writes nothing", testClientDuplicate},
		{"client: update replaces every field and appends its events", testClientUpdate},
		{"client: unknown ID is not found and writes nothing", testClientNotFound},
		{"client: list pages in ascending ID order", testClientList},
		{"client: text the database cannot keep is invalid and writes nothing", testClientInvalidText},
		{"client: delete removes codes, tokens and consents and revokes issued tokens", testClientDelete},
		{"client: delete revokes the families of its codes, so a redemption in flight adds no token", testClientDeleteRevokesCodeFamilies},

		{"user: create then get by ID, by username and list return every field", testUserRoundTrip},
		{"user: usernames are found and unique case-insensitively", testUserUsernameCase},
		{"user: duplicate ID is a conflict and writes nothing", testUserDuplicateID},
		{"user: update replaces every field; a taken username is a conflict", testUserUpdate},
		{"user: list pages in ascending ID order", testUserList},
		{"user: missing fields and bad text are invalid", testUserInvalid},

		{"signing key: create then list returns every field, oldest first", testSigningKeyRoundTrip},
		{"signing key: duplicate ID is a conflict and writes nothing", testSigningKeyDuplicate},
		{"signing key: retire once, then a conflict; unknown is not found", testSigningKeyRetire},
		{"signing key: delete expired removes only retired keys past expiry", testSigningKeyDeleteExpired},

		{"code: consume returns the code as stored and marks it used", testCodeRoundTrip},
		{"code: a second consume returns the code and a conflict", testCodeReuse},
		{"code: duplicate hash is a conflict; unknown is not found", testCodeDuplicateAndUnknown},
		{"code: of concurrent consumers exactly one wins", testCodeConcurrent},

		{"refresh: create then get returns every field unchanged", testRefreshRoundTrip},
		{"refresh: duplicate hash or jti is a conflict and writes nothing", testRefreshDuplicate},
		{"refresh: rotating an unused token marks it, inserts next, records issued", testRotateUnused},
		{"refresh: a used token rotates once more within the grace window, never twice", testRotateUsed},
		{"refresh: of concurrent retries within the grace window exactly one wins", testRotateRetryConcurrent},
		{"refresh: a revoked or expired token is a conflict and changes nothing", testRotateDead},
		{"refresh: rotation rolls back when next collides; unknown is not found", testRotateRollbackAndUnknown},
		{"refresh: of concurrent rotations without grace exactly one wins", testRotateConcurrent},
		{"refresh: issued tokens without a refresh token are recorded with their family", testRecordIssued},

		{"family: revoke marks tokens, lists unexpired jtis, and is idempotent", testRevokeFamily},
		{"revocation list: revoke, check and list since a time until expiry", testRevocationList},
		{"jti: a used jti is a conflict until it expires", testUseJTI},
		{"jti: of concurrent uses exactly one wins", testUseJTIConcurrent},

		{"consent: save, replace, get and list", testConsentRoundTrip},
		{"consent: delete revokes the families of that user and client", testConsentDelete},
		{"consent: delete revokes the families of that user's codes at that client", testConsentDeleteRevokesCodeFamilies},

		{"session: create, get until expiry, delete; the user agent and address round-trip", testSessionRoundTrip},
		{"session: delete user sessions removes only that user's", testDeleteUserSessions},

		{"purge removes what is dead before the cutoff and keeps the rest", testPurgeExpired},
		{"purge keeps spent refresh tokens and used codes while their family lives", testPurgeKeepsWhatReuseDetectionNeeds},
		{"events are refused with bad text and nothing is written", testOAuthInvalidEvents},
		{"a cancelled context returns an error and writes nothing", testOAuthCancelledContext},
	}
	tests = append(tests, pushedTests...)
	tests = append(tests, logoutTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// --- comparison ------------------------------------------------------------

// diff lists the fields in which got differs from want, for records of the
// auth package: times are compared as instants, string lists treat nil and
// empty alike (backends return empty), and byte slices must match exactly,
// nil included.
func diff(want, got any) []string {
	var d []string
	var walk func(path string, w, g reflect.Value)
	walk = func(path string, w, g reflect.Value) {
		switch {
		case w.Type() == reflect.TypeFor[time.Time]():
			wt, gt := w.Interface().(time.Time), g.Interface().(time.Time)
			if !wt.Equal(gt) {
				d = append(d, fmt.Sprintf("%s: got %v, want %v", path, gt, wt))
			}
		case w.Kind() == reflect.Pointer:
			if w.IsNil() != g.IsNil() {
				d = append(d, fmt.Sprintf("%s: got nil=%v, want nil=%v", path, g.IsNil(), w.IsNil()))
				return
			}
			if !w.IsNil() {
				walk(path, w.Elem(), g.Elem())
			}
		case w.Kind() == reflect.Struct:
			for i := range w.NumField() {
				walk(path+"."+w.Type().Field(i).Name, w.Field(i), g.Field(i))
			}
		case w.Type() == reflect.TypeFor[[]byte]():
			wb, gb := w.Bytes(), g.Bytes()
			if (wb == nil) != (gb == nil) || !slices.Equal(wb, gb) {
				d = append(d, fmt.Sprintf("%s: got %#v, want %#v", path, gb, wb))
			}
		case w.Type() == reflect.TypeFor[[]string]():
			ws, gs := w.Interface().([]string), g.Interface().([]string)
			if !slices.Equal(ws, gs) {
				d = append(d, fmt.Sprintf("%s: got %q, want %q", path, gs, ws))
			}
			if gs == nil {
				d = append(d, fmt.Sprintf("%s: got nil, want a non-nil list", path))
			}
		case w.Kind() == reflect.Slice:
			if w.Len() != g.Len() {
				d = append(d, fmt.Sprintf("%s: got %d elements, want %d", path, g.Len(), w.Len()))
				return
			}
			for i := range w.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), w.Index(i), g.Index(i))
			}
		default:
			if !reflect.DeepEqual(w.Interface(), g.Interface()) {
				d = append(d, fmt.Sprintf("%s: got %#v, want %#v", path, g.Interface(), w.Interface()))
			}
		}
	}
	walk("", reflect.ValueOf(want), reflect.ValueOf(got))
	return d
}

func wantSame(t *testing.T, what string, want, got any) {
	t.Helper()
	if reflect.ValueOf(got).Kind() == reflect.Pointer && reflect.ValueOf(got).IsNil() {
		t.Fatalf("%s: got nil", what)
	}
	if d := diff(want, got); len(d) > 0 {
		t.Fatalf("%s differs:\n%v", what, d)
	}
}

// wantZeroTimes fails unless every time in v is zero, but for the deadlines
// named as required, which no record may be stored without.
func wantZeroTimes(t *testing.T, what string, v any, required ...string) {
	t.Helper()
	r := reflect.Indirect(reflect.ValueOf(v))
	for i := range r.NumField() {
		if slices.Contains(required, r.Type().Field(i).Name) {
			continue // a deadline the record must have
		}
		if tm, ok := r.Field(i).Interface().(time.Time); ok && !tm.IsZero() {
			t.Errorf("%s: %s = %v, want zero", what, r.Type().Field(i).Name, tm)
		}
	}
}

func oev(typ string, tm time.Time) auth.AuditEvent {
	return auth.AuditEvent{Time: tm, Type: typ, Actor: "key_admin", Count: 1}
}

// --- fixtures --------------------------------------------------------------

func newClient(id string) *auth.Client {
	return &auth.Client{
		ID:           id,
		Name:         "client " + id,
		AuthMethod:   auth.AuthMethodSecretBasic,
		SecretHash:   hashOf("secret:" + id),
		SecretHint:   "wxyz",
		RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes:   []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken},
		Scopes:       []string{"openid", "profile"},
		Audiences:    []string{"https://api.example"},
		CreatedAt:    base,
		UpdatedAt:    base,
	}
}

func newUser(id, username string) *auth.User {
	return &auth.User{
		ID:                id,
		Username:          username,
		PasswordHash:      "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Email:             username + "@example.com",
		Name:              "User " + username,
		Role:              auth.RoleDeveloper,
		CreatedAt:         base,
		UpdatedAt:         base,
		PasswordChangedAt: base,
	}
}

func newCode(label, clientID, userID, family string) *auth.AuthCode {
	return &auth.AuthCode{
		Hash:          hashOf("code:" + label),
		ClientID:      clientID,
		UserID:        userID,
		RedirectURI:   "https://app.example/cb",
		Scopes:        []string{"openid"},
		Audiences:     []string{"https://api.example"},
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Nonce:         "n-0S6_WzA2Mj",
		AuthTime:      base,
		SessionID:     "ses_1",
		FamilyID:      family,
		CreatedAt:     base,
		ExpiresAt:     at(time.Minute),
	}
}

func newRefresh(label, family, clientID, userID string) *auth.RefreshToken {
	return &auth.RefreshToken{
		Hash:            hashOf("refresh:" + label),
		FamilyID:        family,
		ClientID:        clientID,
		UserID:          userID,
		Scopes:          []string{"offline_access", "openid"},
		Audiences:       []string{"https://api.example"},
		AuthTime:        base,
		SessionID:       "ses_1",
		CreatedAt:       base,
		ExpiresAt:       at(24 * time.Hour),
		FamilyExpiresAt: at(30 * 24 * time.Hour),
	}
}

func issued(jti, family string, exp time.Time) *auth.IssuedToken {
	return &auth.IssuedToken{JTI: jti, FamilyID: family, ExpiresAt: exp}
}

func mustClient(t *testing.T, s auth.Store, cs ...*auth.Client) {
	t.Helper()
	for _, c := range cs {
		if err := s.CreateClient(t.Context(), c); err != nil {
			t.Fatalf("CreateClient(%s): %v", c.ID, err)
		}
	}
}

func mustUser(t *testing.T, s auth.Store, us ...*auth.User) {
	t.Helper()
	for _, u := range us {
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatalf("CreateUser(%s): %v", u.ID, err)
		}
	}
}

func mustCode(t *testing.T, s auth.Store, c *auth.AuthCode) {
	t.Helper()
	if err := s.CreateAuthCode(t.Context(), c); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
}

func mustRefresh(t *testing.T, s auth.Store, rt *auth.RefreshToken, it *auth.IssuedToken) {
	t.Helper()
	if err := s.CreateRefreshToken(t.Context(), rt, it); err != nil {
		t.Fatalf("CreateRefreshToken: %v", err)
	}
}

func getRefresh(t *testing.T, s auth.Store, hash []byte) *auth.RefreshToken {
	t.Helper()
	rt, err := s.GetRefreshToken(t.Context(), hash)
	if err != nil {
		t.Fatalf("GetRefreshToken: %v", err)
	}
	return rt
}

func wantRefreshGone(t *testing.T, s auth.Store, hash []byte) {
	t.Helper()
	_, err := s.GetRefreshToken(t.Context(), hash)
	wantCode(t, "GetRefreshToken", err, auth.ENOTFOUND)
}

func wantRevoked(t *testing.T, s auth.Store, jti string, want bool) {
	t.Helper()
	got, err := s.IsTokenRevoked(t.Context(), jti)
	if err != nil || got != want {
		t.Fatalf("IsTokenRevoked(%s) = %v, %v; want %v", jti, got, err, want)
	}
}

// listedJTIs returns the jtis on the revocation list that have not expired
// at now.
func listedJTIs(t *testing.T, s auth.Store, now time.Time) []string {
	t.Helper()
	list, err := s.ListRevokedTokens(t.Context(), time.Time{}, now)
	if err != nil {
		t.Fatalf("ListRevokedTokens: %v", err)
	}
	jtis := make([]string, 0, len(list))
	for _, r := range list {
		jtis = append(jtis, r.JTI)
	}
	slices.Sort(jtis)
	return jtis
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// parallel runs fn n times at once and returns the errors.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// --- clients ---------------------------------------------------------------

func testClientRoundTrip(t *testing.T, s auth.Store) {
	tokyo := time.FixedZone("JST", 9*3600)
	c := &auth.Client{
		ID:                     "cli_01'; DROP TABLE oauth_clients; --",
		Name:                   `アプリ 😀 "quoted" \ %_`,
		Owner:                  `billing 請求 'x' %_`,
		Public:                 false,
		AuthMethod:             auth.AuthMethodPrivateKeyJWT,
		SecretHash:             append([]byte{0, 0xff, 0x27}, hashOf("full")[3:]...),
		SecretHint:             "Zz9_",
		JWKS:                   []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"}]}`),
		RedirectURIs:           []string{"https://app.example/cb", "http://127.0.0.1/cb", "com.example.app:/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example/bye"},
		GrantTypes:             []string{auth.GrantAuthorizationCode, auth.GrantClientCredentials, auth.GrantRefreshToken},
		Scopes:                 []string{"openid", "ユーザー:read"},
		Audiences:              []string{"https://b.example", "https://a.example"}, // the first is the default: order kept
		AccessTokenTTL:         15*time.Minute + time.Nanosecond,
		RefreshTokenTTL:        24 * time.Hour,
		RefreshTokenMaxTTL:     90 * 24 * time.Hour,
		RequireDPoP:            true,
		RequirePAR:             true,
		BackchannelLogoutURI:   "https://app.example/logout?x='1'",
		ApplicationType:        auth.ApplicationNative,
		ExchangeIssuers:        []string{"https://idp.example", "https://a.example"},
		AllowImpersonation:     true,
		MFA:                    auth.MFARequired,
		RegistrationTokenHash:  hashOf("registration"),
		Metadata:               []byte(`{"client_uri":"https://app.example","contacts":["ops@app.example"]}`),
		CreatedAt:              base,
		UpdatedAt:              time.Date(2031, 1, 2, 3, 4, 5, 999999000, tokyo),
		SecretRotatedAt:        at(time.Hour + 7*time.Microsecond).In(tokyo),
	}
	ev := oev(auth.EventClientCreated, base)
	ev.Details = map[string]string{"client_id": c.ID}
	if err := s.CreateClient(t.Context(), c, ev); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	got, err := s.GetClient(t.Context(), c.ID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	wantSame(t, "GetClient", c, got)
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}
	list, next, err := s.ListClients(t.Context(), auth.ClientFilter{})
	if err != nil || len(list) != 1 || next != "" {
		t.Fatalf("ListClients = %d clients, next %q, %v; want 1 and no next page", len(list), next, err)
	}
	wantSame(t, "ListClients", c, list[0])
	wantEvents(t, s, ev)

	// A public client: no secret, no keys.
	pub := &auth.Client{ID: "cli_pub", Name: "spa", Public: true, AuthMethod: auth.AuthMethodNone,
		RedirectURIs: []string{"https://spa.example/cb"}, CreatedAt: base}
	mustClient(t, s, pub)
	got, err = s.GetClient(t.Context(), pub.ID)
	if err != nil {
		t.Fatalf("GetClient(public): %v", err)
	}
	wantSame(t, "public client", pub, got)
}

func testClientZeroValues(t *testing.T, s auth.Store) {
	for _, c := range []*auth.Client{
		{ID: "cli_nil"},
		{ID: "cli_empty", RedirectURIs: []string{}, PostLogoutRedirectURIs: []string{}, GrantTypes: []string{},
			Scopes: []string{}, Audiences: []string{}},
	} {
		mustClient(t, s, c)
		got, err := s.GetClient(t.Context(), c.ID)
		if err != nil {
			t.Fatalf("GetClient(%s): %v", c.ID, err)
		}
		wantSame(t, c.ID, c, got) // lists come back empty and non-nil
		if got.SecretHash != nil || got.JWKS != nil {
			t.Errorf("%s: SecretHash %#v, JWKS %#v; want nil", c.ID, got.SecretHash, got.JWKS)
		}
		wantZeroTimes(t, c.ID, got)
	}
}

func testClientDuplicate(t *testing.T, s auth.Store) {
	orig := newClient("cli_1")
	mustClient(t, s, orig)
	dup := newClient("cli_1")
	dup.Name = "duplicate"
	err := s.CreateClient(t.Context(), dup, oev(auth.EventClientCreated, base))
	wantCode(t, "CreateClient(duplicate)", err, auth.ECONFLICT)
	got, err := s.GetClient(t.Context(), orig.ID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	wantSame(t, "original client", orig, got)
	wantNoEvents(t, s)
}

func testClientUpdate(t *testing.T, s auth.Store) {
	c := newClient("cli_1")
	mustClient(t, s, c)
	up := &auth.Client{
		ID:                     c.ID,
		Name:                   "renamed",
		Public:                 true,
		AuthMethod:             auth.AuthMethodNone,
		RedirectURIs:           []string{"https://new.example/cb"},
		PostLogoutRedirectURIs: []string{"https://new.example/bye"},
		GrantTypes:             []string{auth.GrantAuthorizationCode},
		Scopes:                 []string{"email"},
		AccessTokenTTL:         time.Minute,
		RefreshTokenTTL:        time.Hour,
		RefreshTokenMaxTTL:     2 * time.Hour,
		CreatedAt:              c.CreatedAt,
		UpdatedAt:              at(time.Hour),
		SecretRotatedAt:        at(time.Hour),
		Owner:                  "shipping",
		// SecretHash, SecretHint, JWKS and Audiences cleared: replaced too.
	}
	ev := oev(auth.EventClientUpdated, at(time.Hour))
	if err := s.UpdateClient(t.Context(), up, c.UpdatedAt, ev); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	got, err := s.GetClient(t.Context(), c.ID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	wantSame(t, "updated client", up, got)

	// A write based on the read from before that update (a secret rotation
	// racing a settings change, say) is refused and changes nothing.
	stale := newClient(c.ID)
	stale.Name = "stale"
	stale.UpdatedAt = at(2 * time.Hour)
	err = s.UpdateClient(t.Context(), stale, c.UpdatedAt, oev(auth.EventClientUpdated, at(2*time.Hour)))
	wantCode(t, "UpdateClient(stale read)", err, auth.ECONFLICT)
	if got, _ := s.GetClient(t.Context(), c.ID); got == nil || got.Name != "renamed" {
		t.Errorf("a stale update was written: %+v", got)
	}
	wantEvents(t, s, ev)
}

func testClientNotFound(t *testing.T, s auth.Store) {
	ctx := t.Context()
	_, err := s.GetClient(ctx, "cli_missing")
	wantCode(t, "GetClient", err, auth.ENOTFOUND)
	err = s.UpdateClient(ctx, newClient("cli_missing"), base, oev(auth.EventClientUpdated, base))
	wantCode(t, "UpdateClient", err, auth.ENOTFOUND)
	err = s.DeleteClient(ctx, "cli_missing", base, oev(auth.EventClientDeleted, base))
	wantCode(t, "DeleteClient", err, auth.ENOTFOUND)
	mustClient(t, s, newClient("cli_1"))
	err = s.DeleteClient(ctx, "cli_1", time.Time{}, oev(auth.EventClientDeleted, base))
	wantCode(t, "DeleteClient(zero time)", err, auth.EINVALID)
	if _, err := s.GetClient(ctx, "cli_1"); err != nil {
		t.Fatalf("GetClient after a refused delete: %v", err)
	}
	if _, err := s.GetClient(ctx, "cli_missing"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("UpdateClient of an unknown client created it: %v", err)
	}
	wantNoEvents(t, s)
}

func testClientList(t *testing.T, s auth.Store) {
	// Bytewise order: upper case before lower case, and "cli_10" before "cli_2".
	ids := []string{"cli_2", "cli_10", "cli_B", "cli_a", "cli_1"}
	for _, id := range ids {
		mustClient(t, s, newClient(id))
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	var got []string
	f := auth.ClientFilter{Limit: 2}
	pages := 0
	for {
		page, next, err := s.ListClients(t.Context(), f)
		if err != nil {
			t.Fatalf("ListClients(%+v): %v", f, err)
		}
		pages++
		if len(page) > 2 {
			t.Fatalf("page of %d clients, want at most 2", len(page))
		}
		for _, c := range page {
			got = append(got, c.ID)
		}
		if next == "" {
			break
		}
		f.After = next
	}
	wantStrings(t, "clients paged", got, want)
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	all, next, err := s.ListClients(t.Context(), auth.ClientFilter{Limit: auth.MaxPageSize + 1})
	if err != nil || len(all) != len(ids) || next != "" {
		t.Fatalf("ListClients(over the cap) = %d, %q, %v", len(all), next, err)
	}
}

func testClientInvalidText(t *testing.T, s auth.Store) {
	for name, mutate := range map[string]func(c *auth.Client){
		"no ID":                         func(c *auth.Client) { c.ID = "" },
		"NUL in name":                   func(c *auth.Client) { c.Name = "a\x00b" },
		"invalid UTF-8 in owner":        func(c *auth.Client) { c.Owner = "a\xffb" },
		"invalid UTF-8 in redirect URI": func(c *auth.Client) { c.RedirectURIs = []string{"https://a/\xff"} },
		"NUL in a scope":                func(c *auth.Client) { c.Scopes = []string{"x\x00"} },
		"invalid UTF-8 in an audience":  func(c *auth.Client) { c.Audiences = []string{"\xfe"} },
	} {
		c := newClient("cli_bad")
		mutate(c)
		wantCode(t, "CreateClient("+name+")", s.CreateClient(t.Context(), c, oev(auth.EventClientCreated, base)), auth.EINVALID)
	}
	mustClient(t, s, newClient("cli_good"))
	c := newClient("cli_good")
	c.PostLogoutRedirectURIs = []string{"\x00"}
	wantCode(t, "UpdateClient(NUL)", s.UpdateClient(t.Context(), c, c.UpdatedAt, oev(auth.EventClientUpdated, base)), auth.EINVALID)
	got, err := s.GetClient(t.Context(), "cli_good")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	wantSame(t, "client after a refused update", newClient("cli_good"), got)
	if _, err := s.GetClient(t.Context(), "cli_bad"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("a refused client was stored: %v", err)
	}
	wantNoEvents(t, s)
}

func testClientDelete(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mustClient(t, s, newClient("cli_1"), newClient("cli_2"))
	mustUser(t, s, newUser("usr_1", "alice"))
	now := at(time.Hour)

	// cli_1: a code-only family with an issued token, a refresh family with
	// a live and an expired access token, a pending code and a consent.
	mustCode(t, s, newCode("c1", "cli_1", "usr_1", "fam_code"))
	if _, err := s.ConsumeAuthCode(ctx, hashOf("code:c1"), base); err != nil {
		t.Fatalf("ConsumeAuthCode: %v", err)
	}
	if err := s.RecordIssuedToken(ctx, issued("jti_code", "fam_code", at(2*time.Hour))); err != nil {
		t.Fatalf("RecordIssuedToken: %v", err)
	}
	mustRefresh(t, s, newRefresh("r1", "fam_1", "cli_1", "usr_1"), issued("jti_live", "fam_1", at(2*time.Hour)))
	if err := s.RecordIssuedToken(ctx, issued("jti_expired", "fam_1", now)); err != nil { // expires exactly at now
		t.Fatalf("RecordIssuedToken: %v", err)
	}
	mustCode(t, s, newCode("c2", "cli_1", "usr_1", "fam_pending"))
	if err := s.SaveConsent(ctx, &auth.Consent{UserID: "usr_1", ClientID: "cli_1", Scopes: []string{"openid"}, GrantedAt: base}); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}
	// cli_2 is left alone.
	mustRefresh(t, s, newRefresh("r2", "fam_2", "cli_2", "usr_1"), issued("jti_other", "fam_2", at(2*time.Hour)))
	mustCode(t, s, newCode("c3", "cli_2", "usr_1", "fam_3"))
	if err := s.SaveConsent(ctx, &auth.Consent{UserID: "usr_1", ClientID: "cli_2", GrantedAt: base}); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}

	ev := oev(auth.EventClientDeleted, now)
	if err := s.DeleteClient(ctx, "cli_1", now, ev); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := s.GetClient(ctx, "cli_1"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("GetClient after delete: %v, want ENOTFOUND", err)
	}
	_, err := s.ConsumeAuthCode(ctx, hashOf("code:c2"), now)
	wantCode(t, "ConsumeAuthCode(deleted client's code)", err, auth.ENOTFOUND)
	wantRefreshGone(t, s, hashOf("refresh:r1"))
	_, err = s.GetConsent(ctx, "usr_1", "cli_1")
	wantCode(t, "GetConsent(deleted client)", err, auth.ENOTFOUND)
	wantRevoked(t, s, "jti_code", true)
	wantRevoked(t, s, "jti_live", true)
	wantRevoked(t, s, "jti_expired", false)
	list, err := s.ListRevokedTokens(ctx, time.Time{}, now)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListRevokedTokens = %+v, %v; want 2 entries", list, err)
	}
	for _, r := range list {
		if !r.RevokedAt.Equal(now) || !r.ExpiresAt.Equal(at(2*time.Hour)) {
			t.Errorf("revocation entry %+v: want RevokedAt %v and the token's expiry %v", r, now, at(2*time.Hour))
		}
	}

	// The other client keeps everything.
	wantRevoked(t, s, "jti_other", false)
	if rt := getRefresh(t, s, hashOf("refresh:r2")); !rt.RevokedAt.IsZero() {
		t.Errorf("other client's refresh token revoked at %v", rt.RevokedAt)
	}
	if _, err := s.GetConsent(ctx, "usr_1", "cli_2"); err != nil {
		t.Errorf("other client's consent: %v", err)
	}
	if _, err := s.ConsumeAuthCode(ctx, hashOf("code:c3"), now); err != nil {
		t.Errorf("other client's code: %v", err)
	}
	wantEvents(t, s, ev)
}

// testClientDeleteRevokesCodeFamilies: the token endpoint consumes a code
// and stores the tokens it issues in two transactions. A client deleted in
// between must not end up with a live refresh token or an unlisted access
// token, so deleting it marks the families of its codes revoked, and the
// store then refuses to add to them.
func testClientDeleteRevokesCodeFamilies(t *testing.T, s auth.Store) {
	ctx := t.Context()
	mustClient(t, s, newClient("cli_1"))
	mustUser(t, s, newUser("usr_1", "alice"))
	now := at(time.Hour)
	for _, c := range []string{"c1", "c2"} {
		mustCode(t, s, newCode(c, "cli_1", "usr_1", "fam_"+c))
		if _, err := s.ConsumeAuthCode(ctx, hashOf("code:"+c), base); err != nil {
			t.Fatalf("ConsumeAuthCode(%s): %v", c, err)
		}
	}
	if err := s.DeleteClient(ctx, "cli_1", now); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	err := s.CreateRefreshToken(ctx, newRefresh("r1", "fam_c1", "cli_1", "usr_1"), issued("jti_1", "fam_c1", at(2*time.Hour)))
	wantCode(t, "CreateRefreshToken(family of a deleted client's code)", err, auth.ECONFLICT)
	wantRefreshGone(t, s, hashOf("refresh:r1"))
	err = s.RecordIssuedToken(ctx, issued("jti_2", "fam_c2", at(2*time.Hour)))
	wantCode(t, "RecordIssuedToken(family of a deleted client's code)", err, auth.ECONFLICT)
	wantRevoked(t, s, "jti_1", false)
	wantRevoked(t, s, "jti_2", false)
}

// --- users -----------------------------------------------------------------

func testUserRoundTrip(t *testing.T, s auth.Store) {
	tokyo := time.FixedZone("JST", 9*3600)
	u := &auth.User{
		ID:                "usr_01'; DROP TABLE oauth_users; --",
		Username:          "Zoë.O'Brien",
		PasswordHash:      "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		Email:             "zoe@example.com",
		EmailVerified:     true,
		Name:              "Zoë 😀 O'Brien",
		Role:              auth.RoleAdmin,
		Owners:            []string{"billing", "shipping's", "サービス 😀"},
		CreatedAt:         base,
		UpdatedAt:         at(time.Hour).In(tokyo),
		PasswordChangedAt: at(2*time.Hour + time.Microsecond),
		DisabledAt:        at(3 * time.Hour),
	}
	ev := oev(auth.EventUserCreated, base)
	if err := s.CreateUser(t.Context(), u, ev); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	got, err := s.GetUser(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	wantSame(t, "GetUser", u, got)
	got, err = s.GetUserByUsername(t.Context(), u.Username)
	if err != nil {
		t.Fatalf("GetUserByUsername: %v", err)
	}
	wantSame(t, "GetUserByUsername", u, got)
	list, next, err := s.ListUsers(t.Context(), auth.UserFilter{})
	if err != nil || len(list) != 1 || next != "" {
		t.Fatalf("ListUsers = %d users, %q, %v", len(list), next, err)
	}
	wantSame(t, "ListUsers", u, list[0])
	wantEvents(t, s, ev)

	minimal := &auth.User{ID: "usr_min", Username: "min", Role: auth.RoleDeveloper}
	mustUser(t, s, minimal)
	got, err = s.GetUser(t.Context(), minimal.ID)
	if err != nil {
		t.Fatalf("GetUser(minimal): %v", err)
	}
	wantSame(t, "minimal user", minimal, got)
	wantZeroTimes(t, "minimal user", got)
	if got.Disabled() {
		t.Error("a user without DisabledAt reads back disabled")
	}
	for _, id := range []string{"usr_missing", ""} {
		_, err = s.GetUser(t.Context(), id)
		wantCode(t, "GetUser("+id+")", err, auth.ENOTFOUND)
	}
	_, err = s.GetUserByUsername(t.Context(), "nobody")
	wantCode(t, "GetUserByUsername(unknown)", err, auth.ENOTFOUND)
}

func testUserUsernameCase(t *testing.T, s auth.Store) {
	u := newUser("usr_1", "Alice.Ünal")
	mustUser(t, s, u)
	for _, name := range []string{"alice.ünal", "ALICE.ÜNAL", "aLiCe.üNaL"} {
		got, err := s.GetUserByUsername(t.Context(), name)
		if err != nil {
			t.Fatalf("GetUserByUsername(%q): %v", name, err)
		}
		if got.ID != u.ID || got.Username != u.Username {
			t.Fatalf("GetUserByUsername(%q) = %s %q, want %s with the spelling %q", name, got.ID, got.Username, u.ID, u.Username)
		}
	}
	for _, name := range []string{"ALICE.ÜNAL", "alice.ünal"} {
		err := s.CreateUser(t.Context(), newUser("usr_"+name, name), oev(auth.EventUserCreated, base))
		wantCode(t, "CreateUser("+name+")", err, auth.ECONFLICT)
		// The caller can tell the user what is wrong.
		if msg := auth.ErrorMessage(err); !strings.Contains(msg, "username") {
			t.Errorf("CreateUser(%s) message %q does not mention the username", name, msg)
		}
	}
	_, err := s.GetUserByUsername(t.Context(), "alice.unal")
	wantCode(t, "GetUserByUsername(without the umlaut)", err, auth.ENOTFOUND)
	list, _, err := s.ListUsers(t.Context(), auth.UserFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListUsers = %d users, %v; want only the first", len(list), err)
	}
	wantNoEvents(t, s)
}

func testUserDuplicateID(t *testing.T, s auth.Store) {
	orig := newUser("usr_1", "alice")
	mustUser(t, s, orig)
	err := s.CreateUser(t.Context(), newUser("usr_1", "bob"), oev(auth.EventUserCreated, base))
	wantCode(t, "CreateUser(duplicate ID)", err, auth.ECONFLICT)
	_, err = s.GetUserByUsername(t.Context(), "bob")
	wantCode(t, "GetUserByUsername(refused user)", err, auth.ENOTFOUND)
	got, err := s.GetUser(t.Context(), "usr_1")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	wantSame(t, "original user", orig, got)
	wantNoEvents(t, s)
}

func testUserUpdate(t *testing.T, s auth.Store) {
	ctx := t.Context()
	alice, bob := newUser("usr_1", "alice"), newUser("usr_2", "bob")
	mustUser(t, s, alice, bob)

	up := &auth.User{
		ID: alice.ID, Username: "Alicia", PasswordHash: "$argon2id$new", Email: "alicia@example.com",
		EmailVerified: true, Name: "Alicia", Role: auth.RoleAdmin, Owners: []string{"billing", "shipping"},
		CreatedAt: alice.CreatedAt, UpdatedAt: at(time.Hour),
		PasswordChangedAt: at(time.Hour), DisabledAt: at(2 * time.Hour),
	}
	ev := oev(auth.EventUserUpdated, at(time.Hour))
	if err := s.UpdateUser(ctx, up, ev); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	got, err := s.GetUserByUsername(ctx, "ALICIA")
	if err != nil {
		t.Fatalf("GetUserByUsername(new name): %v", err)
	}
	wantSame(t, "updated user", up, got)
	_, err = s.GetUserByUsername(ctx, "alice")
	wantCode(t, "GetUserByUsername(old name)", err, auth.ENOTFOUND)

	// Changing only the case of one's own username is allowed.
	up.Username = "ALICIA"
	if err := s.UpdateUser(ctx, up); err != nil {
		t.Fatalf("UpdateUser(case change): %v", err)
	}
	// Taking another user's username, in any case, is not.
	taken := *bob
	taken.Username = "Alicia"
	err = s.UpdateUser(ctx, &taken, oev(auth.EventUserUpdated, base))
	wantCode(t, "UpdateUser(taken username)", err, auth.ECONFLICT)
	if msg := auth.ErrorMessage(err); !strings.Contains(msg, "username") {
		t.Errorf("UpdateUser(taken username) message %q does not mention the username", msg)
	}
	got, err = s.GetUser(ctx, bob.ID)
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	wantSame(t, "user after a refused update", bob, got)

	wantCode(t, "UpdateUser(unknown)", s.UpdateUser(ctx, newUser("usr_missing", "zed"), oev(auth.EventUserUpdated, base)), auth.ENOTFOUND)
	if _, err := s.GetUser(ctx, "usr_missing"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("UpdateUser of an unknown user created it: %v", err)
	}
	wantEvents(t, s, ev)
}

func testUserList(t *testing.T, s auth.Store) {
	ids := []string{"usr_b", "usr_A", "usr_10", "usr_2"}
	for i, id := range ids {
		mustUser(t, s, newUser(id, fmt.Sprintf("user%d", i)))
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	var got []string
	f := auth.UserFilter{Limit: 3}
	for {
		page, next, err := s.ListUsers(t.Context(), f)
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		for _, u := range page {
			got = append(got, u.ID)
		}
		if next == "" {
			break
		}
		f.After = next
	}
	wantStrings(t, "users paged", got, want)
}

func testUserInvalid(t *testing.T, s auth.Store) {
	for name, mutate := range map[string]func(u *auth.User){
		"no ID":                   func(u *auth.User) { u.ID = "" },
		"no username":             func(u *auth.User) { u.Username = "" },
		"NUL in username":         func(u *auth.User) { u.Username = "a\x00" },
		"invalid UTF-8 in email":  func(u *auth.User) { u.Email = "\xff@example.com" },
		"NUL in password hash":    func(u *auth.User) { u.PasswordHash = "\x00" },
		"invalid UTF-8 in a name": func(u *auth.User) { u.Name = "\xc3" },
		"no role":                 func(u *auth.User) { u.Role = "" },
		"unknown role":            func(u *auth.User) { u.Role = "root" },
		"empty owner":             func(u *auth.User) { u.Owners = []string{""} },
		"control char in owner":   func(u *auth.User) { u.Owners = []string{"a\nb"} },
		"unsorted owners":         func(u *auth.User) { u.Owners = []string{"b", "a"} },
		"duplicate owners":        func(u *auth.User) { u.Owners = []string{"a", "a"} },
		"too many owners": func(u *auth.User) {
			u.Owners = nil
			for i := range auth.MaxUserOwners + 1 {
				u.Owners = append(u.Owners, fmt.Sprintf("o%03d", i))
			}
		},
	} {
		u := newUser("usr_bad", "bad")
		mutate(u)
		wantCode(t, "CreateUser("+name+")", s.CreateUser(t.Context(), u, oev(auth.EventUserCreated, base)), auth.EINVALID)
		wantCode(t, "UpdateUser("+name+")", s.UpdateUser(t.Context(), u, oev(auth.EventUserUpdated, base)), auth.EINVALID)
	}
	wantNoEvents(t, s)
}

// --- signing keys ----------------------------------------------------------

func newSigningKey(id string, created time.Time) *auth.SigningKey {
	return &auth.SigningKey{
		ID:          id,
		Algorithm:   "ES256",
		PublicJWK:   []byte(`{"kty":"EC","crv":"P-256","kid":"` + id + `"}`),
		PrivateKey:  append([]byte{0, 1, 2, 0xff}, hashOf("sealed:"+id)...),
		CreatedAt:   created,
		ActivatesAt: created.Add(time.Hour),
	}
}

func listKeys(t *testing.T, s auth.Store) []*auth.SigningKey {
	t.Helper()
	keys, err := s.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatalf("ListSigningKeys: %v", err)
	}
	return keys
}

func keyIDs(keys []*auth.SigningKey) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func testSigningKeyRoundTrip(t *testing.T, s auth.Store) {
	if keys := listKeys(t, s); len(keys) != 0 {
		t.Fatalf("a new store has %d signing keys", len(keys))
	}
	// Created out of order: the list is by CreatedAt, not by ID or insertion.
	newest := newSigningKey("kid_a", at(2*time.Hour))
	oldest := newSigningKey("kid_c", base)
	oldest.RetiredAt, oldest.ExpiresAt = at(3*time.Hour), at(4*time.Hour)
	middle := newSigningKey("kid_b", at(time.Hour))
	middle.Algorithm = "EdDSA"
	ev := oev(auth.EventSigningKeyCreated, base)
	for _, k := range []*auth.SigningKey{newest, oldest, middle} {
		if err := s.CreateSigningKey(t.Context(), k, ev); err != nil {
			t.Fatalf("CreateSigningKey(%s): %v", k.ID, err)
		}
	}
	keys := listKeys(t, s)
	wantStrings(t, "signing keys", keyIDs(keys), []string{"kid_c", "kid_b", "kid_a"})
	wantSame(t, "oldest key", oldest, keys[0])
	wantSame(t, "middle key", middle, keys[1])
	wantSame(t, "newest key", newest, keys[2])
	wantEvents(t, s, ev, ev, ev)
}

func testSigningKeyDuplicate(t *testing.T, s auth.Store) {
	k := newSigningKey("kid_1", base)
	if err := s.CreateSigningKey(t.Context(), k); err != nil {
		t.Fatalf("CreateSigningKey: %v", err)
	}
	dup := newSigningKey("kid_1", at(time.Hour))
	wantCode(t, "CreateSigningKey(duplicate)", s.CreateSigningKey(t.Context(), dup, oev(auth.EventSigningKeyCreated, base)), auth.ECONFLICT)
	wantCode(t, "CreateSigningKey(no ID)", s.CreateSigningKey(t.Context(), newSigningKey("", base)), auth.EINVALID)
	keys := listKeys(t, s)
	if len(keys) != 1 {
		t.Fatalf("%d keys, want 1", len(keys))
	}
	wantSame(t, "original key", k, keys[0])
	wantNoEvents(t, s)
}

func testSigningKeyRetire(t *testing.T, s auth.Store) {
	ctx := t.Context()
	k := newSigningKey("kid_1", base)
	if err := s.CreateSigningKey(ctx, k); err != nil {
		t.Fatalf("CreateSigningKey: %v", err)
	}
	ev := oev(auth.EventSigningKeyRetired, at(time.Hour))
	if err := s.RetireSigningKey(ctx, k.ID, at(time.Hour), at(25*time.Hour), ev); err != nil {
		t.Fatalf("RetireSigningKey: %v", err)
	}
	k.RetiredAt, k.ExpiresAt = at(time.Hour), at(25*time.Hour)
	wantSame(t, "retired key", k, listKeys(t, s)[0])

	err := s.RetireSigningKey(ctx, k.ID, at(2*time.Hour), at(26*time.Hour), oev(auth.EventSigningKeyRetired, base))
	wantCode(t, "RetireSigningKey(retired)", err, auth.ECONFLICT)
	wantSame(t, "key after a second retirement", k, listKeys(t, s)[0])
	err = s.RetireSigningKey(ctx, "kid_missing", at(time.Hour), at(2*time.Hour), oev(auth.EventSigningKeyRetired, base))
	wantCode(t, "RetireSigningKey(unknown)", err, auth.ENOTFOUND)
	wantEvents(t, s, ev)
}

func testSigningKeyDeleteExpired(t *testing.T, s auth.Store) {
	ctx := t.Context()
	now := at(10 * time.Hour)
	for _, k := range []struct {
		id               string
		retired, expires time.Time
	}{
		{"kid_active", time.Time{}, time.Time{}},
		{"kid_expired_b", at(time.Hour), at(2 * time.Hour)},
		{"kid_expired_a", at(time.Hour), now.Add(-time.Microsecond)},
		{"kid_at_now", at(time.Hour), now}, // not before now: kept
		{"kid_later", at(time.Hour), at(20 * time.Hour)},
	} {
		if err := s.CreateSigningKey(ctx, newSigningKey(k.id, base)); err != nil {
			t.Fatalf("CreateSigningKey: %v", err)
		}
		if !k.retired.IsZero() {
			if err := s.RetireSigningKey(ctx, k.id, k.retired, k.expires); err != nil {
				t.Fatalf("RetireSigningKey: %v", err)
			}
		}
	}
	ids, err := s.DeleteExpiredSigningKeys(ctx, now)
	if err != nil {
		t.Fatalf("DeleteExpiredSigningKeys: %v", err)
	}
	wantStrings(t, "deleted keys", ids, []string{"kid_expired_a", "kid_expired_b"})
	remaining := keyIDs(listKeys(t, s))
	slices.Sort(remaining)
	wantStrings(t, "remaining keys", remaining, []string{"kid_active", "kid_at_now", "kid_later"})
	ids, err = s.DeleteExpiredSigningKeys(ctx, now)
	if err != nil || len(ids) != 0 {
		t.Fatalf("second DeleteExpiredSigningKeys = %v, %v; want none", ids, err)
	}
}

func testOAuthCancelledContext(t *testing.T, s auth.Store) {
	mustClient(t, s, newClient("cli_1"))
	mustRefresh(t, s, newRefresh("r1", "fam_1", "cli_1", "usr_1"), issued("jti_1", "fam_1", at(time.Hour)))
	mustCode(t, s, newCode("c1", "cli_1", "usr_1", "fam_1"))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for name, op := range map[string]func() error{
		"CreateClient": func() error { return s.CreateClient(ctx, newClient("cli_2"), oev(auth.EventClientCreated, base)) },
		"DeleteClient": func() error { return s.DeleteClient(ctx, "cli_1", base, oev(auth.EventClientDeleted, base)) },
		"CreateUser":   func() error { return s.CreateUser(ctx, newUser("usr_1", "alice")) },
		"ConsumeAuthCode": func() error {
			_, err := s.ConsumeAuthCode(ctx, hashOf("code:c1"), base)
			return err
		},
		"RotateRefreshToken": func() error {
			return s.RotateRefreshToken(ctx, hashOf("refresh:r1"), base, 0, newRefresh("r2", "fam_1", "cli_1", "usr_1"), nil)
		},
		"RevokeFamily": func() error {
			_, err := s.RevokeFamily(ctx, "fam_1", base, oev(auth.EventFamilyRevoked, base))
			return err
		},
		"UseJTI": func() error { return s.UseJTI(ctx, "jti_x", at(time.Hour), base) },
		"GetClient": func() error {
			_, err := s.GetClient(ctx, "cli_1")
			return err
		},
		"ListRevokedTokens": func() error {
			_, err := s.ListRevokedTokens(ctx, time.Time{}, base)
			return err
		},
	} {
		if err := op(); err == nil {
			t.Errorf("%s with a cancelled context: no error", name)
		}
	}
	if _, err := s.GetClient(t.Context(), "cli_1"); err != nil {
		t.Fatalf("GetClient after cancelled calls: %v", err)
	}
	if rt := getRefresh(t, s, hashOf("refresh:r1")); !rt.UsedAt.IsZero() || !rt.RevokedAt.IsZero() {
		t.Fatalf("refresh token changed by cancelled calls: %+v", rt)
	}
	wantRefreshGone(t, s, hashOf("refresh:r2"))
	wantRevoked(t, s, "jti_1", false)
	// The code and the jti are still unused.
	if _, err := s.ConsumeAuthCode(t.Context(), hashOf("code:c1"), base); err != nil {
		t.Fatalf("ConsumeAuthCode after cancelled calls: %v", err)
	}
	if err := s.UseJTI(t.Context(), "jti_x", at(time.Hour), base); err != nil {
		t.Fatalf("UseJTI after cancelled calls: %v", err)
	}
	wantNoEvents(t, s)
}
