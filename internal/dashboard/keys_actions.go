package dashboard

import (
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Rotating and revoking a key: each behind a page that says what will
// happen, each the service call of the admin API's endpoint.

// graceChoice is one of the rotation form's grace periods.
type graceChoice struct {
	Value, Label string
}

// graceChoices are the usual grace periods; "custom" takes any duration.
var graceChoices = []graceChoice{
	{"0", "None: the old key is refused at once"},
	{"1h", "1 hour"},
	{"24h", "24 hours"},
	{"7d", "7 days"},
	{"custom", "Another period"},
}

// rotateData is the rotation form's content.
type rotateData struct {
	Key     keyRow
	Choices []graceChoice
	Grace   string // the chosen value
	Custom  string // the custom period as typed
	Message string
	Field   string
}

// handleKeyRotateForm serves GET /dashboard/keys/{id}/rotate.
func (s *Server) handleKeyRotateForm(w http.ResponseWriter, r *http.Request, v *viewer) {
	k, err := s.viewKey(r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := &rotateData{Key: newKeyRow(k, s.now())}
	for _, c := range graceChoices {
		// The admin API's default is the one chosen unless changed.
		if g, err := auth.ParseDuration(c.Value); err == nil && g == admin.DefaultGrace {
			d.Grace = c.Value
		}
	}
	s.showRotate(w, r, v, http.StatusOK, d)
}

func (s *Server) showRotate(w http.ResponseWriter, r *http.Request, v *viewer, status int, d *rotateData) {
	d.Choices = graceChoices
	s.show(w, r, v, status, "key_rotate.html", &view{Title: "Rotate " + keyTitle(d.Key.APIKey), Nav: "keys", Data: d})
}

// handleKeyRotate serves POST /dashboard/keys/{id}/rotate: the new key's
// plaintext is shown in this response only.
func (s *Server) handleKeyRotate(w http.ResponseWriter, r *http.Request, v *viewer) {
	k, err := s.viewKey(r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.checkKeySecret(v, k); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.now()
	d := &rotateData{Key: newKeyRow(k, now), Grace: r.PostForm.Get("grace"), Custom: strings.TrimSpace(r.PostForm.Get("grace_custom"))}
	grace, fe := parseGrace(d.Grace, d.Custom)
	if fe != nil {
		d.Message, d.Field = fe.Message, fe.Field
		s.showRotate(w, r, v, http.StatusBadRequest, d)
		return
	}
	next, secret, err := s.cfg.Keys.Rotate(r.Context(), k.ID, grace, v.actor())
	if err != nil {
		if status, ok := formRefused(err); ok {
			d.Message = auth.ErrorMessage(err)
			s.showRotate(w, r, v, status, d)
			return
		}
		s.fail(w, r, err)
		return
	}
	sd := &secretData{Heading: "Key rotated", Secret: secret, Key: newKeyRow(next, now)}
	// The plaintext exists only in this response: a failed read of the
	// old key must not lose it, so the page then goes without it.
	if old, err := s.cfg.Keys.Get(r.Context(), k.ID); err == nil {
		row := newKeyRow(old, now)
		sd.Old = &row
	} else {
		s.logger.ErrorContext(r.Context(), "dashboard: read rotated key back", "key_id", k.ID, "err", err)
	}
	s.show(w, r, v, http.StatusCreated, "key_secret.html", &view{Title: "Key rotated", Nav: "keys", Data: sd})
}

// parseGrace reads the chosen grace period.
func parseGrace(choice, custom string) (time.Duration, *fieldError) {
	if choice == "custom" {
		d, err := auth.ParseDuration(custom)
		if err != nil || d < 0 {
			return 0, &fieldError{Field: "grace_custom", Message: "The grace period must be a duration like 3d or 12h."}
		}
		return d, nil
	}
	for _, c := range graceChoices {
		if c.Value == choice {
			d, _ := auth.ParseDuration(choice)
			return d, nil
		}
	}
	return 0, &fieldError{Field: "grace", Message: "Choose a grace period."}
}

// handleKeyRevokeForm serves GET /dashboard/keys/{id}/revoke: a
// confirmation that names the key.
func (s *Server) handleKeyRevokeForm(w http.ResponseWriter, r *http.Request, v *viewer) {
	k, err := s.viewKey(r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.show(w, r, v, http.StatusOK, "key_revoke.html", &view{Title: "Revoke " + keyTitle(k), Nav: "keys", Data: newKeyRow(k, s.now())})
}

// handleKeyRevoke serves POST /dashboard/keys/{id}/revoke. Revoking a
// revoked key changes nothing, as in the admin API.
func (s *Server) handleKeyRevoke(w http.ResponseWriter, r *http.Request, v *viewer) {
	k, err := s.viewKey(r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.cfg.Keys.Revoke(r.Context(), k.ID, v.actor()); err != nil {
		s.fail(w, r, err)
		return
	}
	redirectDone(w, r, keyPath(k.ID), "revoked")
}
