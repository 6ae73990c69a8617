package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Client calls the admin API and the verify endpoint; the CLI uses it. It
// speaks the same structs the server encodes. Methods return a
// *ProblemError for every error response, so auth.ErrorCode(err) gives the
// code the server meant.
type Client struct {
	baseURL string
	cred    Credential
	hc      *http.Client
}

// Credential supplies the bearer credential of admin calls: an admin key
// (NewClient), or a person's access token that it refreshes as needed
// (the CLI's `gatehouse login`).
type Credential interface {
	// Bearer returns the credential to send.
	Bearer(ctx context.Context) (string, error)
	// Rejected is told that the server answered 401 to bearer; it reports
	// whether another Bearer is worth one more try (a token it could
	// refresh, which the server's clock found expired before ours did).
	Rejected(ctx context.Context, bearer string) bool
}

// staticKey is the Credential of an admin key.
type staticKey string

func (k staticKey) Bearer(context.Context) (string, error) { return string(k), nil }
func (k staticKey) Rejected(context.Context, string) bool  { return false }

// defaultClientTimeout bounds a call when NewClient is given no http.Client:
// admin calls are small, so a long wait means something is wrong.
const defaultClientTimeout = 30 * time.Second

// maxResponseBytes caps what the Client reads of a response. A full page of
// 500 keys with metadata stays well below it.
const maxResponseBytes = 16 << 20

// NewClient returns a Client for the server at baseURL (e.g.
// "http://127.0.0.1:8080"), authenticating admin calls with adminKey. A nil
// hc means an http.Client with a 30-second timeout.
func NewClient(baseURL, adminKey string, hc *http.Client) *Client {
	return NewClientWith(baseURL, staticKey(adminKey), hc)
}

// NewClientWith is NewClient authenticating admin calls with cred.
func NewClientWith(baseURL string, cred Credential, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: defaultClientTimeout}
	}
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), cred: cred, hc: hc}
}

// ProblemError is an error response of the API. It unwraps to an
// *auth.Error with Code, so callers can use auth.ErrorCode on it.
type ProblemError struct {
	Status int    // HTTP status
	Code   string // auth error code (auth.ENOTFOUND, ...), from the problem type or the status
	Type   string // RFC 9457 problem type; "" if the response was not a problem
	Title  string
	Detail string // the server's explanation, safe to show
	// RetryAfter is the server's Retry-After on 429 and 503; 0 otherwise.
	RetryAfter time.Duration
}

