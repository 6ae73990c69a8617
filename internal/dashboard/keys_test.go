package dashboard

import (
	"context"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

var (
	keyLinkRe = regexp.MustCompile(`<th scope="row"><a href="/dashboard/keys/(key_[^"]+)"`)
	nextRe    = regexp.MustCompile(`<a href="([^"]+)" rel="next">Next page</a>`)
)

// newKey creates a key directly through the service.
func (h *harness) newKey(owner, name string, edit ...func(*apikey.CreateParams)) (*auth.APIKey, string) {
	h.t.Helper()
	p := apikey.CreateParams{Owner: owner, Name: name, Scopes: []string{"read"}, Environment: auth.KeyEnvLive, Actor: auth.ActorSystem}
	for _, e := range edit {
		e(&p)
	}
	k, secret, err := h.Keys.Create(context.Background(), p)
	if err != nil {
		h.t.Fatalf("create key: %v", err)
	}
	return k, secret
}

// allKeys lists every key in the store.
func (h *harness) allKeys() []*auth.APIKey {
	h.t.Helper()
	keys, _, err := h.Store.ListAPIKeys(context.Background(), auth.APIKeyFilter{Limit: auth.MaxPageSize})
	if err != nil {
		h.t.Fatal(err)
	}
	return keys
}

// keyEvents returns the audit events of a key.
func (h *harness) keyEvents(id string) []auth.AuditEvent {
	h.t.Helper()
	events, _, err := h.Store.ListAuditEvents(context.Background(), auth.AuditFilter{KeyID: id})
	if err != nil {
		h.t.Fatal(err)
	}
	return events
}

// listed returns the IDs of the keys a list page shows.
func listed(p *response) []string {
	var ids []string
	for _, m := range keyLinkRe.FindAllStringSubmatch(p.body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func TestAnAdminCreatesAKeyAndReadsItOnce(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	p := b.get("/dashboard/keys/new")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("form: %d", p.StatusCode)
	}
	for _, label := range []string{"Owner", "Name", "Scopes", "Environment", "Expires", "Rate limit", "Rotation period", "Credits", "Allowed networks"} {
		if !regexp.MustCompile(`<label for="[^"]+">` + label + `</label>`).MatchString(p.body) {
			t.Errorf("the form has no label %q", label)
		}
	}
	f := p.form("Create key")
	if f.action != h.URL+"/dashboard/keys" {
		t.Fatalf("the form posts to %s", f.action)
	}
	for k, v := range map[string]string{
		"owner": "billing", "name": "Invoices", "scopes": "read:orders, write:orders", "environment": auth.KeyEnvTest,
		"expires": "90d", "rate": "100/s", "burst": "20", "rotation": "30d", "credits": "1000",
		"refill_amount": "500", "refill_interval": "day", "allowed_ips": "10.0.0.0/8\n2001:db8::/32", "metadata": "team=payments\nticket=42",
	} {
		f.fields.Set(k, v)
	}
	p = b.post(f.action, f.fields)
	if p.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d\n%s", p.StatusCode, p.body)
	}
	secret := secretOf(t, p)
	if !strings.Contains(p.body, "you will not see it again") {
		t.Error("the page does not warn that the key is shown once")
	}
	keys := h.allKeys()
	if len(keys) != 1 {
		t.Fatalf("%d keys stored", len(keys))
	}
	k := keys[0]
	if !strings.Contains(p.body, `href="/dashboard/keys/`+k.ID+`"`) {
		t.Error("no link to the new key's page")
	}
	now := h.Clock.Now()
	switch {
	case k.Owner != "billing" || k.Name != "Invoices" || !slices.Equal(k.Scopes, []string{"read:orders", "write:orders"}):
		t.Errorf("owner, name, scopes: %+v", k)
	case k.Environment() != auth.KeyEnvTest:
		t.Errorf("environment %s", k.Environment())
	case !k.ExpiresAt.Equal(now.Add(90 * 24 * time.Hour).Truncate(time.Microsecond)):
		t.Errorf("expires %v, want 90 days from %v", k.ExpiresAt, now)
	case k.RateLimit != auth.RateLimit{Rate: 100, Burst: 20}:
		t.Errorf("rate limit %+v", k.RateLimit)
	case k.RotationPeriod != 30*24*time.Hour:
		t.Errorf("rotation period %v", k.RotationPeriod)
	case k.Credits == nil || k.Credits.Remaining != 1000 || k.Credits.Refill != auth.CreditRefill{Amount: 500, Interval: auth.RefillDaily}:
		t.Errorf("credits %+v", k.Credits)
	case len(k.AllowedIPs) != 2 || k.Metadata["team"] != "payments" || k.Metadata["ticket"] != "42":
		t.Errorf("networks %v, metadata %v", k.AllowedIPs, k.Metadata)
	}
	res, err := h.Keys.Check(context.Background(), apikey.Request{Key: secret, Scopes: []string{"read:orders"}, IP: netip.MustParseAddr("10.1.2.3")})
	if err != nil || !res.Valid() || res.Key.ID != k.ID {
		t.Fatalf("the key shown does not verify: %+v, %v", res.Code, err)
	}
	events := h.keyEvents(k.ID)
	if len(events) != 1 || events[0].Type != auth.EventKeyCreated || events[0].Actor != alice.ID {
		t.Errorf("audit %+v, want key.created by %s", events, alice.ID)
	}
	// Never again: not on the key's page, not in the list.
	for _, path := range []string{"/dashboard/keys/" + k.ID, "/dashboard/keys"} {
		if p := b.get(path); p.StatusCode != http.StatusOK || strings.Contains(p.body, secret) || strings.Contains(p.body, "data-secret") {
			t.Errorf("%s (%d) shows the secret again", path, p.StatusCode)
		}
	}
	detail := b.get("/dashboard/keys/" + k.ID)
	for _, want := range []string{"Invoices", "billing", "read:orders", "999", "10.0.0.0/8", "payments", "100/s"} {
		if !strings.Contains(detail.body, want) {
			t.Errorf("the key's page lacks %q", want)
		}
	}
}

func TestTheKeyFormRefusesBadInputAndCreatesNothing(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	tests := []struct {
		name, field, value, message string
		invalid                     string // the input marked invalid; "" when the service refused
	}{
		{"no owner", "owner", "", "Owner is required", "owner"},
		{"an expiry that is not a duration", "expires", "soon", "Expires must be", "expires"},
		{"an expiry in the past", "expires", "2001-01-01", "expires_at must be in the future", ""},
		{"a rate without a unit", "rate", "100/week", "Rate limit must be", "rate"},
		{"a burst without a rate", "burst", "5", "A burst needs a rate", "burst"},
		{"a scope with a quote", "scopes", `read "write"`, "scopes[", ""},
		{"a network that is not one", "allowed_ips", "10.0.0.0/33", "", "allowed_ips"},
		{"credits that are not a number", "credits", "lots", "Credits must be a whole number", "credits"},
		{"a refill without credits", "refill_amount", "10", "A refill needs credits", "credits"},
		{"metadata without =", "metadata", "team", "key=value", "metadata"},
		{"a short rotation period", "rotation", "10m", "rotation_period must be", ""},
		{"an unknown environment", "environment", "prod", "environment must be one of", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"owner": {"billing"}, "name": {"kept name"}, "environment": {auth.KeyEnvLive}, "refill_interval": {"month"}}
			form.Set(tt.field, tt.value)
			p := b.post("/dashboard/keys", form)
			if p.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400\n%s", p.StatusCode, p.body)
			}
			if !strings.Contains(p.body, `<p class="form-error" role="alert" id="form-error">`) || !strings.Contains(html.UnescapeString(p.body), tt.message) {
				t.Errorf("the message %q is not shown:\n%s", tt.message, p.body)
			}
			if !strings.Contains(p.body, `value="kept name"`) {
				t.Error("the name typed was not kept")
			}
			if tt.invalid != "" && !regexp.MustCompile(`name="`+tt.invalid+`"[^>]*aria-invalid="true"`).MatchString(p.body) {
				t.Errorf("the field %s is not marked invalid", tt.invalid)
			}
			if strings.Contains(p.body, "data-secret") {
				t.Error("a secret was shown")
			}
			if n := len(h.allKeys()); n != 0 {
				t.Fatalf("%d keys created", n)
			}
		})
	}
}

