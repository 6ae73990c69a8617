package mfa

import (
	"net/url"
	"strconv"
	"strings"
)

// KeyURI returns the otpauth:// URI of a TOTP secret (Google
// Authenticator's Key URI Format, which every authenticator app reads):
// otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30.
// The label and the issuer are percent-encoded, spaces as %20 (not +,
// which some apps show as is). The label's two parts may not hold a colon
// (the format's separator, which apps split on after decoding): a colon in
// either becomes a space there; the issuer parameter keeps it.
func KeyURI(issuer, account string, secret []byte) string {
	q := "secret=" + secretEncoding.EncodeToString(secret) +
		"&issuer=" + queryEscape(issuer) +
		"&algorithm=SHA1&digits=" + strconv.Itoa(Digits) +
		"&period=" + strconv.Itoa(int(Period.Seconds()))
	return "otpauth://totp/" + labelEscape(issuer) + ":" + labelEscape(account) + "?" + q
}

func queryEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// labelEscape escapes a label part, its colons made spaces.
func labelEscape(s string) string { return queryEscape(strings.ReplaceAll(s, ":", " ")) }
