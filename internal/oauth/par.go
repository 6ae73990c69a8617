package oauth

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Pushed authorization requests (RFC 9126) and how the authorization
// endpoint takes them up.
//
// A client pushes its request to PathPAR, authenticated as at the token
// endpoint; the request is validated as the authorization endpoint would
// (parseClientRequest) and stored, shared by every node, under a keyed
// hash of a fresh request_uri, valid for PushedRequestTTL. The browser
// then brings client_id and request_uri to the authorization endpoint:
//
//   - the first authorization request with it starts it (atomically, for
//     the client that pushed it, before it expires): no other request can
//     use it again, and it stays valid for pushedFlowTTL, the time the user
//     has to sign in and consent;
//   - the login and consent steps carry only client_id and request_uri
//     (authzRequest.encode) and read the request from the store, so the
//     pushed parameters are the ones granted, whatever a form says;
//   - issuing the code consumes it (atomically): one code per request_uri,
//     however many tabs or form resubmissions race for it.

// Pushed requests.
const (
	// PrefixRequestURI starts every request_uri we issue (RFC 9126 2.2);
	// the rest is an opaque secret with a checksum, so a forged or
	// mistyped one is refused before the store is asked.
	PrefixRequestURI = "urn:ietf:params:oauth:request_uri:gate_ru_"
	// PushedRequestTTL is how long a request_uri may wait to be used at
	// the authorization endpoint (RFC 9126 2.2 expires_in).
	PushedRequestTTL = 60 * time.Second
	// pushedFlowTTL is how long, once the authorization endpoint took a
	// request_uri up, the user has to sign in and consent: as long as a
	// rendered login or consent form stays valid.
	pushedFlowTTL = csrfTTL
)

// CodeInvalidRequestURI is the error of a request_uri that is unknown,
// expired, used, or pushed by another client (RFC 9101 6.2).
const CodeInvalidRequestURI = "invalid_request_uri"

func errInvalidRequestURI() *Error {
	return newError(CodeInvalidRequestURI, "The request_uri is not valid: unknown, expired, already used, or pushed by another client.")
}

// parResponse is the answer of RFC 9126 2.2.
type parResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int    `json:"expires_in"`
}

// handlePAR is the pushed authorization request endpoint (RFC 9126 2): the
// client authenticates as at the token endpoint (public clients with their
// client_id), the request is validated exactly as the authorization
// endpoint would, and stored; the answer is 201 with its request_uri.
// Errors are the token endpoint's JSON (RFC 9126 2.3).
func (s *Server) handlePAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, err := readForm(w, r)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	c, err := s.authenticateClient(ctx, r, form)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	params, err := s.pushedParams(c, form)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	req, err := s.parseClientRequest(c, params, "")
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	uri, hash, err := s.hasher.New(PrefixRequestURI)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	now := s.now()
	if err := s.store.CreatePushedRequest(ctx, &auth.PushedRequest{
		Hash: hash, ClientID: c.ID, Params: req.params.Encode(),
		CreatedAt: now, ExpiresAt: now.Add(PushedRequestTTL),
	}); err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, parResponse{RequestURI: uri, ExpiresIn: int(PushedRequestTTL / time.Second)})
}

// pushedParams returns the authorization request in a pushed form: the
// authorization parameters of the form, or those of its request object
// (RFC 9126 3), with the authenticated client's ID. A request_uri cannot
// be pushed (RFC 9126 2.1).
func (s *Server) pushedParams(c *auth.Client, form url.Values) (url.Values, error) {
	if _, ok := form["request_uri"]; ok {
		return nil, errInvalidRequest("A pushed request cannot hold a request_uri.")
	}
	if id := form.Get("client_id"); id != "" && id != c.ID {
		return nil, errInvalidRequest("The client_id is not the authenticated client's.")
	}
	if obj := form.Get("request"); obj != "" {
		return s.requestObjectParams(c, obj)
	}
	q := url.Values{}
	for _, name := range authorizeParams {
		if vs, ok := form[name]; ok {
			q[name] = vs
		}
	}
	q.Set("client_id", c.ID)
	return q, nil
}

