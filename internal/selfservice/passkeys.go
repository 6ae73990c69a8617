package selfservice

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Passkeys is the passkey service as the account pages use it
// (*passkey.Service).
type Passkeys interface {
	List(ctx context.Context, userID string) ([]*auth.Passkey, error)
	BeginRegistration(ctx context.Context, u *auth.User) (optionsJSON []byte, state string, err error)
	// FinishRegistrationFrom: failures throttled per account and address
	// (ERATELIMITED, account.RetryAfter).
	FinishRegistrationFrom(ctx context.Context, u *auth.User, state, name string, responseJSON []byte, addr string) (*auth.Passkey, error)
	Rename(ctx context.Context, u *auth.User, id, name string) error
	Remove(ctx context.Context, u *auth.User, id string) error
}

var _ Passkeys = (*passkey.Service)(nil)

// The passkey pages' paths.
const (
	pathPasskeys         = Path + "/passkeys"
	pathPasskeyAdd       = pathPasskeys + "/add"
	pathPasskeyBegin     = pathPasskeys + "/register/begin"
	pathPasskeyFinish    = pathPasskeys + "/register/finish"
	purposePasskeys      = "passkeys"         // the rename and remove forms
	purposePasskeyCreate = "passkey-register" // the JSON registration endpoints (X-CSRF-Token)
	csrfHeader           = "X-CSRF-Token"     // where the passkey script sends the token
	maxPasskeyJSON       = 96 << 10           // a registration's JSON body
	passkeyDateLayout    = "2 January 2006"   // dates on the page
	passkeysNotFound     = "Passkeys are not enabled on this server."
)

// passkeyNotices are the notices of ?done= after a change.
var passkeyNotices = map[string]string{
	"added":   "Passkey added.",
	"renamed": "Passkey renamed.",
	"removed": "Passkey removed.",
}

// handlePasskeys lists the user's passkeys, with the forms that rename,
// remove and add them.
func (s *Server) handlePasskeys(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Passkeys == nil {
		s.errorPage(w, http.StatusNotFound, "Page not found", passkeysNotFound)
		return
	}
	sess, u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	s.renderPasskeys(w, r, http.StatusOK, sess, u, passkeyNotices[r.URL.Query().Get("done")], "")
}

