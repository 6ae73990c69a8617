package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		texts []string
		lists [][]string
		want  string
	}{
		{"plain and non-ASCII text is storable", []string{"bob", "ユーザー 😀", ""}, nil, ""},
		{"a NUL character is refused", []string{"ok", "a\x00b"}, nil, EINVALID},
		{"invalid UTF-8 is refused", []string{"\xff"}, nil, EINVALID},
		{"lists are checked item by item", nil, [][]string{{"a"}, {"b", "\x00"}}, EINVALID},
		{"empty and nil lists are storable", nil, [][]string{nil, {}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckText("Thing", tt.texts...)
			if err == nil {
				err = CheckLists("Thing", tt.lists...)
			}
			if ErrorCode(err) != tt.want {
				t.Fatalf("error = %v, want code %q", err, tt.want)
			}
			if err != nil && ErrorMessage(err) != "Thing text must be valid UTF-8 without NUL characters." {
				t.Fatalf("message = %q, does not name the record", ErrorMessage(err))
			}
		})
	}
}

func TestCheckHash(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		hash []byte
		want string
	}{
		{"a hash is required", nil, EINVALID},
		{"an empty hash is refused", []byte{}, EINVALID},
		{"any byte string is a hash", []byte{0}, ""},
	} {
		if got := ErrorCode(CheckHash("Secret", tt.hash)); got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestConflictAs(t *testing.T) {
	t.Parallel()
	other := errors.New("disk full")
	for _, tt := range []struct {
		name    string
		err     error
		want    error
		wantMsg string
	}{
		{"a conflict says what is taken", Errorf(ECONFLICT, "A record with the same ID or hash already exists."), nil, "The name is taken."},
		{"nil stays nil", nil, nil, ""},
		{"other errors pass unchanged", other, other, ""},
	} {
		got := ConflictAs(tt.err, "The name is taken.")
		if tt.wantMsg != "" {
			if ErrorCode(got) != ECONFLICT || ErrorMessage(got) != tt.wantMsg {
				t.Errorf("%s: %v", tt.name, got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBytesOrNull(t *testing.T) {
	t.Parallel()
	if v := BytesOrNull(nil); v != nil {
		t.Errorf("nil bytes are stored as %v, want NULL", v)
	}
	if v := BytesOrNull([]byte{}); v != nil {
		t.Errorf("empty bytes are stored as %v, want NULL", v)
	}
	if v, ok := BytesOrNull([]byte("k")).([]byte); !ok || string(v) != "k" {
		t.Errorf("bytes are stored as %v, want themselves", v)
	}
}

func TestPageSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		limit int
		want  int
	}{
		{"no limit is the default page", 0, DefaultPageSize},
		{"a negative limit is the default page", -5, DefaultPageSize},
		{"a small limit is kept", 7, 7},
		{"the cap itself is kept", MaxPageSize, MaxPageSize},
		{"a larger limit is capped", MaxPageSize + 1, MaxPageSize},
	} {
		if got := PageSize(tt.limit); got != tt.want {
			t.Errorf("%s: PageSize(%d) = %d, want %d", tt.name, tt.limit, got, tt.want)
		}
	}
}

func TestExpired(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		deadline time.Time
		at       time.Time
		want     bool
	}{
		{"the zero deadline never passes", time.Time{}, t0, false},
		{"alive before the deadline", t0, t0.Add(-time.Microsecond), false},
		{"dead at the deadline", t0, t0, true},
		{"dead after the deadline", t0, t0.Add(time.Hour), true},
	} {
		if got := Expired(tt.deadline, tt.at); got != tt.want {
			t.Errorf("%s: Expired = %v", tt.name, got)
		}
	}
}

func TestNormalizeUsername(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, in, want string
	}{
		{"ASCII is folded to lower case", "Bob", "bob"},
		{"non-ASCII letters are folded by Go's rules", "ÉLODIE", "élodie"},
		{"nothing else changes", " a_B.c ", " a_b.c "},
	} {
		if got := NormalizeUsername(tt.in); got != tt.want {
			t.Errorf("%s: NormalizeUsername(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestRecordsCheckStorable(t *testing.T) {
	t.Parallel()
	soon := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a client needs an ID", (&Client{}).CheckStorable(), EINVALID},
		{"a missing client is refused", (*Client)(nil).CheckStorable(), EINVALID},
		{"a client's redirect URIs are checked", (&Client{ID: "c", RedirectURIs: []string{"\x00"}}).CheckStorable(), EINVALID},
		{"a client with an ID is storable", (&Client{ID: "c"}).CheckStorable(), ""},
		{"a user needs an ID", (&User{Username: "u"}).CheckStorable(), EINVALID},
		{"a user needs a username", (&User{ID: "u"}).CheckStorable(), EINVALID},
		{"a user's email is checked", (&User{ID: "u", Username: "u", Email: "\xff"}).CheckStorable(), EINVALID},
		{"a user with an ID, username and role is storable", (&User{ID: "u", Username: "u", Role: RoleDeveloper}).CheckStorable(), ""},
		{"a user needs a role", (&User{ID: "u", Username: "u"}).CheckStorable(), EINVALID},
		{"a user's owners must be sorted", (&User{ID: "u", Username: "u", Role: RoleAdmin, Owners: []string{"b", "a"}}).CheckStorable(), EINVALID},
		{"a signing key needs an ID", (&SigningKey{}).CheckStorable(), EINVALID},
		{"a signing key with an ID is storable", (&SigningKey{ID: "k"}).CheckStorable(), ""},
		{"a session needs a user", (&Session{Hash: []byte{1}}).CheckStorable(), EINVALID},
		{"a session needs a hash", (&Session{UserID: "u"}).CheckStorable(), EINVALID},
		{"a session's user agent is checked", (&Session{Hash: []byte{1}, UserID: "u", UserAgent: "\x00"}).CheckStorable(), EINVALID},
		{"a session with a hash and user is storable", (&Session{Hash: []byte{1}, UserID: "u"}).CheckStorable(), ""},
		{"a consent needs a user and a client", (&Consent{UserID: "u"}).CheckStorable(), EINVALID},
		{"a consent's scopes are checked", (&Consent{UserID: "u", ClientID: "c", Scopes: []string{"\xff"}}).CheckStorable(), EINVALID},
		{"a consent with a user and client is storable", (&Consent{UserID: "u", ClientID: "c"}).CheckStorable(), ""},
		{"a missing code is refused", (*AuthCode)(nil).CheckStorable(), EINVALID},
		{"a code needs a hash", (&AuthCode{}).CheckStorable(), EINVALID},
		{"a code's nonce is checked", (&AuthCode{Hash: []byte{1}, ExpiresAt: soon, Nonce: "\x00"}).CheckStorable(), EINVALID},
		{"a code needs an expiry", (&AuthCode{Hash: []byte{1}}).CheckStorable(), EINVALID},
		{"a code with a hash and expiry is storable", (&AuthCode{Hash: []byte{1}, ExpiresAt: soon}).CheckStorable(), ""},
		{"a refresh token needs a family", (&RefreshToken{Hash: []byte{1}, ExpiresAt: soon, FamilyExpiresAt: soon}).CheckStorable(), EINVALID},
		{"a refresh token needs a hash", (&RefreshToken{FamilyID: "f", ExpiresAt: soon, FamilyExpiresAt: soon}).CheckStorable(), EINVALID},
		{"a refresh token needs an expiry", (&RefreshToken{Hash: []byte{1}, FamilyID: "f", FamilyExpiresAt: soon}).CheckStorable(), EINVALID},
		{"a refresh token needs a family expiry", (&RefreshToken{Hash: []byte{1}, FamilyID: "f", ExpiresAt: soon}).CheckStorable(), EINVALID},
		{"a refresh token cannot have been presented a negative number of times", (&RefreshToken{Hash: []byte{1}, FamilyID: "f", ExpiresAt: soon, FamilyExpiresAt: soon, Presentations: -1}).CheckStorable(), EINVALID},
		{"a refresh token's audiences are checked", (&RefreshToken{Hash: []byte{1}, FamilyID: "f", ExpiresAt: soon, FamilyExpiresAt: soon, Audiences: []string{"\x00"}}).CheckStorable(), EINVALID},
		{"a refresh token with a hash, family and deadlines is storable", (&RefreshToken{Hash: []byte{1}, FamilyID: "f", ExpiresAt: soon, FamilyExpiresAt: soon, Presentations: 2}).CheckStorable(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if ErrorCode(tt.err) != tt.want {
				t.Fatalf("error = %v, want code %q", tt.err, tt.want)
			}
		})
	}
}

func TestIssuedTokenCheckFamily(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		it     *IssuedToken
		family string
		want   string
	}{
		{"no access token is nothing to check", nil, "f", ""},
		{"an access token needs a jti", &IssuedToken{FamilyID: "f"}, "f", EINVALID},
		{"an access token needs a family, or nothing could revoke it", &IssuedToken{JTI: "j"}, "", EINVALID},
		{"an access token of another family is refused", &IssuedToken{JTI: "j", FamilyID: "g"}, "f", EINVALID},
		{"an access token of the family is accepted", &IssuedToken{JTI: "j", FamilyID: "f"}, "f", ""},
		{"any family is accepted when none is asked for", &IssuedToken{JTI: "j", FamilyID: "g"}, "", ""},
		{"an access token's jti is checked", &IssuedToken{JTI: "\xff", FamilyID: "f"}, "f", EINVALID},
	} {
		if got := ErrorCode(tt.it.CheckFamily(tt.family)); got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestAPIKeyRotateTo(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		key        APIKey
		oldExpires time.Time
		want       string
		wantExpiry time.Time
	}{
		{"a key rotates and expires at the end of the overlap", APIKey{}, t0, "", t0},
		{"a rotation never extends a key's life", APIKey{ExpiresAt: t0}, t0.Add(time.Hour), "", t0},
		{"a zero overlap end keeps the key's expiry", APIKey{ExpiresAt: t0}, time.Time{}, "", t0},
		{"a revoked key cannot rotate", APIKey{RevokedAt: t0}, t0, ECONFLICT, time.Time{}},
		{"a rotated key cannot rotate again", APIKey{RotatedTo: "key_b"}, t0, ECONFLICT, time.Time{}},
	} {
		got, err := tt.key.RotateTo("key_n", tt.oldExpires)
		if ErrorCode(err) != tt.want {
			t.Errorf("%s: error %v, want code %q", tt.name, err, tt.want)
			continue
		}
		if err == nil && (got.RotatedTo != "key_n" || !got.ExpiresAt.Equal(tt.wantExpiry)) {
			t.Errorf("%s: rotated to %q expiring %v, want key_n expiring %v", tt.name, got.RotatedTo, got.ExpiresAt, tt.wantExpiry)
		}
	}
}

func TestCheckWrite(t *testing.T) {
	t.Parallel()
	good := &Client{ID: "c"}
	for _, tt := range []struct {
		name   string
		record Storable
		events []AuditEvent
		want   string
	}{
		{"a storable record without events may be written", good, nil, ""},
		{"a record that cannot be stored is refused", &Client{}, nil, EINVALID},
		{"an event that cannot be stored refuses the write", good, []AuditEvent{{Type: "x", Reason: "\x00"}}, EINVALID},
		{"a revoked token needs its revocation time", &RevokedToken{JTI: "j"}, nil, EINVALID},
		{"a revoked token needs its jti", &RevokedToken{RevokedAt: t0}, nil, EINVALID},
		{"a revoked token with a jti and time may be written", &RevokedToken{JTI: "j", RevokedAt: t0}, nil, ""},
	} {
		if got := ErrorCode(CheckWrite(tt.record, tt.events)); got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRefreshTokenCheckWithIssued(t *testing.T) {
	t.Parallel()
	soon := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	rt := &RefreshToken{Hash: []byte{1}, FamilyID: "f", ExpiresAt: soon, FamilyExpiresAt: soon}
	for _, tt := range []struct {
		name   string
		token  *RefreshToken
		issued *IssuedToken
		want   string
	}{
		{"a token without an access token may be written", rt, nil, ""},
		{"a token with an access token of its family may be written", rt, &IssuedToken{JTI: "j", FamilyID: "f"}, ""},
		{"an access token of another family is refused", rt, &IssuedToken{JTI: "j", FamilyID: "g"}, EINVALID},
		{"a token that cannot be stored is refused first", &RefreshToken{FamilyID: "f"}, nil, EINVALID},
	} {
		if got := ErrorCode(tt.token.CheckWithIssued(tt.issued)); got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPage(t *testing.T) {
	t.Parallel()
	id := func(n int) int { return n }
	for _, tt := range []struct {
		name      string
		items     []int
		limit     int
		wantItems []int
		wantNext  int
	}{
		{"a short read is the last page, without a cursor", []int{1, 2}, 3, []int{1, 2}, 0},
		{"a read of exactly the limit is the last page", []int{1, 2, 3}, 3, []int{1, 2, 3}, 0},
		{"one row more than the limit means another page, after the last item kept", []int{1, 2, 3, 4}, 3, []int{1, 2, 3}, 3},
		{"an empty read is an empty last page", nil, 3, nil, 0},
	} {
		items, next := Page(tt.items, tt.limit, id)
		if !slices.Equal(items, tt.wantItems) || next != tt.wantNext {
			t.Errorf("%s: Page = %v, %v; want %v, %v", tt.name, items, next, tt.wantItems, tt.wantNext)
		}
	}
}

func TestSigningKeyRetire(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		key  SigningKey
		want string
	}{
		{"a signing key retires and expires when told", SigningKey{ID: "k"}, ""},
		{"a retired signing key cannot retire again", SigningKey{ID: "k", RetiredAt: t0.Add(-time.Hour)}, ECONFLICT},
	} {
		got, err := tt.key.Retire(t0, t0.Add(time.Hour))
		if ErrorCode(err) != tt.want {
			t.Errorf("%s: error %v, want code %q", tt.name, err, tt.want)
			continue
		}
		if err == nil && (!got.RetiredAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(time.Hour))) {
			t.Errorf("%s: retired %v expiring %v", tt.name, got.RetiredAt, got.ExpiresAt)
		}
		if err != nil && !got.RetiredAt.Equal(tt.key.RetiredAt) {
			t.Errorf("%s: a refused retirement changed the key", tt.name)
		}
	}
}

func TestCheckRevocation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		at     time.Time
		events []AuditEvent
		want   string
	}{
		{"a revocation needs its time, or it would read as not revoked", time.Time{}, nil, EINVALID},
		{"a revocation with events that cannot be stored is refused", t0, []AuditEvent{{Actor: "\xff"}}, EINVALID},
		{"a revocation with a time may be written", t0, []AuditEvent{{Type: "x"}}, ""},
	} {
		if got := ErrorCode(CheckRevocation(tt.at, tt.events)); got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abc", 2, "ab"},
		{"aé", 2, "a"}, // é is 2 bytes: not cut in half
		{"😀x", 3, ""},
		{"😀x", 4, "😀"},
		{"", 0, ""},
	} {
		if got := TruncateUTF8(tc.in, tc.n); got != tc.want {
			t.Errorf("TruncateUTF8(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestCheckRoleOwners(t *testing.T) {
	many := func(n int) []string {
		var l []string
		for i := range n {
			l = append(l, fmt.Sprintf("owner-%02d", i))
		}
		return l
	}
	for _, tc := range []struct {
		name   string
		role   string
		owners []string
		want   []string
		code   string
	}{
		{"developer without owners", RoleDeveloper, nil, nil, ""},
		{"empty list is none", RoleAdmin, []string{}, nil, ""},
		{"sorted and unique", RoleDeveloper, []string{"shipping", "billing", "shipping"}, []string{"billing", "shipping"}, ""},
		{"unicode owner like a key's", RoleDeveloper, []string{"サービス 😀"}, []string{"サービス 😀"}, ""},
		{"longest owner", RoleDeveloper, []string{strings.Repeat("o", MaxOwnerLength)}, []string{strings.Repeat("o", MaxOwnerLength)}, ""},
		{"the maximum", RoleDeveloper, many(MaxUserOwners), many(MaxUserOwners), ""},
		{"duplicates count once", RoleDeveloper, append(many(MaxUserOwners), "owner-00"), many(MaxUserOwners), ""},
		{"no role", "", nil, nil, EINVALID},
		{"unknown role", "root", nil, nil, EINVALID},
		{"role in another case", "Admin", nil, nil, EINVALID},
		{"empty owner", RoleDeveloper, []string{""}, nil, EINVALID},
		{"owner too long", RoleDeveloper, []string{strings.Repeat("o", MaxOwnerLength+1)}, nil, EINVALID},
		{"control character", RoleDeveloper, []string{"a\tb"}, nil, EINVALID},
		{"invalid UTF-8", RoleDeveloper, []string{"\xff"}, nil, EINVALID},
		{"too many", RoleDeveloper, many(MaxUserOwners + 1), nil, EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckRoleOwners(tc.role, tc.owners)
			if ErrorCode(err) != tc.code || !slices.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Fatalf("CheckRoleOwners = %q, %v; want %q, code %q", got, err, tc.want, tc.code)
			}
		})
	}
}
