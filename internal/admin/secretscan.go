package admin

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secretscan"
)

// SecretScanner handles signed leak reports (*secretscan.Scanner).
type SecretScanner interface {
	Precheck(ctx context.Context, keyID, signature string) error
	Handle(ctx context.Context, keyID, signature string, body []byte) ([]secretscan.Label, error)
}

var _ SecretScanner = (*secretscan.Scanner)(nil)

// handleSecretScanning serves POST /v1/secret-scanning, the endpoint
// registered with GitHub's secret scanning partner program. The body is
// read raw (the signature covers its exact bytes) up to
// secretscan.MaxReportBytes, which is larger than the API's own limit since
// GitHub batches matches; the Scanner checks the signature before it parses
// anything.
func (s *Server) handleSecretScanning(w http.ResponseWriter, r *http.Request) error {
	// Unsigned reports still cost a body read and an ECDSA check: the
	// public endpoints share the per-source limit.
	if err := s.allowSource(w, r); err != nil {
		return err
	}
	if s.scanner == nil {
		return auth.Errorf(auth.ENOTFOUND, "Secret scanning reports are not enabled on this node (secret_scanning.enabled).")
	}
	keyID, sig := r.Header.Get(secretscan.HeaderKeyIdentifier), r.Header.Get(secretscan.HeaderKeySignature)
	if err := s.scanner.Precheck(r.Context(), keyID, sig); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, secretscan.MaxReportBytes)); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return auth.Errorf(auth.ETOOLARGE, "The report is larger than %d bytes.", secretscan.MaxReportBytes)
		}
		return auth.Errorf(auth.EINVALID, "The request body could not be read.")
	}
	labels, err := s.scanner.Handle(r.Context(), keyID, sig, buf.Bytes())
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, labels)
	return nil
}
