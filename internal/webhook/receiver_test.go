package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint for tests. It checks every request the
// way a receiver following the Standard Webhooks specification would,
// with its own code (nothing of package webhook), and records what came.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	status int        // answer to give; 0 for 200
	got    []received // every request, in order
	now    func() time.Time
}

type received struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Type                     string
	Data                     map[string]any
	// VerifiedWith lists the secrets (as given to the receiver) that one
	// of the signatures verifies with.
	VerifiedWith []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, now: time.Now}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) URL() string { return r.srv.URL + "/hook" }

func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	rec := received{
		ID:        req.Header.Get("webhook-id"),
		Timestamp: req.Header.Get("webhook-timestamp"),
		Signature: req.Header.Get("webhook-signature"),
		Body:      body,
	}
	var payload struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		r.t.Errorf("receiver: body %q is not the JSON of a webhook: %v", body, err)
	}
	if _, err := time.Parse(time.RFC3339Nano, payload.Timestamp); err != nil {
		r.t.Errorf("receiver: body timestamp %q: %v", payload.Timestamp, err)
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("receiver: %s with Content-Type %q, want a POST of application/json", req.Method, req.Header.Get("Content-Type"))
	}
	rec.Type, rec.Data = payload.Type, payload.Data
	r.mu.Lock()
	r.got = append(r.got, rec)
	status := r.status
	r.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	fmt.Fprint(w, "receiver says ", status)
}

// verify is the receiver's check of a message against one secret, written
// from the specification: the secret is "whsec_" and base64 key bytes; the
// signed content is "id.timestamp.body"; the header holds space-separated
// "v1,<base64 HMAC-SHA256>" signatures, any of which may match; the
// timestamp must be within 5 minutes of now.
func verify(secret, id, timestamp, signature string, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") || len(key) < 24 {
		return fmt.Errorf("bad secret %q", secret)
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp %q", timestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s is %v away from now", timestamp, d)
	}
	if id == "" {
		return fmt.Errorf("no webhook-id")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + timestamp + "." + string(body)))
	want := m.Sum(nil)
	for _, sig := range strings.Fields(signature) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no signature in %q verifies", signature)
}

func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