func TestTheKeyListFiltersAndPages(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	var billing []string
	for range 60 {
		k, _ := h.newKey("billing", "batch")
		billing = append(billing, k.ID)
	}
	ship, _ := h.newKey("shipping", "Label printer", func(p *apikey.CreateParams) { p.Environment = auth.KeyEnvTest })
	gone, _ := h.newKey("shipping", "Old one")
	if _, err := h.Keys.Revoke(context.Background(), gone.ID, auth.ActorSystem); err != nil {
		t.Fatal(err)
	}
	slices.Sort(billing) // the list's order: IDs made in one millisecond are not in creation order
	due, _ := h.newKey("search", "Rotate me", func(p *apikey.CreateParams) { p.RotationPeriod = time.Hour })
	h.Clock.Add(2 * time.Hour)

	b := h.signIn("alice")
	p := b.get("/dashboard/keys?owner=billing")
	if got := listed(p); !slices.Equal(got, billing[:50]) {
		t.Fatalf("first page: %d keys %v", len(got), got)
	}
	m := nextRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatal("no Next page link")
	}
	next := html.UnescapeString(m[1])
	if u, _ := url.Parse(next); u.Query().Get("owner") != "billing" || u.Query().Get("after") == "" {
		t.Errorf("the next page link %s does not keep the filter", next)
	}
	p = b.get(next)
	if got := listed(p); !slices.Equal(got, billing[50:]) {
		t.Fatalf("second page: %v", got)
	}
	if nextRe.MatchString(p.body) {
		t.Error("the last page links to a next one")
	}

	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"q=label", []string{ship.ID}},
		{"q=+Label+", []string{ship.ID}},
		{"q=" + due.ID, []string{due.ID}},
		{"env=test", []string{ship.ID}},
		{"status=revoked", []string{gone.ID}},
		{"owner=shipping&status=active", []string{ship.ID}},
		{"due=1", []string{due.ID}},
		{"owner=nobody", nil},
	} {
		p := b.get("/dashboard/keys?" + tt.query)
		if p.StatusCode != http.StatusOK || !slices.Equal(listed(p), tt.want) {
			t.Errorf("%s: %d %v, want %v", tt.query, p.StatusCode, listed(p), tt.want)
		}
	}
	if p := b.get("/dashboard/keys?status=lost"); p.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown status: %d, want 400", p.StatusCode)
	}
}

