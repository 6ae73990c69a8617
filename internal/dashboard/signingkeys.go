package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
)

func (s *Server) signingKeyPages() []page {
	return []page{
		{"GET /dashboard/signing-keys", adminOnly, s.handleSigningKeys},
		{"GET /dashboard/signing-keys/rotate", adminOnly, s.handleRotateSigningKeyConfirm},
		{"POST /dashboard/signing-keys/rotate", adminOnly, s.handleRotateSigningKey},
	}
}

// signingKeysData is the signing keys page: the keys, and the JWKS as the
// authorization server serves it, with where.
type signingKeysData struct {
	Keys    []signing.KeyInfo
	JWKS    string
	JWKSURL string
}

func (s *Server) handleSigningKeys(w http.ResponseWriter, r *http.Request, v *viewer) {
	doc, _ := s.cfg.SigningKeys.JWKS()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc, "", "  "); err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: indent the JWKS: %w", err))
		return
	}
	s.show(w, r, v, http.StatusOK, "signing-keys.html", &view{
		Title: "Signing keys", Nav: "signing-keys",
		Data: signingKeysData{
			Keys:    s.cfg.SigningKeys.Keys(),
			JWKS:    pretty.String(),
			JWKSURL: strings.TrimSuffix(s.cfg.Issuer, "/") + oauth.PathJWKS,
		},
	})
}

// rotateSigningKeyData is the rotation's confirmation: the key that will
// sign, and why a rotation may be refused.
type rotateSigningKeyData struct {
	Current, Next *signing.KeyInfo
	Error         string
}

func (s *Server) handleRotateSigningKeyConfirm(w http.ResponseWriter, r *http.Request, v *viewer) {
	s.showRotateSigningKey(w, r, v, http.StatusOK, "")
}

func (s *Server) showRotateSigningKey(w http.ResponseWriter, r *http.Request, v *viewer, status int, msg string) {
	d := rotateSigningKeyData{Error: msg}
	for _, k := range s.cfg.SigningKeys.Keys() {
		switch k.Status {
		case signing.StatusCurrent:
			d.Current = &k
		case signing.StatusNext:
			d.Next = &k
		}
	}
	s.show(w, r, v, status, "signing-keys-rotate.html", &view{Title: "Rotate the signing key", Nav: "signing-keys", Data: d})
}

// handleRotateSigningKey rotates as POST /admin/v1/signing-keys/rotate
// does. A refusal (the next key not published long enough, another node
// rotating) is told on the confirmation page, which can be sent again.
func (s *Server) handleRotateSigningKey(w http.ResponseWriter, r *http.Request, v *viewer) {
	if _, err := s.cfg.SigningKeys.Rotate(r.Context(), v.actor()); err != nil {
		if auth.ErrorCode(err) == auth.ECONFLICT {
			s.showRotateSigningKey(w, r, v, http.StatusConflict, auth.ErrorMessage(err))
			return
		}
		s.fail(w, r, fmt.Errorf("dashboard: rotate signing key: %w", err))
		return
	}
	redirectDone(w, r, "/dashboard/signing-keys", "rotated")
}