func (s *Server) renderPasskeys(w http.ResponseWriter, r *http.Request, status int, sess *auth.Session, u *auth.User, notice, errMsg string) {
	list, err := s.cfg.Passkeys.List(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	need, _, err := s.factorChange(r.Context(), sess, u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	p := &web.PasskeysPage{
		AccountFrame:   s.frame(sess, u, pathPasskeys),
		CanAdd:         need == factorOK,
		AddPath:        pathPasskeyAdd,
		RegisterBegin:  pathPasskeyBegin,
		RegisterFinish: pathPasskeyFinish,
		RegisterCSRF:   s.csrfToken(sess, purposePasskeyCreate),
		Full:           len(list) >= passkey.MaxPasskeys,
	}
	p.Script, p.Notice, p.Error = web.PasskeyScriptPath, notice, errMsg
	if ret := safeReturn(r.URL.Query().Get("return")); ret != "" {
		p.Return = ret
		p.AddPath += "?return=" + url.QueryEscape(ret)
	}
	formCSRF := s.csrfToken(sess, purposePasskeys)
	for _, k := range list {
		item := web.PasskeyItem{
			ID: k.ID, Name: k.Name, Kind: "Passkey on one device or security key",
			Created: k.CreatedAt.Format(passkeyDateLayout), Warning: k.CloneWarning,
			RenameCSRF: formCSRF, RemoveCSRF: formCSRF,
		}
		if k.BackupEligible {
			item.Kind = "Synced passkey"
		}
		if !k.LastUsedAt.IsZero() {
			item.LastUsed = k.LastUsedAt.Format(passkeyDateLayout)
		}
		p.Passkeys = append(p.Passkeys, item)
	}
	web.RenderAccount(w, status, "account_passkeys.html", p)
}

// handlePasskeyAdd asks for the sign-in a factor change needs
// (factorChange), then goes back to the passkeys page, where the add form
// is then offered.
func (s *Server) handlePasskeyAdd(w http.ResponseWriter, r *http.Request) {
	if _, _, _, ok := s.requireFactorChange(w, r, pathPasskeys); !ok {
		return
	}
	to := pathPasskeys
	if ret := safeReturn(r.URL.Query().Get("return")); ret != "" {
		to += "?return=" + url.QueryEscape(ret)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// handlePasskeyForm renames (op=rename, id, name) or removes (op=remove,
// id) a passkey of the user; both are factor changes (factorChange).
func (s *Server) handlePasskeyForm(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Passkeys == nil {
		s.errorPage(w, http.StatusNotFound, "Page not found", passkeysNotFound)
		return
	}
	sess, u, _, ok := s.requireFactorChange(w, r, pathPasskeys)
	if !ok {
		return
	}
	form, ok := s.readForm(w, r, sess, purposePasskeys)
	if !ok {
		return
	}
	id := form.Get("id")
	var (
		err  error
		done string
	)
	switch form.Get("op") {
	case "rename":
		err, done = s.cfg.Passkeys.Rename(r.Context(), u, id, form.Get("name")), "renamed"
	case "remove":
		err, done = s.cfg.Passkeys.Remove(r.Context(), u, id), "removed"
	default:
		s.errorPage(w, http.StatusBadRequest, "Request refused", "The form could not be read.")
		return
	}
	switch auth.ErrorCode(err) {
	case "":
		http.Redirect(w, r, pathPasskeys+"?done="+done, http.StatusSeeOther)
	case auth.EINVALID:
		s.renderPasskeys(w, r, http.StatusBadRequest, sess, u, "", auth.ErrorMessage(err))
	case auth.ENOTFOUND:
		s.renderPasskeys(w, r, http.StatusNotFound, sess, u, "", "That passkey does not exist any more.")
	default:
		s.serverError(w, r, err)
	}
}

// passkeyRequest is the JSON body of the registration endpoints: the
// fields of the add form, and at finish the state and the credential.
type passkeyRequest struct {
	Name       string          `json:"name"`
	Return     string          `json:"return"`
	State      string          `json:"state"`
	Credential json.RawMessage `json:"credential"`
}

// readPasskeyJSON reads a request of the passkey script: from a page of
// this origin (Origin must be ours and Sec-Fetch-Site, when sent,
// same-origin: a JSON POST from a browser always carries Origin), as
// application/json with the session's X-CSRF-Token, from a session that
// may change the user's factors (factorChange; had is its). It answers
// the request itself when ok is false.
func (s *Server) readPasskeyJSON(w http.ResponseWriter, r *http.Request) (sess *auth.Session, u *auth.User, req *passkeyRequest, had, ok bool) {
	if s.cfg.Passkeys == nil {
		web.JSONError(w, http.StatusNotFound, passkeysNotFound)
		return nil, nil, nil, false, false
	}
	if !web.SameOriginScript(r, s.origin) {
		web.JSONError(w, http.StatusForbidden, "The request was sent from another site.")
		return nil, nil, nil, false, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		web.JSONError(w, http.StatusUnsupportedMediaType, "The request must be application/json.")
		return nil, nil, nil, false, false
	}
	sess, u, err := s.cfg.Sessions.Current(r)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "account: session", "err", err)
		web.JSONError(w, http.StatusInternalServerError, "Something went wrong. Please try again.")
		return nil, nil, nil, false, false
	}
	if sess == nil {
		web.JSONError(w, http.StatusUnauthorized, "You are signed out. Please reload the page and sign in.")
		return nil, nil, nil, false, false
	}
	if !s.csrf.Check("account:"+purposePasskeyCreate, binding(sess), "", r.Header.Get(csrfHeader)) {
		web.JSONError(w, http.StatusForbidden, "The page expired. Please reload it and try again.")
		return nil, nil, nil, false, false
	}
	need, had, err := s.factorChange(r.Context(), sess, u.ID)
	switch {
	case err != nil:
		s.logger.ErrorContext(r.Context(), "account: factors", "err", err)
		web.JSONError(w, http.StatusInternalServerError, "Something went wrong. Please try again.")
		return nil, nil, nil, false, false
	case need == factorRecent:
		web.JSONError(w, http.StatusForbidden, "Your sign-in is too old to add a passkey. Please reload the page and sign in again.")
		return nil, nil, nil, false, false
	case need == factorMFA:
		web.JSONError(w, http.StatusForbidden, "Confirm it is you with your second factor before adding a passkey. Please reload the page.")
		return nil, nil, nil, false, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPasskeyJSON))
	if err != nil {
		web.JSONError(w, http.StatusRequestEntityTooLarge, "The request is too large.")
		return nil, nil, nil, false, false
	}
	req = new(passkeyRequest)
	if err := json.Unmarshal(body, req); err != nil {
		web.JSONError(w, http.StatusBadRequest, "The request could not be read.")
		return nil, nil, nil, false, false
	}
	return sess, u, req, had, true
}

// handlePasskeyBegin starts a registration: {"options", "state"}.
func (s *Server) handlePasskeyBegin(w http.ResponseWriter, r *http.Request) {
	_, u, _, _, ok := s.readPasskeyJSON(w, r)
	if !ok {
		return
	}
	opts, state, err := s.cfg.Passkeys.BeginRegistration(r.Context(), u)
	switch auth.ErrorCode(err) {
	case "":
		web.WriteJSON(w, http.StatusOK, map[string]any{"options": json.RawMessage(opts), "state": state})
	case auth.EINVALID:
		web.JSONError(w, http.StatusBadRequest, auth.ErrorMessage(err))
	default:
		s.logger.ErrorContext(r.Context(), "account: begin passkey registration", "err", err)
		web.JSONError(w, http.StatusInternalServerError, "Something went wrong. Please try again.")
	}
}

// handlePasskeyFinish stores the new passkey and upgrades the session
// with the methods it proved, then sends the browser to return or to the
// passkeys page: {"redirect"}.
func (s *Server) handlePasskeyFinish(w http.ResponseWriter, r *http.Request) {
	sess, u, req, had, ok := s.readPasskeyJSON(w, r)
	if !ok {
		return
	}
	p, err := s.cfg.Passkeys.FinishRegistrationFrom(r.Context(), u, req.State, req.Name, req.Credential, web.ClientAddress(r))
	switch auth.ErrorCode(err) {
	case "":
	case auth.ERATELIMITED:
		if d, ok := account.RetryAfter(err); ok {
			web.SetRetryAfter(w.Header(), d)
		}
		web.JSONError(w, http.StatusTooManyRequests, auth.ErrorMessage(err))
		return
	case auth.EINVALID:
		web.JSONError(w, http.StatusBadRequest, auth.ErrorMessage(err))
		return
	case auth.EUNAUTHORIZED, auth.ECONFLICT:
		web.JSONError(w, http.StatusConflict, auth.ErrorMessage(err))
		return
	default:
		s.logger.ErrorContext(r.Context(), "account: finish passkey registration", "err", err)
		web.JSONError(w, http.StatusInternalServerError, "Something went wrong. Please try again.")
		return
	}
	// A new authenticator proves only itself: the session gains its
	// methods only when it is the account's first second factor
	// (factorChange); otherwise the session had two factors already.
	if !had {
		amr := auth.MergeAMR(sess.AMR, passkey.AMR(p.BackupEligible, p.UserVerified))
		if err := s.cfg.Store.UpgradeSession(r.Context(), sess.Hash, amr, s.now()); err != nil {
			s.logger.WarnContext(r.Context(), "account: upgrade session after passkey", "err", err)
		}
	}
	to := pathPasskeys + "?done=added"
	if ret := safeReturn(req.Return); ret != "" {
		to = ret
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"redirect": to, "message": "Passkey added."})
}
