package dashboard

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The key form, for creating a key and for editing one. The form reads
// what people type (30d, 100/s, "read write") with the parsers the CLI
// uses (internal/auth), and leaves every rule to apikey.Service, as the
// admin API does: a refusal is shown on the form, with what was typed.

// keyForm is the form's values as typed.
type keyForm struct {
	Owner, Name, Scopes, Environment, Metadata string
	Expires, Rate, Burst, Rotation             string
	Credits, RefillAmount, RefillInterval      string
	AllowedIPs                                 string
	RemoveCredits                              bool // edit only
}

func readKeyForm(r *http.Request) keyForm {
	g := r.PostForm.Get
	return keyForm{
		Owner: strings.TrimSpace(g("owner")), Name: g("name"), Scopes: g("scopes"), Environment: g("environment"),
		Metadata: g("metadata"), Expires: strings.TrimSpace(g("expires")), Rate: strings.TrimSpace(g("rate")),
		Burst: strings.TrimSpace(g("burst")), Rotation: strings.TrimSpace(g("rotation")),
		Credits: strings.TrimSpace(g("credits")), RefillAmount: strings.TrimSpace(g("refill_amount")),
		RefillInterval: g("refill_interval"), AllowedIPs: g("allowed_ips"), RemoveCredits: g("remove_credits") != "",
	}
}

// fieldError is bad input in one field of a form: the page marks that
// field and says why beside it.
type fieldError struct {
	Field   string // the input's name
	Message string
}

func (e *fieldError) Error() string { return e.Message }

func badField(field, format string, args ...any) error {
	return &fieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// envChoice is an environment the service offers, with the prefix of its keys.
type envChoice struct {
	Name, Prefix string
}

// keyFormData is the form page's content.
type keyFormData struct {
	Edit         bool
	Key          keyRow // the key edited
	Action       string
	Form         keyForm
	OwnerChoices []string // a developer's owners; nil for admins (free text)
	NoOwners     bool     // a developer without owners cannot create keys
	Envs         []envChoice
	Intervals    []string
	Message      string // the refusal, shown above the form
	Field        string // the field it is about, if one
	// Restricted says the viewer grants only Grantable (grants.go).
	Restricted bool
	Grantable  []string
}

// showKeyForm renders the form, with err's message when it was refused.
func (s *Server) showKeyForm(w http.ResponseWriter, r *http.Request, v *viewer, status int, d *keyFormData, err error) {
	d.Intervals = []string{auth.RefillDaily, auth.RefillMonthly}
	d.Restricted, d.Grantable = !v.admin(), s.cfg.DeveloperScopes
	if !d.Edit {
		d.Action = "/dashboard/keys"
		for _, env := range auth.KeyEnvironments {
			d.Envs = append(d.Envs, envChoice{Name: env, Prefix: s.cfg.Keys.EnvironmentPrefix(env)})
		}
		if !v.admin() {
			d.OwnerChoices = v.user.Owners
			d.NoOwners = len(v.user.Owners) == 0
		}
	}
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		d.Message, d.Field = fe.Message, fe.Field
	case err != nil:
		d.Message = auth.ErrorMessage(err)
	}
	title := "New API key"
	if d.Edit {
		title = "Edit " + keyTitle(d.Key.APIKey)
	}
	s.show(w, r, v, status, "key_form.html", &view{Title: title, Nav: "keys", Data: d})
}

// formRefused reports whether err is a refusal to show on the form (bad
// input, or a change the key's state forbids), and its status.
func formRefused(err error) (int, bool) {
	var fe *fieldError
	if errors.As(err, &fe) {
		return http.StatusBadRequest, true
	}
	switch auth.ErrorCode(err) {
	case auth.EINVALID, auth.ECONFLICT:
		status, _ := admin.StatusOf(err)
		return status, true
	}
	return 0, false
}

// handleKeyNew serves GET /dashboard/keys/new: the empty form, the
// service's default environment chosen.
func (s *Server) handleKeyNew(w http.ResponseWriter, r *http.Request, v *viewer) {
	d := &keyFormData{Form: keyForm{Environment: s.cfg.Keys.Environment(), RefillInterval: auth.RefillMonthly}}
	if !v.admin() && len(v.user.Owners) == 1 {
		d.Form.Owner = v.user.Owners[0]
	}
	s.showKeyForm(w, r, v, http.StatusOK, d, nil)
}

// secretData is the page that shows a new key's plaintext, once.
type secretData struct {
	Heading string
	Secret  string
	Key     keyRow // the new key
	Old     *keyRow
}

// handleKeyCreate serves POST /dashboard/keys: the key is created with the
// viewer as the actor and its plaintext shown in this response only.
func (s *Server) handleKeyCreate(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := readKeyForm(r)
	now := s.now()
	p, err := createParams(f, v, now)
	if err == nil {
		err = s.checkKeyScopes(v, p.Scopes, nil)
	}
	var (
		k      *auth.APIKey
		secret string
	)
	if err == nil {
		p.Actor = v.actor()
		k, secret, err = s.cfg.Keys.Create(r.Context(), p)
	}
	if err != nil {
		if status, ok := formRefused(err); ok {
			s.showKeyForm(w, r, v, status, &keyFormData{Form: f}, err)
			return
		}
		s.fail(w, r, err)
		return
	}
	s.show(w, r, v, http.StatusCreated, "key_secret.html", &view{
		Title: "Key created", Nav: "keys",
		Data: &secretData{Heading: "Key created", Secret: secret, Key: newKeyRow(k, now)},
	})
}

