package dashboard

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/factors"
)

// Users (admins only): the list, creation, and on a user's page
// disable/enable, password reset, role and owners, and their consents.
// Every change goes through account.Service as the admin API's does; an
// admin cannot lock themselves out (disable themselves or drop their own
// admin role).

func (s *Server) userPages() []page {
	return []page{
		{"GET /dashboard/users", adminOnly, s.handleUsers},
		{"POST /dashboard/users", adminOnly, s.handleCreateUser},
		{"GET /dashboard/users/new", adminOnly, s.handleNewUser},
		{"GET /dashboard/users/{id}", adminOnly, s.handleUser},
		{"POST /dashboard/users/{id}/disable", adminOnly, s.handleDisableUser},
		{"POST /dashboard/users/{id}/enable", adminOnly, s.handleEnableUser},
		{"POST /dashboard/users/{id}/password", adminOnly, s.handleResetUserPassword},
		{"POST /dashboard/users/{id}/reset-link", adminOnly, s.handleUserResetLink},
		{"POST /dashboard/users/{id}/factors/reset", adminOnly, s.handleUserFactorsReset},
		{"POST /dashboard/users/{id}/access", adminOnly, s.handleUserAccess},
		{"POST /dashboard/users/{id}/consents/{client}/revoke", adminOnly, s.handleRevokeUserConsent},
	}
}

// userPageSize is how many users one page of the list shows.
const userPageSize = 50

type userListData struct {
	Users []*auth.User
	Next  string
}

func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, v *viewer) {
	us, next, err := s.cfg.Users.List(r.Context(), auth.UserFilter{After: r.URL.Query().Get("after"), Limit: userPageSize})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := userListData{Users: us}
	if next != "" {
		d.Next = "/dashboard/users?" + url.Values{"after": {next}}.Encode()
	}
	s.show(w, r, v, http.StatusOK, "users.html", &view{Title: "Users", Nav: "users", Data: d})
}

// userForm is the create form as typed (never the password).
type userForm struct {
	Username, Role, Owners, Email, Name string
}

type userFormData struct {
	formError
	Form userForm
}

// userFields maps the account service's messages to the create form's
// fields, by their start (which quotes no input).
var userFields = []struct{ prefix, field string }{
	{"The username", "username"},
	{"The password", "password"},
	{"The email", "email"},
	{"An email", "email"},
	{"The name", "name"},
	{"The role", "role"},
	{"An owner", "owners"},
	{"owner must", "owners"},
	{"A user may have at most", "owners"},
}

func (s *Server) handleNewUser(w http.ResponseWriter, r *http.Request, v *viewer) {
	s.showUserForm(w, r, v, userFormData{Form: userForm{Role: auth.RoleDeveloper}}, nil)
}

func (s *Server) showUserForm(w http.ResponseWriter, r *http.Request, v *viewer, d userFormData, err error) {
	status := http.StatusOK
	if err != nil {
		switch auth.ErrorCode(err) {
		case auth.EINVALID, auth.ECONFLICT:
		default:
			s.fail(w, r, err)
			return
		}
		status, _ = admin.StatusOf(err)
		d.Error = auth.ErrorMessage(err)
		d.Field = fieldOf(userFields, d.Error)
	}
	s.show(w, r, v, status, "userform.html", &view{Title: "New user", Nav: "users", Data: d})
}

// userSecretData shows a user and a password generated for them, once.
type userSecretData struct {
	User     *auth.User
	Password string
	Reset    bool
}

// generatePassword makes a password for a user who will be told it once:
// 128 random bits (crypto/rand.Text), well past the policy's minimum.
func generatePassword() string { return rand.Text() }

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := r.PostForm
	form := userForm{
		Username: strings.TrimSpace(f.Get("username")),
		Role:     f.Get("role"),
		Owners:   f.Get("owners"),
		Email:    strings.TrimSpace(f.Get("email")),
		Name:     f.Get("name"),
	}
	pw := f.Get("password")
	generated := pw == ""
	if generated {
		pw = generatePassword()
	}
	u, err := s.cfg.Users.Create(r.Context(), v.actor(), account.CreateInput{
		Username: form.Username,
		Password: pw,
		Email:    form.Email,
		Name:     form.Name,
		Role:     form.Role,
		Owners:   auth.SplitOwners(form.Owners),
	})
	if err != nil {
		s.showUserForm(w, r, v, userFormData{Form: form}, err)
		return
	}
	if !generated {
		redirectDone(w, r, userPath(u.ID), "created")
		return
	}
	s.show(w, r, v, http.StatusCreated, "usersecret.html", &view{
		Title: "User created", Nav: "users", Data: userSecretData{User: u, Password: pw},
	})
}

func userPath(id string) string { return "/dashboard/users/" + url.PathEscape(id) }

// userConsent is a consent with the client's name, when it still exists.
type userConsent struct {
	*auth.Consent
	ClientName string
}

type userData struct {
	User     *auth.User
	Self     bool // the signed-in admin's own account
	Consents []userConsent
	Owners   string // as the access form shows them
	Role     string
	// The refusal of one of the page's forms, shown next to it.
	Access   formError
	Password formError
	Action   formError // disable, enable, consent revocation
	// ResetLink is the refusal of the reset-link form.
	ResetLink formError
	// Factors are the user's second factors (nil: not served);
	// FactorsError the refusal of a removal.
	Factors      *factors.Factors
	FactorsError formError
}

// getUser reads the user of the request's path.
func (s *Server) getUser(ctx context.Context, r *http.Request) (*auth.User, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	u, err := s.cfg.Users.Get(ctx, id)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, hidden("user")
	}
	return u, err
}

