package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// handleCreateKey serves POST /admin/v1/keys: 201 with the record, the
// plaintext (the only time it is shown) and a Location header.
func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request) error {
	var req CreateKeyRequest
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &req); err != nil {
		return err
	}
	now := s.now()
	params, err := createParams(req, now)
	if err != nil {
		return err
	}
	params.Actor = actorOf(r)
	key, secret, err := s.keys.Create(r.Context(), params)
	if err != nil {
		return fmt.Errorf("admin: create key: %w", err)
	}
	w.Header().Set("Location", keyPath(key.ID))
	s.writeJSON(w, r, http.StatusCreated, CreatedKey{Key: keyFromRecord(key, now), Secret: secret})
	return nil
}

// createParams checks the formats the transport owns (durations and times)
// and leaves every other rule to the key service, so they live in one place.
func createParams(req CreateKeyRequest, now time.Time) (apikey.CreateParams, error) {
	p := apikey.CreateParams{
		Owner:       req.Owner,
		Name:        req.Name,
		Scopes:      req.Scopes,
		Metadata:    req.Metadata,
		Environment: req.Environment,
	}
	switch {
	case req.ExpiresIn != "" && req.ExpiresAt != "":
		return p, auth.Errorf(auth.EINVALID, "Give at most one of \"expires_in\" and \"expires_at\".")
	case req.ExpiresIn != "":
		d, err := parseDuration("expires_in", req.ExpiresIn)
		if err != nil {
			return p, err
		}
		if d <= 0 {
			return p, auth.Errorf(auth.EINVALID, "The member \"expires_in\" must be a positive duration.")
		}
		p.ExpiresAt = now.Add(d).Truncate(time.Microsecond)
	case req.ExpiresAt != "":
		t, err := parseExpiresAt(req.ExpiresAt)
		if err != nil {
			return p, err
		}
		p.ExpiresAt = t
	}
	if req.RateLimit != nil {
		p.RateLimit = auth.RateLimit{Rate: req.RateLimit.Rate, Burst: req.RateLimit.Burst}
	}
	if req.Credits != nil {
		if req.Credits.Remaining == nil {
			return p, auth.Errorf(auth.EINVALID, "The member \"credits.remaining\" is required.")
		}
		p.Credits = &auth.Credits{Remaining: *req.Credits.Remaining}
		if r := req.Credits.Refill; r != nil {
			p.Credits.Refill = auth.CreditRefill{Amount: r.Amount, Interval: r.Interval}
		}
	}
	if req.AllowedIPs != nil {
		nets, err := auth.ParseAllowedIPs(req.AllowedIPs)
		if err != nil {
			return p, err
		}
		p.AllowedIPs = nets
	}
	if req.RotationPeriod != "" {
		d, err := parseDuration("rotation_period", req.RotationPeriod)
		if err != nil {
			return p, err
		}
		if d <= 0 {
			return p, auth.Errorf(auth.EINVALID, "The member \"rotation_period\" must be a positive duration.")
		}
		p.RotationPeriod = d
	}
	return p, nil
}

// parseExpiresAt reads the RFC 3339 time of the "expires_at" member, at the
// precision every backend keeps.
func parseExpiresAt(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, auth.Errorf(auth.EINVALID, "The member \"expires_at\" must be an RFC 3339 time such as \"2030-01-02T15:04:05Z\".")
	}
	// Microseconds are what every backend keeps (see auth.SystemNow):
	// truncated here, the response shows what a later read will.
	return t.UTC().Truncate(time.Microsecond), nil
}

// handleUpdateKey serves PATCH /admin/v1/keys/{id} (see KeyPatch): 200
// with the key as updated; 404 for an unknown key, 409 for a revoked one.
func (s *Server) handleUpdateKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var patch KeyPatch
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &patch); err != nil {
		return err
	}
	p, err := updateParams(patch)
	if err != nil {
		return err
	}
	p.Actor = actorOf(r)
	key, err := s.keys.Update(r.Context(), id, p)
	if err != nil {
		return fmt.Errorf("admin: update key: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, keyFromRecord(key, s.now()))
	return nil
}

// updateParams checks the formats the transport owns (times, networks) and
// leaves every other rule to the key service.
func updateParams(patch KeyPatch) (apikey.UpdateParams, error) {
	var p apikey.UpdateParams
	// A key always has a name (maybe "") and scopes (maybe none): null
	// would remove nothing, so it is refused rather than ignored.
	switch {
	case patch.Name.Null:
		return p, auth.Errorf(auth.EINVALID, "The member %q cannot be null.", "name")
	case patch.Scopes.Null:
		return p, auth.Errorf(auth.EINVALID, "The member %q cannot be null.", "scopes")
	}
	if patch.Name.Set {
		p.Name = &patch.Name.Value
	}
	if patch.Scopes.Set {
		p.Scopes = &patch.Scopes.Value
	}
	if m := patch.Metadata; m.Set {
		meta := m.Value // null: none
		if meta == nil {
			meta = map[string]string{}
		}
		p.Metadata = &meta
	}
	if l := patch.RateLimit; l.Set {
		p.RateLimit = &auth.RateLimit{} // null: unlimited
		if !l.Null {
			*p.RateLimit = auth.RateLimit{Rate: l.Value.Rate, Burst: l.Value.Burst}
		}
	}
	if e := patch.ExpiresAt; e.Set {
		var t time.Time // null: never
		if !e.Null {
			var err error
			if t, err = parseExpiresAt(e.Value); err != nil {
				return p, err
			}
		}
		p.ExpiresAt = &t
	}
	if c := patch.Credits; c.Set {
		u := &apikey.CreditsUpdate{Remove: c.Null, Remaining: c.Value.Remaining}
		if r := c.Value.Refill; r.Set {
			u.Refill = &auth.CreditRefill{} // null: no refill
			if !r.Null {
				*u.Refill = auth.CreditRefill{Amount: r.Value.Amount, Interval: r.Value.Interval}
			}
		}
		if !c.Null && u.Remaining == nil && u.Refill == nil {
			return p, auth.Errorf(auth.EINVALID, "The member \"credits\" must set \"remaining\" or \"refill\", or be null to remove the credits.")
		}
		p.Credits = u
	}
	if a := patch.AllowedIPs; a.Set {
		nets, err := auth.ParseAllowedIPs(a.Value) // null: any address
		if err != nil {
			return p, err
		}
		if nets == nil {
			nets = []netip.Prefix{}
		}
		p.AllowedIPs = &nets
	}
	return p, nil
}

// parseDuration reads a Go duration string for the named member.
func parseDuration(member, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, auth.Errorf(auth.EINVALID, "The member %q must be a duration such as \"720h\" or \"90m\".", member)
	}
	return d, nil
}