// createParams reads the form into the service's parameters; the
// service checks every rule but one: a developer creates keys for their
// owners only.
func createParams(f keyForm, v *viewer, now time.Time) (apikey.CreateParams, error) {
	p := apikey.CreateParams{Owner: f.Owner, Name: f.Name, Scopes: auth.SplitList(f.Scopes), Environment: f.Environment}
	if f.Owner == "" {
		return p, badField("owner", "Owner is required: the service or team the key belongs to.")
	}
	switch {
	case !v.admin() && len(v.user.Owners) == 0:
		return p, badField("owner", "Your account has no owners, so it cannot create keys; an administrator can give it some.")
	case !v.owns(f.Owner):
		return p, badField("owner", "You can create keys only for your owners (%s).", strings.Join(v.user.Owners, ", "))
	}
	var err error
	if p.Metadata, err = parseMetadata(f.Metadata); err != nil {
		return p, err
	}
	if p.ExpiresAt, err = parseExpiry(f.Expires, now); err != nil {
		return p, err
	}
	if p.RateLimit, err = parseRateLimit(f.Rate, f.Burst); err != nil {
		return p, err
	}
	if f.Rotation != "" {
		d, err := auth.ParseDuration(f.Rotation)
		if err != nil || d <= 0 {
			return p, badField("rotation", "Rotation period must be a duration like 90d or 720h.")
		}
		p.RotationPeriod = d
	}
	if f.Credits != "" {
		n, err := auth.ParseCredits(f.Credits)
		if err != nil {
			return p, badField("credits", "Credits must be a whole number, like 1000.")
		}
		p.Credits = &auth.Credits{Remaining: n}
		if p.Credits.Refill, err = parseRefill(f.RefillAmount, f.RefillInterval); err != nil {
			return p, err
		}
	} else if f.RefillAmount != "" {
		return p, badField("credits", "A refill needs credits to start with.")
	}
	if p.AllowedIPs, err = parseNetworks(f.AllowedIPs); err != nil {
		return p, err
	}
	return p, nil
}

// parseExpiry reads an expiry typed as a lifetime from now (90d, 12h) or
// a date (2030-01-31, midnight UTC) or an RFC 3339 time; "" or "never" is
// no expiry.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" || s == "never" {
		return time.Time{}, nil
	}
	if d, err := auth.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, badField("expires", "Expires must be a positive duration or a date.")
		}
		// Microseconds are what every backend keeps.
		return now.Add(d).Truncate(time.Microsecond), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Truncate(time.Microsecond), nil
	}
	return time.Time{}, badField("expires", "Expires must be a duration like 90d or 12h, or a date like 2030-01-31.")
}

// parseRateLimit reads a rate like 100/s and an optional burst; no rate is
// no limit.
func parseRateLimit(rate, burst string) (auth.RateLimit, error) {
	var l auth.RateLimit
	if rate == "" {
		if burst != "" {
			return l, badField("burst", "A burst needs a rate.")
		}
		return l, nil
	}
	var err error
	if l.Rate, err = auth.ParseRate(rate); err != nil {
		return l, badField("rate", "Rate limit must be a number per s, m, h or d, like 100/s.")
	}
	if burst != "" {
		if l.Burst, err = strconv.Atoi(burst); err != nil {
			return l, badField("burst", "Burst must be a whole number of requests.")
		}
	}
	return l, nil
}

// parseRefill reads the refill fields: no amount is no refill.
func parseRefill(amount, interval string) (auth.CreditRefill, error) {
	if amount == "" {
		return auth.CreditRefill{}, nil
	}
	n, err := auth.ParseCredits(amount)
	if err != nil {
		return auth.CreditRefill{}, badField("refill_amount", "Refill must be a whole number of credits, like 1000.")
	}
	r, err := auth.ParseRefill(strconv.FormatInt(n, 10) + "/" + interval)
	if err != nil {
		return auth.CreditRefill{}, badField("refill_interval", "Refill interval must be day or month.")
	}
	return r, nil
}

// parseNetworks reads allowed networks separated by spaces, commas or lines.
func parseNetworks(s string) ([]netip.Prefix, error) {
	list := auth.SplitList(strings.NewReplacer("\r", " ", "\n", " ").Replace(s))
	nets, err := auth.ParseAllowedIPs(list)
	if err != nil {
		return nil, &fieldError{Field: "allowed_ips", Message: auth.ErrorMessage(err)}
	}
	return nets, nil
}

// parseMetadata reads metadata typed as one key=value per line.
func parseMetadata(s string) (map[string]string, error) {
	var m map[string]string
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, badField("metadata", "Metadata must be one key=value per line.")
		}
		if m == nil {
			m = map[string]string{}
		}
		m[strings.TrimSpace(k)] = val
	}
	return m, nil
}

