// Package secretscan receives reports of leaked API keys from GitHub's
// secret scanning partner program: it checks their signature against the
// keys GitHub publishes, parses them, hands each reported token to the key
// service, and answers in the program's feedback format.
//
// The protocol (docs.github.com, "Secret scanning partner program"): GitHub
// POSTs a JSON array of {"token", "type", "url", "source"}, with the headers
// Github-Public-Key-Identifier (which of the published keys signed it) and
// Github-Public-Key-Signature (base64 of an ASN.1 DER ECDSA P-256 signature
// over the SHA-256 of the raw body). The feedback answer is an array of
// {"token_raw", "token_type", "label": "true_positive" | "false_positive"}.
package secretscan

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The request headers GitHub signs reports with.
const (
	HeaderKeyIdentifier = "Github-Public-Key-Identifier"
	HeaderKeySignature  = "Github-Public-Key-Signature"
)

// Policies: what a report of a live key does.
const (
	PolicyRevoke = "revoke" // revoke it, with a key.leaked event
	PolicyNotify = "notify" // only the key.leaked event
)

// Labels of the feedback answer.
const (
	LabelTruePositive  = "true_positive"
	LabelFalsePositive = "false_positive"
)

// Reporter is what the Scanner needs of the key service (*apikey.Service).
type Reporter interface {
	ReportLeaked(ctx context.Context, key, url, source string, revoke bool) (apikey.LeakReport, error)
}

var _ Reporter = (*apikey.Service)(nil)

// Config configures a Scanner. Keys and Reporter are required.
type Config struct {
	Keys     *PublicKeys
	Reporter Reporter
	// Policy is PolicyRevoke (the default when empty) or PolicyNotify.
	Policy string
	Logger *slog.Logger // default: discard
}

// Scanner handles signed reports. It is safe for concurrent use.
type Scanner struct {
	keys     *PublicKeys
	reporter Reporter
	revoke   bool
	log      *slog.Logger
}

// New checks cfg and returns a Scanner.
func New(cfg Config) (*Scanner, error) {
	if cfg.Keys == nil || cfg.Reporter == nil {
		return nil, errors.New("secretscan: Config.Keys and Config.Reporter are required")
	}
	s := &Scanner{keys: cfg.Keys, reporter: cfg.Reporter, log: cfg.Logger}
	switch cfg.Policy {
	case "", PolicyRevoke:
		s.revoke = true
	case PolicyNotify:
	default:
		return nil, fmt.Errorf("secretscan: Config.Policy %q must be %s or %s", cfg.Policy, PolicyRevoke, PolicyNotify)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Label is one entry of the feedback answer.
type Label struct {
	TokenRaw  string `json:"token_raw"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// Precheck refuses, before the body is read, a report whose signature
// headers are missing or malformed or whose key is not one of the
// published ones: a forger then costs no body read and no hash of it. Handle
// checks everything again.
func (s *Scanner) Precheck(ctx context.Context, keyID, signature string) error {
	_, err := s.signer(ctx, keyID, signature)
	return err
}

// signer returns the public key a report claims to be signed with.
func (s *Scanner) signer(ctx context.Context, keyID, signature string) (*ecdsa.PublicKey, error) {
	if keyID == "" || signature == "" || len(keyID) > maxKeyIDLength || len(signature) > maxSignatureLength {
		return nil, errBadSignature
	}
	return s.keys.Key(ctx, keyID)
}

// Handle checks the signature of body (the raw request body) given the two
// headers' values, then parses it and reports each match; nothing is done
// unless the signature holds. A token that is a key of ours, live or not,
// is a true positive; anything else a false positive. Matches are handled in
// order; if the store fails midway, the error is returned and the sender's
// retry handles the report again (revoking is idempotent; a retry may
// write a second key.leaked event under the notify policy).
//
// Errors: auth.EUNAUTHORIZED for a missing, malformed or wrong signature or
// an unknown key identifier; auth.EUNAVAILABLE when the signers' keys
// cannot be fetched; auth.EINVALID and auth.ETOOLARGE from ParseReport; the
// Reporter's errors, wrapped.
func (s *Scanner) Handle(ctx context.Context, keyID, signature string, body []byte) ([]Label, error) {
	if err := s.verify(ctx, keyID, signature, body); err != nil {
		return nil, err
	}
	matches, err := ParseReport(body)
	if err != nil {
		return nil, err
	}
	labels := make([]Label, len(matches))
	var revoked, notified int
	// A token reported twice in one report is handled once, so that the
	// notify policy does not write its event twice.
	seen := make(map[string]string, len(matches))
	for i, m := range matches {
		if label, ok := seen[m.Token]; ok {
			labels[i] = Label{TokenRaw: m.Token, TokenType: m.Type, Label: label}
			continue
		}
		r, err := s.reporter.ReportLeaked(ctx, m.Token, m.URL, m.Source, s.revoke)
		if err != nil {
			return nil, fmt.Errorf("secretscan: %w", err)
		}
		label := LabelFalsePositive
		if r.Outcome.Ours() {
			label = LabelTruePositive
		}
		switch r.Outcome {
		case apikey.LeakRevoked:
			revoked++
		case apikey.LeakNotified:
			notified++
		}
		if r.KeyID != "" {
			// The key's ID, never the token.
			s.log.WarnContext(ctx, "secretscan: a key was reported leaked",
				"key_id", r.KeyID, "outcome", r.Outcome.String(), "url", m.URL, "source", m.Source)
		}
		seen[m.Token] = label
		labels[i] = Label{TokenRaw: m.Token, TokenType: m.Type, Label: label}
	}
	s.log.InfoContext(ctx, "secretscan: report handled", "matches", len(matches), "revoked", revoked, "notified", notified)
	return labels, nil
}

var errBadSignature = auth.Errorf(auth.EUNAUTHORIZED, "The report's signature is missing or does not verify.")

// verify checks the signature headers against body.
func (s *Scanner) verify(ctx context.Context, keyID, signature string, body []byte) error {
	pub, err := s.signer(ctx, keyID, signature)
	if err != nil {
		return err
	}
	if !VerifySignature(pub, body, signature) {
		return errBadSignature
	}
	return nil
}
