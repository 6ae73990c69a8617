package secretscan

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"strings"
	"unicode"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Bounds of a report.
const (
	// MaxReportBytes caps a report's body. GitHub batches matches; a
	// thousand of them with long URLs fit well within.
	MaxReportBytes = 1 << 20
	// MaxReportMatches caps the matches of one report, so that one request
	// cannot ask for unbounded store work.
	MaxReportMatches = 1000
	// MaxURLLength and MaxSourceLength bound what is kept of a match's url
	// and source in the audit log; longer values are cut.
	MaxURLLength    = 2048
	MaxSourceLength = 64
	// maxKeyIDLength and maxSignatureLength bound the headers before any
	// work: GitHub's identifiers are 64 hex digits, and a DER ECDSA P-256
	// signature is at most 72 bytes (96 in base64).
	maxKeyIDLength     = 256
	maxSignatureLength = 256
)

// Match is one reported secret, as GitHub's partner program sends it.
type Match struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// VerifySignature checks sig, the base64 of an ASN.1 DER ECDSA signature,
// against the SHA-256 of body under pub (ECDSA-NIST-P256V1-SHA256, as
// GitHub signs reports). It reports false for anything malformed.
func VerifySignature(pub *ecdsa.PublicKey, body []byte, sig string) bool {
	if pub == nil || sig == "" || len(sig) > maxSignatureLength {
		return false
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		if der, err = base64.RawStdEncoding.DecodeString(sig); err != nil {
			return false
		}
	}
	digest := sha256.Sum256(body)
	return ecdsa.VerifyASN1(pub, digest[:], der)
}

// ParseReport parses a report's body: a JSON array of matches, at most
// MaxReportMatches. Members other than the four of Match are ignored (the
// format may grow); a member of the wrong type, invalid UTF-8, a duplicate
// member or anything but an array is refused. URL and Source are cleaned
// (control characters replaced, cut to their maximum length), since they
// go to the audit log.
//
// Errors: auth.EINVALID, auth.ETOOLARGE; messages never quote the body.
func ParseReport(body []byte) ([]Match, error) {
	// Element by element, so that the count is checked before the
	// matches are held: a body of a million "{}" must not cost a million
	// decoded structs.
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	if dec.PeekKind() != '[' {
		return nil, auth.Errorf(auth.EINVALID, "The report must be a JSON array.")
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, errNotReport
	}
	var matches []Match
	for dec.PeekKind() != ']' {
		if len(matches) == MaxReportMatches {
			return nil, auth.Errorf(auth.ETOOLARGE, "The report has more than %d matches.", MaxReportMatches)
		}
		if dec.PeekKind() != '{' {
			return nil, errNotReport
		}
		var m Match
		if err := jsonv2.UnmarshalDecode(dec, &m); err != nil {
			return nil, errNotReport
		}
		matches = append(matches, m)
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, errNotReport
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, auth.Errorf(auth.EINVALID, "The report has data after the JSON array.")
	}
	for i := range matches {
		matches[i].URL = clean(matches[i].URL, MaxURLLength)
		matches[i].Source = clean(matches[i].Source, MaxSourceLength)
	}
	return matches, nil
}

var errNotReport = auth.Errorf(auth.EINVALID, "The report is not a JSON array of objects with string members token, type, url and source.")

// clean replaces control characters by spaces (a NUL cannot even be
// stored in PostgreSQL) and cuts s to at most n bytes, on a rune boundary.
func clean(s string, n int) string {
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, s)
	}
	return auth.TruncateUTF8(s, n)
}