func TestDevelopersSeeAndChangeOnlyTheirOwnersKeys(t *testing.T) {
	h := newHarness(t)
	h.user("dave", auth.RoleDeveloper, "billing")
	h.user("nora", auth.RoleDeveloper)
	mine, _ := h.newKey("billing", "Mine")
	theirs, _ := h.newKey("shipping", "Theirs")
	b := h.signIn("dave")

	if got := listed(b.get("/dashboard/keys")); !slices.Equal(got, []string{mine.ID}) {
		t.Errorf("list: %v, want only %s", got, mine.ID)
	}
	if got := listed(b.get("/dashboard/keys?owner=shipping")); len(got) != 0 {
		t.Errorf("another owner's filter lists %v", got)
	}
	if got := listed(b.get("/dashboard/keys?q=" + theirs.ID)); len(got) != 0 {
		t.Errorf("a search by ID finds another owner's key: %v", got)
	}
	missing := "/dashboard/keys/key_doesnotexist"
	for _, path := range []string{"", "/edit", "/rotate", "/revoke"} {
		p, want := b.get("/dashboard/keys/"+theirs.ID+path), b.get(missing+path)
		if p.StatusCode != http.StatusNotFound || p.body != want.body {
			t.Errorf("GET %s of another owner's key: %d, want the 404 of a missing key", path, p.StatusCode)
		}
	}
	for _, path := range []string{"/edit", "/rotate", "/revoke"} {
		p := b.post("/dashboard/keys/"+theirs.ID+path, url.Values{"name": {"taken"}, "grace": {"0"}})
		if p.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s of another owner's key: %d, want 404", path, p.StatusCode)
		}
	}
	if k, _ := h.Keys.Get(context.Background(), theirs.ID); k.Status(h.Clock.Now()) != auth.KeyActive || k.Name != "Theirs" || k.RotatedTo != "" {
		t.Fatalf("another owner's key was changed: %+v", k)
	}

	// Creating: the owner is a choice among theirs, and nothing else goes.
	form := b.get("/dashboard/keys/new")
	if !strings.Contains(form.body, `<select id="key-owner" name="owner"`) || strings.Contains(form.body, "shipping") {
		t.Error("a developer's owner field is not a select of their owners")
	}
	p := b.post("/dashboard/keys", url.Values{"owner": {"shipping"}, "name": {"sneaky"}})
	if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "only for your owners") {
		t.Errorf("creating for another owner: %d\n%s", p.StatusCode, p.body)
	}
	if n := len(h.allKeys()); n != 2 {
		t.Fatalf("%d keys after a refused create", n)
	}
	p = b.post("/dashboard/keys", url.Values{"owner": {"billing"}, "name": {"New one"}})
	if p.StatusCode != http.StatusCreated {
		t.Fatalf("creating for their owner: %d\n%s", p.StatusCode, p.body)
	}
	secretOf(t, p)

	// A developer without owners sees nothing and can create nothing.
	n := h.signIn("nora")
	if p := n.get("/dashboard/keys"); len(listed(p)) != 0 || !strings.Contains(p.body, "no owners") {
		t.Errorf("a developer without owners: %v", listed(p))
	}
	if p := n.post("/dashboard/keys", url.Values{"owner": {"billing"}}); p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "has no owners") {
		t.Errorf("a developer without owners created a key: %d", p.StatusCode)
	}
}