// handleListKeys serves GET /admin/v1/keys.
func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r, "owner", "limit", "cursor", "rotation_due")
	if err != nil {
		return err
	}
	limit, err := pageLimit(q)
	if err != nil {
		return err
	}
	due, err := boolParam(q, "rotation_due")
	if err != nil {
		return err
	}
	now := s.now()
	f := auth.APIKeyFilter{Owner: q.Get("owner"), After: q.Get("cursor"), Limit: limit}
	if due {
		f.RotationDueBy = now
	}
	keys, next, err := s.keys.List(r.Context(), f)
	if err != nil {
		return fmt.Errorf("admin: list keys: %w", err)
	}
	out := KeyList{Items: make([]Key, 0, len(keys)), NextCursor: next}
	for _, k := range keys {
		out.Items = append(out.Items, keyFromRecord(k, now))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// handleGetKey serves GET /admin/v1/keys/{id}.
func (s *Server) handleGetKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	key, err := s.keys.Get(r.Context(), id)
	if err != nil {
		return fmt.Errorf("admin: get key: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, keyFromRecord(key, s.now()))
	return nil
}

// handleRotateKey serves POST /admin/v1/keys/{id}/rotate: 201 with the new
// key (and its plaintext, shown once) and the old key as updated.
func (s *Server) handleRotateKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req RotateKeyRequest
	if err := decodeJSON(w, r, s.maxBody, bodyOptional, &req); err != nil {
		return err
	}
	grace := DefaultGrace
	if req.Grace != "" {
		if grace, err = parseDuration("grace", req.Grace); err != nil {
			return err
		}
		if grace < 0 {
			return auth.Errorf(auth.EINVALID, "The member \"grace\" must not be negative.")
		}
	}
	next, secret, err := s.keys.Rotate(r.Context(), id, grace, actorOf(r))
	if err != nil {
		return fmt.Errorf("admin: rotate key: %w", err)
	}
	now := s.now()
	out := RotatedKey{NewKey: CreatedKey{Key: keyFromRecord(next, now), Secret: secret}}
	// From here on the rotation is done and its plaintext exists only in this
	// response: failing now would lose it, so a failed read of the old key
	// is logged and the response goes out without it.
	if old, err := s.keys.Get(r.Context(), id); err != nil {
		s.logger.ErrorContext(r.Context(), "admin: read rotated key back",
			"key_id", id, "new_key_id", next.ID, "err", err)
	} else {
		k := keyFromRecord(old, now)
		out.OldKey = &k
	}
	w.Header().Set("Location", keyPath(next.ID))
	s.writeJSON(w, r, http.StatusCreated, out)
	return nil
}

// handleRevokeKey serves POST /admin/v1/keys/{id}/revoke. Revoking a revoked
// key is not an error: the answer is the record as it is.
func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	// No members are defined; an empty body or {} are both fine.
	var req struct{}
	if err := decodeJSON(w, r, s.maxBody, bodyOptional, &req); err != nil {
		return err
	}
	key, err := s.keys.Revoke(r.Context(), id, actorOf(r))
	if err != nil {
		return fmt.Errorf("admin: revoke key: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, keyFromRecord(key, s.now()))
	return nil
}

func keyPath(id string) string { return "/admin/v1/keys/" + url.PathEscape(id) }

type actorKey struct{}

// withActor records the ID of the authenticated admin key or user for the
// handlers.
func withActor(r *http.Request, actor string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), actorKey{}, actor))
}

// actorOf returns the ID of the admin key, or of the user whose access
// token, authenticated r: the Actor of the audit events the request causes.
func actorOf(r *http.Request) string {
	actor, _ := r.Context().Value(actorKey{}).(string)
	return actor
}