// formatMetadata writes metadata as parseMetadata reads it, keys sorted.
func formatMetadata(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(k + "=" + m[k] + "\n")
	}
	return b.String()
}

// editForm fills the form with the key as it is.
func editForm(k *auth.APIKey) keyForm {
	f := keyForm{
		Owner: k.Owner, Name: k.Name, Scopes: strings.Join(k.Scopes, " "), Environment: k.Environment(),
		Metadata: formatMetadata(k.Metadata), Rate: formatRateLimit(k.RateLimit),
		AllowedIPs: strings.Join(auth.FormatAllowedIPs(k.AllowedIPs), " "), RefillInterval: auth.RefillMonthly,
	}
	if !k.RateLimit.Unlimited() {
		f.Burst = strconv.Itoa(k.RateLimit.Burst)
	}
	if !k.ExpiresAt.IsZero() {
		f.Expires = k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if c := k.Credits; c != nil && c.Refill.Amount > 0 {
		f.RefillAmount, f.RefillInterval = strconv.FormatInt(c.Refill.Amount, 10), c.Refill.Interval
	}
	return f
}

// handleKeyEditForm serves GET /dashboard/keys/{id}/edit: what `gatehouse
// keys update` can change, filled in.
func (s *Server) handleKeyEditForm(w http.ResponseWriter, r *http.Request, v *viewer) {
	k, err := s.viewKey(r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := &keyFormData{Edit: true, Key: newKeyRow(k, s.now()), Action: keyPath(k.ID) + "/edit", Form: editForm(k)}
	s.showKeyForm(w, r, v, http.StatusOK, d, nil)
}

// handleKeyEdit serves POST /dashboard/keys/{id}/edit with the service
// call of PATCH /admin/v1/keys/{id}: what did not change writes nothing.
func (s *Server) handleKeyEdit(w http.ResponseWriter, r *http.Request, v *viewer) {
	k, err := s.viewKey(r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := readKeyForm(r)
	p, err := updateParams(f, k, s.now())
	if err == nil {
		err = s.checkKeyScopes(v, *p.Scopes, k.Scopes)
	}
	if err == nil {
		p.Actor = v.actor()
		_, err = s.cfg.Keys.Update(r.Context(), k.ID, p)
	}
	if err != nil {
		if status, ok := formRefused(err); ok {
			// What cannot change is shown as it is, not as posted.
			f.Owner, f.Environment = k.Owner, k.Environment()
			d := &keyFormData{Edit: true, Key: newKeyRow(k, s.now()), Action: keyPath(k.ID) + "/edit", Form: f}
			s.showKeyForm(w, r, v, status, d, err)
			return
		}
		s.fail(w, r, err)
		return
	}
	redirectDone(w, r, keyPath(k.ID), "updated")
}

// updateParams reads the edit form into an update of every field it
// shows. An expiry left as shown is not sent: a rotated key's expiry is
// its grace period's end, which only the rotation sets.
func updateParams(f keyForm, k *auth.APIKey, now time.Time) (apikey.UpdateParams, error) {
	scopes := auth.SplitList(f.Scopes)
	p := apikey.UpdateParams{Name: &f.Name, Scopes: &scopes}
	meta, err := parseMetadata(f.Metadata)
	if err != nil {
		return p, err
	}
	if meta == nil {
		meta = map[string]string{}
	}
	p.Metadata = &meta
	limit, err := parseRateLimit(f.Rate, f.Burst)
	if err != nil {
		return p, err
	}
	p.RateLimit = &limit
	if shown := editForm(k).Expires; f.Expires != shown {
		t, err := parseExpiry(f.Expires, now)
		if err != nil {
			return p, err
		}
		p.ExpiresAt = &t
	}
	nets, err := parseNetworks(f.AllowedIPs)
	if err != nil {
		return p, err
	}
	if nets == nil {
		nets = []netip.Prefix{}
	}
	p.AllowedIPs = &nets
	if p.Credits, err = creditsUpdate(f, k); err != nil {
		return p, err
	}
	return p, nil
}

// creditsUpdate reads the credit fields of the edit form: an empty
// Credits field keeps the credits left (setting it starts the count over
// on every node); the refill is set as shown.
func creditsUpdate(f keyForm, k *auth.APIKey) (*apikey.CreditsUpdate, error) {
	if f.RemoveCredits {
		if k.Credits == nil {
			return nil, nil
		}
		return &apikey.CreditsUpdate{Remove: true}, nil
	}
	u := &apikey.CreditsUpdate{}
	if f.Credits != "" {
		n, err := auth.ParseCredits(f.Credits)
		if err != nil {
			return nil, badField("credits", "Credits must be a whole number, like 1000.")
		}
		u.Remaining = &n
	}
	if f.RefillAmount != "" || k.Credits != nil {
		r, err := parseRefill(f.RefillAmount, f.RefillInterval)
		if err != nil {
			return nil, err
		}
		u.Refill = &r
	}
	if u.Remaining == nil && (u.Refill == nil || (k.Credits == nil && u.Refill.Amount == 0)) {
		return nil, nil
	}
	return u, nil
}