func TestRevokingAKeyAsksFirstAndIsAudited(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice", auth.RoleAdmin)
	k, secret := h.newKey("billing", "Invoices")
	b := h.signIn("alice")
	p := b.get("/dashboard/keys/" + k.ID + "/revoke")
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, "Invoices") || !strings.Contains(p.body, k.ID) {
		t.Fatalf("the confirmation does not name the key (%d):\n%s", p.StatusCode, p.body)
	}
	if got, _ := h.Keys.Get(context.Background(), k.ID); got.Status(h.Clock.Now()) != auth.KeyActive {
		t.Fatal("asking revoked the key")
	}
	f := p.form("Revoke key")
	p = b.post(f.action, f.fields)
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/dashboard/keys/"+k.ID+"?done=revoked" {
		t.Fatalf("revoke: %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	p = b.follow(p)
	if !strings.Contains(p.body, notices["revoked"]) || !strings.Contains(p.body, `<span class="badge revoked">revoked</span>`) {
		t.Errorf("the key's page does not show it revoked:\n%s", p.body)
	}
	if res, err := h.Keys.Verify(context.Background(), secret, nil); err != nil || res.Code != apikey.CodeRevoked {
		t.Errorf("the revoked key verifies: %v %v", res.Code, err)
	}
	events := h.keyEvents(k.ID)
	last := events[len(events)-1]
	if last.Type != auth.EventKeyRevoked || last.Actor != alice.ID {
		t.Errorf("last event %+v, want key.revoked by %s", last, alice.ID)
	}
	if !strings.Contains(p.body, auth.EventKeyRevoked) || !strings.Contains(p.body, "alice <code>"+alice.ID+"</code>") {
		t.Error("the key's audit trail does not show the revocation and its actor")
	}
}

func TestRotatingAKeyShowsTheNewOneOnce(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice", auth.RoleAdmin)
	k, oldSecret := h.newKey("billing", "Invoices")
	b := h.signIn("alice")
	p := b.get("/dashboard/keys/" + k.ID + "/rotate")
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, `value="24h" checked`) {
		t.Fatalf("rotate form (%d) without the default grace chosen:\n%s", p.StatusCode, p.body)
	}
	if p := b.post("/dashboard/keys/"+k.ID+"/rotate", url.Values{"grace": {"custom"}, "grace_custom": {"soon"}}); p.StatusCode != http.StatusBadRequest ||
		!strings.Contains(p.body, `value="soon"`) || !strings.Contains(p.body, "The grace period must be") {
		t.Errorf("a bad custom grace: %d", p.StatusCode)
	}
	if got, _ := h.Keys.Get(context.Background(), k.ID); got.RotatedTo != "" {
		t.Fatal("a refused rotation rotated")
	}
	p = b.post("/dashboard/keys/"+k.ID+"/rotate", url.Values{"grace": {"custom"}, "grace_custom": {"3d"}})
	if p.StatusCode != http.StatusCreated {
		t.Fatalf("rotate: %d\n%s", p.StatusCode, p.body)
	}
	secret := secretOf(t, p)
	res, err := h.Keys.Verify(context.Background(), secret, nil)
	if err != nil || !res.Valid() || res.Key.RotatedFrom != k.ID {
		t.Fatalf("the new key: %v %v", res.Code, err)
	}
	if !strings.Contains(p.body, `href="/dashboard/keys/`+res.Key.ID+`"`) {
		t.Error("no link to the new key")
	}
	old, _ := h.Keys.Get(context.Background(), k.ID)
	if !old.ExpiresAt.Equal(h.Clock.Now().Add(72*time.Hour)) || old.Status(h.Clock.Now()) != auth.KeyRotating {
		t.Errorf("the old key expires %v (%s), want in 3 days", old.ExpiresAt, old.Status(h.Clock.Now()))
	}
	if res, _ := h.Keys.Verify(context.Background(), oldSecret, nil); !res.Valid() {
		t.Error("the old key stopped working within its grace period")
	}
	if evs := h.keyEvents(k.ID); evs[len(evs)-1].Type != auth.EventKeyRotated || evs[len(evs)-1].Actor != alice.ID {
		t.Errorf("audit %+v", evs)
	}
	// A rotated key cannot be rotated again: said on the form.
	if p := b.post("/dashboard/keys/"+k.ID+"/rotate", url.Values{"grace": {"0"}}); p.StatusCode != http.StatusConflict || !strings.Contains(p.body, "already been rotated") {
		t.Errorf("rotating twice: %d", p.StatusCode)
	}
	// No grace: the old key is refused at once.
	k2, secret2 := h.newKey("billing", "Other")
	if p := b.post("/dashboard/keys/"+k2.ID+"/rotate", url.Values{"grace": {"0"}}); p.StatusCode != http.StatusCreated {
		t.Fatalf("rotate without grace: %d", p.StatusCode)
	}
	if res, _ := h.Keys.Verify(context.Background(), secret2, nil); res.Valid() {
		t.Error("the old key works after a rotation without grace")
	}
}

