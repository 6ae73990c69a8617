package auth

import (
	"slices"
)

// Authentication methods of a sign-in, as the amr claim names them
// (RFC 8176 2). A session, a code and a refresh token carry the methods of
// the sign-in behind them, and the tokens issued from them say so.
const (
	AMRPassword    = "pwd"  // a password
	AMROTP         = "otp"  // a one-time code: TOTP or a recovery code
	AMRHardwareKey = "hwk"  // a passkey bound to one authenticator
	AMRSoftwareKey = "swk"  // a synced passkey (backup eligible)
	AMRUser        = "user" // the authenticator verified the user (PIN or biometric)
	AMRMFA         = "mfa"  // two independent factors
	AMRFederated   = "fed"  // an upstream identity provider vouched for the user
)

// Authentication context classes (the acr claim, OIDC Core 2): a sign-in
// with one factor, and one with two.
const (
	ACRPassword = "urn:gatehouse:acr:password"
	ACRMFA      = "urn:gatehouse:acr:mfa"
)

// MFA policies of the server (identity.mfa) and of a client (Client.MFA;
// "" follows the server's).
const (
	MFAOptional = "optional" // users with a second factor are asked for it
	MFARequired = "required" // every user needs a second factor; those without one enrol
)

// CheckMFAPolicy refuses (EINVALID) a policy other than "", optional and
// required.
func CheckMFAPolicy(p string) error {
	switch p {
	case "", MFAOptional, MFARequired:
		return nil
	}
	return Errorf(EINVALID, "The MFA policy must be %q or %q.", MFAOptional, MFARequired)
}

// HasMFA reports whether a sign-in with these methods used two factors.
func HasMFA(amr []string) bool { return slices.Contains(amr, AMRMFA) }

// ACR is the authentication context class a sign-in with these methods
// satisfies.
func ACR(amr []string) string {
	if HasMFA(amr) {
		return ACRMFA
	}
	return ACRPassword
}

// factorKinds maps each method to the kind of factor it proves: something
// known, something had. A user-verifying passkey proves both by itself.
// An upstream provider's sign-in (fed) stands where the password stands:
// one first factor, independent of every factor kept here, so fed plus a
// local one-time code or passkey is two factors, and fed alone is one
// (what the upstream checked is not ours to count).
var factorKinds = map[string]string{
	AMRPassword:    "know",
	AMRFederated:   "know",
	AMROTP:         "have",
	AMRHardwareKey: "have",
	AMRSoftwareKey: "have",
	AMRUser:        "know", // a PIN or biometric checked by the authenticator
}

// NormalizeAMR returns the methods sorted and without duplicates, with
// AMRMFA added when they prove two kinds of factor (RFC 8176 2: "mfa"
// means multiple factors were used). Unknown values are kept: an upstream
// provider's methods pass through.
func NormalizeAMR(amr []string) []string {
	out := slices.Clone(amr)
	kinds := map[string]bool{}
	for _, m := range out {
		if k, ok := factorKinds[m]; ok {
			kinds[k] = true
		}
	}
	if len(kinds) >= 2 {
		out = append(out, AMRMFA)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MergeAMR is the methods of a sign-in stepped up with more: both sets,
// normalised.
func MergeAMR(have, more []string) []string {
	return NormalizeAMR(append(slices.Clone(have), more...))
}
