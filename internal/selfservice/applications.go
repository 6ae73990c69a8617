package selfservice

import (
	"context"
	"net/http"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Consents is what the applications page needs of the authorization
// server (*oauth.Server): its own record of a user's consents, and the
// revocation that also revokes the refresh tokens the client holds for
// the user (their access tokens going on the revocation list).
type Consents interface {
	ListConsents(ctx context.Context, userID string) ([]*auth.Consent, error)
	// RevokeConsent: ENOTFOUND if there is no such consent.
	RevokeConsent(ctx context.Context, actor, userID, clientID string) error
}

// Clients looks up a client by ID (*client.Registry); ENOTFOUND if there
// is none.
type Clients interface {
	Lookup(ctx context.Context, id string) (*auth.Client, error)
}

// purposeApplications is the CSRF purpose of the applications page's
// forms.
const purposeApplications = "applications"

// Messages of the applications page.
const (
	msgConsentRevoked = "The application's access has been revoked."
	msgConsentGone    = "That application had no access any more."
)

// handleApplications lists the applications the user allowed access.
func (s *Server) handleApplications(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	s.renderApplications(w, r, http.StatusOK, sess, u, "", "")
}

func (s *Server) renderApplications(w http.ResponseWriter, r *http.Request, status int, sess *auth.Session, u *auth.User, notice, msg string) {
	if s.cfg.Consents == nil || s.cfg.Clients == nil {
		s.errorPage(w, http.StatusNotFound, "Page not found", "There is no such account page.")
		return
	}
	ctx := r.Context()
	consents, err := s.cfg.Consents.ListConsents(ctx, u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	f := s.frame(sess, u, Path+"/applications")
	f.Notice, f.Error = notice, msg
	page := web.AccountApplicationsPage{AccountFrame: f, CSRF: s.csrfToken(sess, purposeApplications)}
	for _, c := range consents {
		name := c.ClientID
		switch cl, err := s.cfg.Clients.Lookup(ctx, c.ClientID); {
		case err == nil && cl.Name != "":
			name = cl.Name
		case err != nil && auth.ErrorCode(err) != auth.ENOTFOUND:
			s.serverError(w, r, err)
			return
		}
		page.Applications = append(page.Applications, web.AccountApplication{
			ClientID: c.ClientID, Name: name, Scopes: c.Scopes, Granted: web.FormatTime(c.GrantedAt),
		})
	}
	slices.SortFunc(page.Applications, func(a, b web.AccountApplication) int {
		if a.Name < b.Name {
			return -1
		} else if a.Name > b.Name {
			return 1
		}
		return 0
	})
	web.RenderAccount(w, status, "account_applications.html", page)
}

// handleRevokeApplication revokes the user's consent to one client.
func (s *Server) handleRevokeApplication(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.requireUserFor(w, r, Path+"/applications")
	if !ok {
		return
	}
	form, ok := s.readForm(w, r, sess, purposeApplications)
	if !ok {
		return
	}
	if s.cfg.Consents == nil {
		s.errorPage(w, http.StatusNotFound, "Page not found", "There is no such account page.")
		return
	}
	err := s.cfg.Consents.RevokeConsent(r.Context(), u.ID, u.ID, form.Get("client_id"))
	switch auth.ErrorCode(err) {
	case "":
		s.renderApplications(w, r, http.StatusOK, sess, u, msgConsentRevoked, "")
	case auth.ENOTFOUND:
		s.renderApplications(w, r, http.StatusNotFound, sess, u, "", msgConsentGone)
	default:
		s.serverError(w, r, err)
	}
}
