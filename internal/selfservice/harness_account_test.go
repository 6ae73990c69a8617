package selfservice

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The harness's Sessions, for the account part's methods: the test cookie
// names a stored session, as in Current.

func (ts *testSessions) Renew(w http.ResponseWriter, r *http.Request, sess *auth.Session) error {
	next := *sess
	next.Hash = make([]byte, 32)
	rand.Read(next.Hash)
	if err := ts.db.CreateSession(r.Context(), &next); err != nil {
		return err
	}
	if err := ts.db.DeleteSession(r.Context(), sess.Hash); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: testCookie, Value: base64.RawURLEncoding.EncodeToString(next.Hash), Path: "/"})
	return nil
}

func (ts *testSessions) SignOut(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(testCookie)
	if err != nil {
		return nil
	}
	if hash, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
		if err := ts.db.DeleteSession(r.Context(), hash); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: testCookie, Value: "", Path: "/", MaxAge: -1})
	return nil
}

// storeConsents is Consents over the store, as the authorization server
// implements it (oauth.Server.RevokeConsent: DeleteConsent with a
// consent.revoked event).
type storeConsents struct {
	store Store
	now   auth.Now
}

func (c storeConsents) ListConsents(ctx context.Context, userID string) ([]*auth.Consent, error) {
	return c.store.ListConsents(ctx, userID)
}

func (c storeConsents) RevokeConsent(ctx context.Context, actor, userID, clientID string) error {
	now := c.now()
	ev := auth.AuditEvent{Time: now, Type: auth.EventConsentRevoked, Actor: actor, Count: 1,
		Details: map[string]string{"user_id": userID, "client_id": clientID}}
	return c.store.DeleteConsent(ctx, userID, clientID, now, ev)
}

// storeClients is Clients over the store.
type storeClients struct{ store auth.ClientStore }

func (c storeClients) Lookup(ctx context.Context, id string) (*auth.Client, error) {
	return c.store.GetClient(ctx, id)
}

// withApplications gives the harness's Server the applications page's
// services, over its store.
func withApplications(cfg *Config) {
	cfg.Consents = storeConsents{store: cfg.Store, now: cfg.Now}
	cfg.Clients = storeClients{store: cfg.Store.(auth.ClientStore)}
}
