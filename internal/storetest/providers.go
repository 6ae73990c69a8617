package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// RunProviders runs the contract suite of auth.ProviderStore: upstream
// identity providers and the links of users to them. open is as for Run.
func RunProviders(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"provider: create then get and list return every field unchanged", testProviderRoundTrip},
		{"provider: empty lists, mapping and secret read back empty", testProviderZeroValues},
		{"provider: duplicate name is a conflict and writes nothing", testProviderDuplicate},
		{"provider: invalid name, kind or text is invalid and writes nothing", testProviderInvalid},
		{"provider: update replaces the fields and appends the events; unknown is not found", testProviderUpdate},
		{"provider: delete removes it and its links; unknown is not found", testProviderDelete},
		{"link: create, get, list and touch; one link per upstream identity and per user and provider", testProviderLinks},
		{"link: unknown provider or user is not found and writes nothing", testProviderLinkNotFound},
		{"link: delete removes the user's link and appends the event; unknown is not found", testProviderLinkDelete},
		{"user with link: both or neither are written", testCreateUserWithLink},
		{"users by email: ASCII case folded, ID order, limited", testUsersByEmail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

func newProvider(name string) *auth.Provider {
	return &auth.Provider{
		Name: name, DisplayName: "Provider ünïcode " + name, Kind: auth.ProviderOIDC,
		Issuer: "https://idp.example/" + name, ClientID: "client-" + name, ClientSecret: []byte("sealed\x00bytes"),
		AuthMethod: auth.AuthMethodSecretBasic, Scopes: []string{"openid", "email", "profile"},
		ClaimMapping:     map[string]string{auth.ClaimEmail: "mail", auth.ClaimName: "displayName"},
		AuthorizationURL: "https://idp.example/authorize", TokenURL: "https://idp.example/token",
		UserinfoURL: "https://idp.example/userinfo", EmailsURL: "https://idp.example/emails",
		UsernameClaim: "nickname", CreateUsers: true, Enabled: true,
		CreatedAt: base, UpdatedAt: at(time.Second),
	}
}

func mustProvider(t *testing.T, s auth.Store, ps ...*auth.Provider) {
	t.Helper()
	for _, p := range ps {
		if err := s.CreateProvider(t.Context(), p, oev(auth.EventProviderCreated, p.CreatedAt)); err != nil {
			t.Fatalf("CreateProvider(%s): %v", p.Name, err)
		}
	}
}

func newLink(provider, subject, userID string) *auth.ProviderLink {
	return &auth.ProviderLink{Provider: provider, Subject: subject, UserID: userID, Email: subject + "@up.example", CreatedAt: base}
}

func testProviderRoundTrip(t *testing.T, s auth.Store) {
	p := newProvider("acme")
	mustProvider(t, s, p)
	got, err := s.GetProvider(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	wantSame(t, "GetProvider", p, got)
	list, err := s.ListProviders(t.Context())
	if err != nil || len(list) != 1 {
		t.Fatalf("ListProviders = %d, %v", len(list), err)
	}
	wantSame(t, "ListProviders", p, list[0])
	wantEvents(t, s, oev(auth.EventProviderCreated, base))
}

func testProviderZeroValues(t *testing.T, s auth.Store) {
	p := &auth.Provider{Name: "bare", Kind: auth.ProviderOAuth2, Issuer: "https://bare.example", ClientID: "c"}
	if err := s.CreateProvider(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetProvider(t.Context(), "bare")
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientSecret != nil || got.Scopes == nil || len(got.Scopes) != 0 || got.ClaimMapping == nil || len(got.ClaimMapping) != 0 {
		t.Fatalf("got secret %v, scopes %#v, mapping %#v; want nil, empty, empty", got.ClientSecret, got.Scopes, got.ClaimMapping)
	}
	wantZeroTimes(t, "bare provider", got)
}

func testProviderDuplicate(t *testing.T, s auth.Store) {
	mustProvider(t, s, newProvider("acme"))
	before := len(allEvents(t, s))
	err := s.CreateProvider(t.Context(), newProvider("acme"), oev(auth.EventProviderCreated, base))
	wantCode(t, "duplicate", err, auth.ECONFLICT)
	if n := len(allEvents(t, s)); n != before {
		t.Fatalf("events = %d, want %d", n, before)
	}
}

func testProviderInvalid(t *testing.T, s auth.Store) {
	for name, mutate := range map[string]func(p *auth.Provider){
		"upper-case name": func(p *auth.Provider) { p.Name = "Acme" },
		"slash in name":   func(p *auth.Provider) { p.Name = "a/b" },
		"long name":       func(p *auth.Provider) { p.Name = "a123456789012345678901234567890123" },
		"unknown kind":    func(p *auth.Provider) { p.Kind = "saml" },
		"no issuer":       func(p *auth.Provider) { p.Issuer = "" },
		"NUL in scope":    func(p *auth.Provider) { p.Scopes = []string{"a\x00"} },
		"NUL in mapping":  func(p *auth.Provider) { p.ClaimMapping = map[string]string{"email": "\x00"} },
		"bad UTF-8":       func(p *auth.Provider) { p.DisplayName = "\xff" },
	} {
		p := newProvider("acme")
		mutate(p)
		wantCode(t, name, s.CreateProvider(t.Context(), p, oev(auth.EventProviderCreated, base)), auth.EINVALID)
	}
	wantNoEvents(t, s)
}

func testProviderUpdate(t *testing.T, s auth.Store) {
	p := newProvider("acme")
	mustProvider(t, s, p)
	p.Kind, p.Issuer, p.ClientSecret, p.Scopes = auth.ProviderOAuth2, "https://other.example", nil, []string{"read:user"}
	p.ClaimMapping, p.Enabled, p.CreateUsers, p.UpdatedAt = map[string]string{"sub": "id"}, false, false, at(5*time.Second)
	p.TrustEmail = true
	if err := s.UpdateProvider(t.Context(), p, oev(auth.EventProviderUpdated, at(5*time.Second))); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetProvider(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	wantSame(t, "updated provider", p, got)
	wantEvents(t, s, oev(auth.EventProviderCreated, base), oev(auth.EventProviderUpdated, at(5*time.Second)))
	wantCode(t, "update unknown", s.UpdateProvider(t.Context(), newProvider("nope"), oev(auth.EventProviderUpdated, at(6*time.Second))), auth.ENOTFOUND)
	if n := len(allEvents(t, s)); n != 2 {
		t.Fatalf("events = %d, want 2", n)
	}
}

func testProviderDelete(t *testing.T, s auth.Store) {
	mustProvider(t, s, newProvider("acme"), newProvider("other"))
	mustUser(t, s, newUser("usr_1", "alice"))
	for _, l := range []*auth.ProviderLink{newLink("acme", "sub-1", "usr_1"), newLink("other", "sub-1", "usr_1")} {
		if err := s.CreateProviderLink(t.Context(), l); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteProvider(t.Context(), "acme", oev(auth.EventProviderDeleted, at(3*time.Second))); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetProvider(t.Context(), "acme")
	wantCode(t, "get deleted", err, auth.ENOTFOUND)
	_, err = s.GetProviderLink(t.Context(), "acme", "sub-1")
	wantCode(t, "link of deleted provider", err, auth.ENOTFOUND)
	if _, err := s.GetProviderLink(t.Context(), "other", "sub-1"); err != nil {
		t.Fatalf("link of the other provider: %v", err)
	}
	wantCode(t, "delete again", s.DeleteProvider(t.Context(), "acme", oev(auth.EventProviderDeleted, at(4*time.Second))), auth.ENOTFOUND)
	evs := allEvents(t, s)
	if last := evs[len(evs)-1]; last.Type != auth.EventProviderDeleted || !last.Time.Equal(at(3*time.Second)) {
		t.Fatalf("last event = %+v", last)
	}
}

func testProviderLinks(t *testing.T, s auth.Store) {
	mustProvider(t, s, newProvider("acme"), newProvider("beta"))
	mustUser(t, s, newUser("usr_1", "alice"), newUser("usr_2", "bob"))
	l := newLink("acme", "sub-1", "usr_1")
	ev := oev(auth.EventUserProviderLinked, base)
	ev.Details = map[string]string{"user_id": "usr_1", "provider": "acme"}
	if err := s.CreateProviderLink(t.Context(), l, ev); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetProviderLink(t.Context(), "acme", "sub-1")
	if err != nil {
		t.Fatal(err)
	}
	wantSame(t, "GetProviderLink", l, got)
	if evs, _, _ := s.ListAuditEvents(t.Context(), auth.AuditFilter{Target: "usr_1"}); len(evs) != 1 || evs[0].Type != auth.EventUserProviderLinked {
		t.Fatalf("events of usr_1 = %+v", evs)
	}
	// The same upstream identity for another user, and a second link of
	// the user to the provider, are conflicts.
	wantCode(t, "identity linked twice", s.CreateProviderLink(t.Context(), newLink("acme", "sub-1", "usr_2")), auth.ECONFLICT)
	wantCode(t, "second link to one provider", s.CreateProviderLink(t.Context(), newLink("acme", "sub-2", "usr_1")), auth.ECONFLICT)
	if err := s.CreateProviderLink(t.Context(), newLink("beta", "sub-1", "usr_1")); err != nil {
		t.Fatalf("link to another provider: %v", err)
	}
	links, err := s.ListUserProviderLinks(t.Context(), "usr_1")
	if err != nil || len(links) != 2 || links[0].Provider != "acme" || links[1].Provider != "beta" {
		t.Fatalf("ListUserProviderLinks = %+v, %v", links, err)
	}
	if links, err := s.ListUserProviderLinks(t.Context(), "usr_2"); err != nil || links == nil || len(links) != 0 {
		t.Fatalf("links of usr_2 = %#v, %v; want empty", links, err)
	}
	// Touch moves forward only; unknown links are ignored.
	for _, tm := range []int{5, 3} {
		if err := s.TouchProviderLink(t.Context(), "acme", "sub-1", at(time.Duration(tm)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.TouchProviderLink(t.Context(), "acme", "nobody", at(1)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetProviderLink(t.Context(), "acme", "sub-1")
	if !got.LastUsedAt.Equal(at(5 * time.Second)) {
		t.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, at(5*time.Second))
	}
}

func testProviderLinkNotFound(t *testing.T, s auth.Store) {
	mustProvider(t, s, newProvider("acme"))
	mustUser(t, s, newUser("usr_1", "alice"))
	before := len(allEvents(t, s))
	ev := oev(auth.EventUserProviderLinked, base)
	wantCode(t, "unknown provider", s.CreateProviderLink(t.Context(), newLink("nope", "s", "usr_1"), ev), auth.ENOTFOUND)
	wantCode(t, "unknown user", s.CreateProviderLink(t.Context(), newLink("acme", "s", "usr_9"), ev), auth.ENOTFOUND)
	_, err := s.GetProviderLink(t.Context(), "acme", "s")
	wantCode(t, "get", err, auth.ENOTFOUND)
	if n := len(allEvents(t, s)); n != before {
		t.Fatalf("events = %d, want %d", n, before)
	}
}

func testProviderLinkDelete(t *testing.T, s auth.Store) {
	mustProvider(t, s, newProvider("acme"))
	mustUser(t, s, newUser("usr_1", "alice"))
	if err := s.CreateProviderLink(t.Context(), newLink("acme", "sub-1", "usr_1")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "another user's link", s.DeleteProviderLink(t.Context(), "acme", "usr_2"), auth.ENOTFOUND)
	if err := s.DeleteProviderLink(t.Context(), "acme", "usr_1", oev(auth.EventUserProviderUnlinked, at(2))); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetProviderLink(t.Context(), "acme", "sub-1")
	wantCode(t, "deleted link", err, auth.ENOTFOUND)
	wantCode(t, "delete again", s.DeleteProviderLink(t.Context(), "acme", "usr_1"), auth.ENOTFOUND)
	evs := allEvents(t, s)
	if last := evs[len(evs)-1]; last.Type != auth.EventUserProviderUnlinked {
		t.Fatalf("last event = %+v", last)
	}
}

func testCreateUserWithLink(t *testing.T, s auth.Store) {
	mustProvider(t, s, newProvider("acme"))
	mustUser(t, s, newUser("usr_1", "alice"))
	u := newUser("usr_2", "bob")
	u.PasswordHash = ""
	if err := s.CreateUserWithLink(t.Context(), u, newLink("acme", "sub-2", "usr_2"), oev(auth.EventUserCreated, base)); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(t.Context(), "usr_2")
	if err != nil {
		t.Fatal(err)
	}
	wantSame(t, "JIT user", u, got)
	if l, err := s.GetProviderLink(t.Context(), "acme", "sub-2"); err != nil || l.UserID != "usr_2" {
		t.Fatalf("link = %+v, %v", l, err)
	}
	before := len(allEvents(t, s))
	// A taken username (in another case): neither user nor link.
	wantCode(t, "taken username", s.CreateUserWithLink(t.Context(), newUser("usr_3", "ALICE"), newLink("acme", "sub-3", "usr_3"), oev(auth.EventUserCreated, base)), auth.ECONFLICT)
	// A linked identity: neither user nor link.
	wantCode(t, "linked identity", s.CreateUserWithLink(t.Context(), newUser("usr_4", "carol"), newLink("acme", "sub-2", "usr_4"), oev(auth.EventUserCreated, base)), auth.ECONFLICT)
	for _, id := range []string{"usr_3", "usr_4"} {
		_, err := s.GetUser(t.Context(), id)
		wantCode(t, "user "+id, err, auth.ENOTFOUND)
	}
	_, err = s.GetProviderLink(t.Context(), "acme", "sub-3")
	wantCode(t, "link sub-3", err, auth.ENOTFOUND)
	if n := len(allEvents(t, s)); n != before {
		t.Fatalf("events = %d, want %d", n, before)
	}
	wantCode(t, "link naming another user", s.CreateUserWithLink(t.Context(), newUser("usr_5", "dave"), newLink("acme", "sub-5", "usr_1")), auth.EINVALID)
}

func testUsersByEmail(t *testing.T, s auth.Store) {
	a, b, c := newUser("usr_1", "alice"), newUser("usr_2", "bob"), newUser("usr_3", "carol")
	a.Email, b.Email, c.Email = "Same@Example.COM", "same@example.com", "other@example.com"
	mustUser(t, s, b, a, c)
	got, err := s.ListUsersByEmail(t.Context(), "SAME@example.com", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "usr_1" || got[1].ID != "usr_2" {
		t.Fatalf("ListUsersByEmail = %+v", got)
	}
	if got, _ := s.ListUsersByEmail(t.Context(), "same@example.com", 1); len(got) != 1 {
		t.Fatalf("limit 1 gave %d", len(got))
	}
	if got, err := s.ListUsersByEmail(t.Context(), "", 10); err != nil || len(got) != 0 {
		t.Fatalf("empty address = %+v, %v", got, err)
	}
}