func (e *ProblemError) Error() string {
	msg := fmt.Sprintf("gatehouse: %d %s", e.Status, e.Title)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap exposes the code as an *auth.Error.
func (e *ProblemError) Unwrap() error { return &auth.Error{Code: e.Code, Message: e.Detail} }

// CreateKey creates a key. The returned Secret is the only copy of the
// plaintext anywhere.
func (c *Client) CreateKey(ctx context.Context, req CreateKeyRequest) (*CreatedKey, error) {
	var out CreatedKey
	if err := c.do(ctx, http.MethodPost, "/admin/v1/keys", nil, &req, true, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListKeys returns one page of keys.
func (c *Client) ListKeys(ctx context.Context, p ListKeysParams) (*KeyList, error) {
	q := url.Values{}
	setIf(q, "owner", p.Owner)
	setIf(q, "cursor", p.Cursor)
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.RotationDue {
		q.Set("rotation_due", "true")
	}
	var out KeyList
	if err := c.do(ctx, http.MethodGet, "/admin/v1/keys", q, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetKey returns the key with that ID.
func (c *Client) GetKey(ctx context.Context, id string) (*Key, error) {
	if id == "" {
		return nil, errEmptyID()
	}
	var out Key
	if err := c.do(ctx, http.MethodGet, keyPath(id), nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateKey changes a key without rotating it (see KeyPatch) and returns it
// as updated.
func (c *Client) UpdateKey(ctx context.Context, id string, patch KeyPatch) (*Key, error) {
	if id == "" {
		return nil, errEmptyID()
	}
	var out Key
	if err := c.do(ctx, http.MethodPatch, keyPath(id), nil, &patch, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateKey replaces the key with a new one; the old one keeps working for
// the grace period of req (DefaultGrace if req.Grace is "").
func (c *Client) RotateKey(ctx context.Context, id string, req RotateKeyRequest) (*RotatedKey, error) {
	if id == "" {
		return nil, errEmptyID()
	}
	var out RotatedKey
	if err := c.do(ctx, http.MethodPost, keyPath(id)+"/rotate", nil, &req, true, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeKey ends the key at once.
func (c *Client) RevokeKey(ctx context.Context, id string) (*Key, error) {
	if id == "" {
		return nil, errEmptyID()
	}
	var out Key
	if err := c.do(ctx, http.MethodPost, keyPath(id)+"/revoke", nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// VerifyKey asks the server whether key is valid and holds scopes. A refused
// key is not an error: the answer says why, RATE_LIMITED (a 429) included.
// The admin key is not sent: the endpoint is public.
func (c *Client) VerifyKey(ctx context.Context, req VerifyRequest) (*VerifyResponse, error) {
	var out VerifyResponse
	if err := c.do(ctx, http.MethodPost, "/v1/keys/verify", nil, &req, false, &out, http.StatusOK, http.StatusTooManyRequests); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAuditEvents returns one page of the audit log, oldest first.
func (c *Client) ListAuditEvents(ctx context.Context, p AuditEventsParams) (*AuditEventList, error) {
	q := url.Values{}
	setIf(q, "key_id", p.KeyID)
	setIf(q, "type", p.Type)
	setIf(q, "actor", p.Actor)
	setIf(q, "target", p.Target)
	if !p.Since.IsZero() {
		q.Set("since", p.Since.UTC().Format(time.RFC3339))
	}
	if !p.Until.IsZero() {
		q.Set("until", p.Until.UTC().Format(time.RFC3339))
	}
	setIf(q, "cursor", p.Cursor)
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	var out AuditEventList
	if err := c.do(ctx, http.MethodGet, "/admin/v1/audit-events", q, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// errEmptyID is returned before any request: an empty ID would address
// another route.
func errEmptyID() error { return auth.Errorf(auth.EINVALID, "a key ID is required") }

func setIf(q url.Values, name, value string) {
	if value != "" {
		q.Set(name, value)
	}
}

// do sends one request and decodes a response whose status is one of ok
// into out. Any problem+json response, or a status not in ok, becomes a
// *ProblemError. Error texts name the method and path, never a key.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, authenticate bool, out any, ok ...int) error {
	u := c.baseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("admin client: %s %s: encode request: %w", method, path, err)
		}
		payload = b
	}
	resp, err := c.send(ctx, method, u, payload, body != nil, authenticate)
	if err != nil {
		return fmt.Errorf("admin client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("admin client: %s %s: read response: %w", method, path, err)
	}
	if len(data) > maxResponseBytes {
		return fmt.Errorf("admin client: %s %s: response larger than %d bytes", method, path, maxResponseBytes)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || !slices.Contains(ok, resp.StatusCode) {
		return problemError(resp, mt, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin client: %s %s: decode response: %w", method, path, err)
	}
	return nil
}

// send sends one request, authenticated with the Credential if asked to,
// and once more with its next bearer when it wants another try after a
// 401.
func (c *Client) send(ctx context.Context, method, u string, payload []byte, hasBody, authenticate bool) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if hasBody {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json, application/problem+json")
		if hasBody {
			req.Header.Set("Content-Type", "application/json")
		}
		var bearer string
		if authenticate {
			if bearer, err = c.cred.Bearer(ctx); err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, err
		}
		if !authenticate || resp.StatusCode != http.StatusUnauthorized || attempt > 0 || !c.cred.Rejected(ctx, bearer) {
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
		resp.Body.Close()
	}
}

// problemError builds the error of a failed response, also for answers that
// did not come from Gatehouse (a proxy's HTML page, say).
func problemError(resp *http.Response, mediaType string, data []byte) *ProblemError {
	e := &ProblemError{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
	var p Problem
	if mediaType == "application/problem+json" && json.Unmarshal(data, &p) == nil {
		e.Type, e.Detail = p.Type, p.Detail
		if p.Title != "" {
			e.Title = p.Title
		}
	}
	e.Code = codeOfProblem(&p, resp.StatusCode)
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}