// expandRequest returns the parameters of an authorization request of
// client c that stand for themselves: those of the pushed request its
// request_uri names (with that request_uri, which the login and consent
// steps carry instead), or those of its request object, or q itself. A
// request_uri must have been started by the authorization endpoint
// (startPushedRequest) and not be used or expired. Without a request_uri,
// a client that must push its requests (server- or client-wide) is
// refused (RFC 9126 5, 6). Every error here comes before the redirect URI
// is known, so it is shown to the user, never redirected.
func (s *Server) expandRequest(ctx context.Context, c *auth.Client, q url.Values) (params url.Values, requestURI string, err error) {
	_, hasObject := q["request"]
	_, hasURI := q["request_uri"]
	switch {
	case hasObject && hasURI:
		return nil, "", errInvalidRequest("The request and request_uri parameters cannot be used together.")
	case hasURI:
		if len(q["request_uri"]) != 1 {
			return nil, "", errInvalidRequest("The parameter \"request_uri\" appears more than once.")
		}
		requestURI = q.Get("request_uri")
		p, err := s.pushedRequest(ctx, requestURI)
		if err != nil {
			return nil, "", err
		}
		if p.ClientID != c.ID || p.StartedAt.IsZero() || !p.UsedAt.IsZero() || p.ExpiredAt(s.now()) {
			return nil, "", errInvalidRequestURI()
		}
		params, err := url.ParseQuery(p.Params)
		if err != nil {
			return nil, "", errServerError(err)
		}
		return params, requestURI, nil
	case s.requiresPAR(c):
		return nil, "", errInvalidRequest("This client must push its authorization requests to the pushed authorization request endpoint (RFC 9126).")
	case hasObject:
		if len(q["request"]) != 1 {
			return nil, "", errInvalidRequest("The parameter \"request\" appears more than once.")
		}
		params, err := s.requestObjectParams(c, q.Get("request"))
		return params, "", err
	}
	return q, "", nil
}

// requiresPAR reports whether client c may use the authorization endpoint
// only with a pushed request: because it must (auth.Client.RequirePAR), or
// because every client must, but for Gatehouse's own (the dashboard, which
// is part of this server).
func (s *Server) requiresPAR(c *auth.Client) bool {
	return c.RequirePAR || (s.cfg.RequirePushedAuthorizationRequests && !s.firstParty[c.ID])
}

// pushedRequest reads the pushed request a request_uri names;
// invalid_request_uri if it is not one of ours or not stored.
func (s *Server) pushedRequest(ctx context.Context, requestURI string) (*auth.PushedRequest, error) {
	hash, ok := s.parseSecret(PrefixRequestURI, requestURI)
	if !ok {
		return nil, errInvalidRequestURI()
	}
	p, err := s.store.GetPushedRequest(ctx, hash)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, errInvalidRequestURI()
	}
	return p, err
}

// startPushedRequest takes up the pushed request that an authorization
// request names, if it names one: the one-time use of RFC 9126 4. Of any
// number of requests presenting the same request_uri (on any node), one
// starts it; the others, later ones, and those of another client, are
// refused with invalid_request_uri. Everything else about the request is
// left to parseAuthorize.
func (s *Server) startPushedRequest(ctx context.Context, q url.Values) error {
	if len(q["request_uri"]) != 1 || len(q["client_id"]) != 1 || len(q["request"]) != 0 {
		return nil // parseAuthorize refuses it, or there is nothing to start
	}
	hash, ok := s.parseSecret(PrefixRequestURI, q.Get("request_uri"))
	if !ok {
		return errInvalidRequestURI()
	}
	now := s.now()
	_, err := s.store.StartPushedRequest(ctx, hash, q.Get("client_id"), now, now.Add(pushedFlowTTL))
	return requestURIError(err)
}

// consumePushedRequest spends the pushed request of req, if it has one, as
// its code is issued: at most one code per request_uri.
func (s *Server) consumePushedRequest(ctx context.Context, req *authzRequest) error {
	if req.requestURI == "" {
		return nil
	}
	hash, ok := s.parseSecret(PrefixRequestURI, req.requestURI)
	if !ok {
		return errInvalidRequestURI()
	}
	_, err := s.store.ConsumePushedRequest(ctx, hash, s.now())
	return requestURIError(err)
}

// requestURIError is the error of a refused transition of a pushed
// request: invalid_request_uri when there is no such request or the
// transition refused it; a store failure stays what it is.
func requestURIError(err error) error {
	switch auth.ErrorCode(err) {
	case "":
		return nil
	case auth.ENOTFOUND, auth.ECONFLICT:
		return errInvalidRequestURI()
	}
	return err
}