func TestEditingAKeyChangesWhatKeysUpdateCan(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice", auth.RoleAdmin)
	k, _ := h.newKey("billing", "Invoices", func(p *apikey.CreateParams) {
		p.Credits = &auth.Credits{Remaining: 10}
		p.ExpiresAt = h.Clock.Now().Add(time.Hour).Truncate(time.Microsecond)
	})
	b := h.signIn("alice")
	p := b.get("/dashboard/keys/" + k.ID + "/edit")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("edit form: %d", p.StatusCode)
	}
	f := p.form("Save changes")
	if f.fields.Get("name") != "Invoices" || f.fields.Get("scopes") != "read" || f.fields.Get("owner") != "" {
		t.Fatalf("the form is not filled in with the key (or lets the owner change): %v", f.fields)
	}
	// Saving the form as shown changes nothing.
	if p := b.post(f.action, f.fields); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving unchanged: %d\n%s", p.StatusCode, p.body)
	}
	if evs := h.keyEvents(k.ID); len(evs) != 1 {
		t.Fatalf("saving unchanged wrote %+v", evs[1:])
	}
	f.fields.Set("name", "Receipts")
	f.fields.Set("scopes", "read write")
	f.fields.Set("credits", "500")
	f.fields.Set("rate", "10/s")
	p = b.post(f.action, f.fields)
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/dashboard/keys/"+k.ID+"?done=updated" {
		t.Fatalf("save: %d %s\n%s", p.StatusCode, p.Header.Get("Location"), p.body)
	}
	got, _ := h.Keys.Get(context.Background(), k.ID)
	if got.Name != "Receipts" || !slices.Equal(got.Scopes, []string{"read", "write"}) || got.Credits.Remaining != 500 ||
		got.RateLimit.Rate != 10 || !got.ExpiresAt.Equal(k.ExpiresAt) {
		t.Errorf("after the edit: %+v", got)
	}
	evs := h.keyEvents(k.ID)
	if last := evs[len(evs)-1]; last.Type != auth.EventKeyUpdated || last.Actor != alice.ID {
		t.Errorf("audit %+v", last)
	}
	// Bad input: 400, shown, nothing written.
	f.fields.Set("name", "Again")
	f.fields.Set("expires", "yesterday-ish")
	if p := b.post(f.action, f.fields); p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "Expires must be") || !strings.Contains(p.body, `value="Again"`) {
		t.Errorf("bad edit: %d", p.StatusCode)
	}
	if got, _ := h.Keys.Get(context.Background(), k.ID); got.Name != "Receipts" {
		t.Error("a refused edit was written")
	}
	// The quota can be taken away.
	f = b.get("/dashboard/keys/" + k.ID + "/edit").form("Save changes")
	f.fields.Set("remove_credits", "1")
	if p := b.post(f.action, f.fields); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("removing the credits: %d\n%s", p.StatusCode, p.body)
	}
	if got, _ := h.Keys.Get(context.Background(), k.ID); got.Credits != nil {
		t.Errorf("credits %+v after removing them", got.Credits)
	}
	// A rotated key's form saves (its expiry, the grace period's end, is left alone).
	if _, _, err := h.Keys.Rotate(context.Background(), k.ID, time.Minute, auth.ActorSystem); err != nil {
		t.Fatal(err)
	}
	f = b.get("/dashboard/keys/" + k.ID + "/edit").form("Save changes")
	f.fields.Set("name", "Rotated")
	if p := b.post(f.action, f.fields); p.StatusCode != http.StatusSeeOther {
		t.Errorf("editing a rotated key: %d\n%s", p.StatusCode, p.body)
	}
}