// userPage builds a user's page.
func (s *Server) userPage(ctx context.Context, v *viewer, u *auth.User) (*userData, error) {
	cs, err := s.cfg.Consents.ListConsents(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	d := &userData{User: u, Self: u.ID == v.user.ID, Owners: strings.Join(u.Owners, ", "), Role: u.Role}
	for _, c := range cs {
		uc := userConsent{Consent: c}
		if cl, err := s.cfg.Clients.Get(ctx, c.ClientID); err == nil {
			uc.ClientName = cl.Name
		}
		d.Consents = append(d.Consents, uc)
	}
	if s.cfg.Factors != nil {
		if d.Factors, err = s.cfg.Factors.List(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request, v *viewer) {
	u, err := s.getUser(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.userPage(r.Context(), v, u)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showUser(w, r, v, http.StatusOK, d, "")
}

func (s *Server) showUser(w http.ResponseWriter, r *http.Request, v *viewer, status int, d *userData, password string) {
	tmpl := "user.html"
	var data any = d
	if password != "" {
		tmpl = "usersecret.html"
		data = userSecretData{User: d.User, Password: password, Reset: true}
	}
	s.show(w, r, v, status, tmpl, &view{Title: d.User.Username, Nav: "users", Data: data})
}

// refuseOnUser shows the user's page again with err next to the form it
// refuses (which picks the field of formError to set), or the error page
// for anything but a refusal of the input.
func (s *Server) refuseOnUser(w http.ResponseWriter, r *http.Request, v *viewer, u *auth.User, err error, set func(*userData, formError)) {
	switch auth.ErrorCode(err) {
	case auth.EINVALID, auth.ECONFLICT, auth.EFORBIDDEN:
	default:
		s.fail(w, r, err)
		return
	}
	d, perr := s.userPage(r.Context(), v, u)
	if perr != nil {
		s.fail(w, r, perr)
		return
	}
	msg := auth.ErrorMessage(err)
	set(d, formError{Error: msg, Field: fieldOf(userFields, msg)})
	status, _ := admin.StatusOf(err)
	s.showUser(w, r, v, status, d, "")
}

// errSelfLockout refuses a change that would leave the signed-in admin
// unable to manage users: another admin must make it.
func errSelfLockout(what string) error {
	return auth.Errorf(auth.EINVALID, "You cannot %s your own account: you would lock yourself out. Another administrator can.", what)
}

func (s *Server) handleDisableUser(w http.ResponseWriter, r *http.Request, v *viewer) {
	u, err := s.getUser(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if u.ID == v.user.ID {
		s.refuseOnUser(w, r, v, u, errSelfLockout("disable"), func(d *userData, e formError) { d.Action = e })
		return
	}
	if _, err := s.cfg.Users.Disable(r.Context(), v.actor(), u.ID); err != nil {
		s.refuseOnUser(w, r, v, u, err, func(d *userData, e formError) { d.Action = e })
		return
	}
	redirectDone(w, r, userPath(u.ID), "disabled")
}

func (s *Server) handleEnableUser(w http.ResponseWriter, r *http.Request, v *viewer) {
	u, err := s.getUser(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.cfg.Users.Enable(r.Context(), v.actor(), u.ID); err != nil {
		s.refuseOnUser(w, r, v, u, err, func(d *userData, e formError) { d.Action = e })
		return
	}
	redirectDone(w, r, userPath(u.ID), "enabled")
}

func (s *Server) handleResetUserPassword(w http.ResponseWriter, r *http.Request, v *viewer) {
	u, err := s.getUser(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pw := r.PostForm.Get("password")
	generated := pw == ""
	if generated {
		pw = generatePassword()
	}
	if err := s.cfg.Users.ResetPassword(r.Context(), v.actor(), u.ID, pw); err != nil {
		s.refuseOnUser(w, r, v, u, err, func(d *userData, e formError) { d.Password = e })
		return
	}
	// The account service ends the user's Gatehouse sessions; their
	// dashboard sessions end too, as after a disable: a reset is how an
	// admin throws out whoever learnt the old password.
	if err := s.cfg.Store.DeleteUserDashboardSessions(r.Context(), u.ID); err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: end the sessions of %s: %w", u.ID, err))
		return
	}
	if !generated {
		redirectDone(w, r, userPath(u.ID), "reset")
		return
	}
	// Shown in this response, never in a redirect's URL.
	s.showUser(w, r, v, http.StatusOK, &userData{User: u}, pw)
}

func (s *Server) handleUserAccess(w http.ResponseWriter, r *http.Request, v *viewer) {
	u, err := s.getUser(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	role := r.PostForm.Get("role")
	owners := auth.SplitOwners(r.PostForm.Get("owners"))
	if owners == nil {
		owners = []string{} // an empty field removes every owner
	}
	setAccess := func(d *userData, e formError) {
		d.Access, d.Role, d.Owners = e, role, r.PostForm.Get("owners")
	}
	if u.ID == v.user.ID && role != auth.RoleAdmin {
		s.refuseOnUser(w, r, v, u, errSelfLockout("remove the admin role from"), setAccess)
		return
	}
	if _, err := s.cfg.Users.Update(r.Context(), v.actor(), u.ID, account.UpdateInput{Role: &role, Owners: &owners}); err != nil {
		s.refuseOnUser(w, r, v, u, err, setAccess)
		return
	}
	redirectDone(w, r, userPath(u.ID), "updated")
}

func (s *Server) handleRevokeUserConsent(w http.ResponseWriter, r *http.Request, v *viewer) {
	u, err := s.getUser(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	clientID, err := pathID(r, "client")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Consents.RevokeConsent(r.Context(), v.actor(), u.ID, clientID); err != nil {
		s.fail(w, r, err)
		return
	}
	redirectDone(w, r, userPath(u.ID), "revoked")
}