func TestKeyPagesRenderUserInputInert(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	payloads := xssPayloads
	var ids []string
	for _, x := range payloads {
		k, _ := h.newKey(x, x, func(p *apikey.CreateParams) {
			p.Metadata = map[string]string{x: x}
			// A scope token may hold < and > (but no space or quote).
			p.Scopes = []string{"<script>alert(1)</script>", "<img/src=x/onerror=alert(1)>"}
		})
		ids = append(ids, k.ID)
	}
	b := h.signIn("alice")
	// Each page, with the payloads it must show escaped.
	pages := map[string][]string{
		"/dashboard/keys": payloads,
		"/dashboard/keys?q=" + url.QueryEscape(payloads[0]) + "&owner=" + url.QueryEscape(payloads[1]): payloads,
	}
	for i, id := range ids {
		for _, path := range []string{"", "/edit", "/rotate", "/revoke"} {
			pages["/dashboard/keys/"+id+path] = payloads[i : i+1]
		}
	}
	for path, shown := range pages {
		p := b.get(path)
		if p.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, p.StatusCode)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", "<img/src=x", `"><img`} {
			if strings.Contains(p.body, raw) {
				t.Errorf("%s renders %q unescaped", path, raw)
			}
		}
		for _, x := range shown {
			if !strings.Contains(p.body, html.EscapeString(x)) {
				t.Errorf("%s does not show %q escaped", path, x)
			}
		}
	}
	// Refused input echoed back on the form is inert too.
	p := b.post("/dashboard/keys", url.Values{"owner": {payloads[1]}, "name": {payloads[0]}, "expires": {payloads[1]}})
	if p.StatusCode != http.StatusBadRequest || strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, `"><img`) {
		t.Errorf("the refused form echoes the payload raw (%d)", p.StatusCode)
	}
}

func TestAKeysUsageChartShowsItsVerifications(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	k, secret := h.newKey("billing", "Invoices")
	ctx := context.Background()
	for _, scopes := range [][]string{nil, nil, {"admin"}} {
		if _, err := h.Keys.Verify(ctx, secret, scopes); err != nil {
			t.Fatal(err)
		}
	}
	flusher := usage.Flusher{Counter: h.Usage, Store: h.Store, Now: h.Clock.Now}
	if err := flusher.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	b := h.signIn("alice")
	for _, rg := range []string{"", "?range=24h", "?range=7d", "?range=30d", "?range=nonsense"} {
		p := b.get("/dashboard/keys/" + k.ID + rg)
		if p.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", rg, p.StatusCode)
		}
		if !strings.Contains(p.body, "VALID: 2") || !strings.Contains(p.body, "INSUFFICIENT_SCOPE: 1") || !strings.Contains(p.body, "<rect ") {
			t.Errorf("%s: the chart does not show 2 valid and 1 refused verification:\n%s", rg, p.body)
		}
	}
	p := b.get("/dashboard/keys/" + k.ID + "?range=7d")
	if !strings.Contains(p.body, `href="/dashboard/keys/`+k.ID+`?range=7d" aria-current="page"`) {
		t.Error("the 7 days tab is not marked current")
	}
	if n := strings.Count(p.body, `<th scope="row">`); n != 7*24 {
		t.Errorf("7 days in %d rows, want %d hours", n, 7*24)
	}
	p = b.get("/dashboard/keys/" + k.ID + "?range=30d")
	if n := strings.Count(p.body, `<th scope="row">`); n != 30 {
		t.Errorf("30 days in %d rows, want 30 days", n)
	}
}
