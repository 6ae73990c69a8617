package auth

import (
	"slices"
	"testing"
)

func TestNormalizeAMR(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"a password alone is one factor", []string{"pwd"}, []string{"pwd"}},
		{"password and a one-time code are two", []string{"otp", "pwd"}, []string{"mfa", "otp", "pwd"}},
		{"password and a passkey are two", []string{"pwd", "hwk"}, []string{"hwk", "mfa", "pwd"}},
		{"a user-verifying passkey is two", []string{"swk", "user"}, []string{"mfa", "swk", "user"}},
		{"a passkey without user verification is one", []string{"hwk"}, []string{"hwk"}},
		{"two codes are one kind", []string{"otp", "hwk"}, []string{"hwk", "otp"}},
		{"duplicates go", []string{"pwd", "pwd"}, []string{"pwd"}},
		{"upstream values are kept", []string{"fed", "face"}, []string{"face", "fed"}},
		{"a provider's sign-in alone is one factor", []string{"fed"}, []string{"fed"}},
		{"a provider's sign-in and a one-time code are two", []string{"fed", "otp"}, []string{"fed", "mfa", "otp"}},
		{"a provider's sign-in and a passkey are two", []string{"hwk", "fed"}, []string{"fed", "hwk", "mfa"}},
		{"a provider's sign-in and a password are one kind", []string{"fed", "pwd"}, []string{"fed", "pwd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NormalizeAMR(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("NormalizeAMR(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if HasMFA(got) != slices.Contains(tt.want, "mfa") {
				t.Fatalf("HasMFA(%v) wrong", got)
			}
		})
	}
	if got := MergeAMR([]string{"pwd"}, []string{"otp"}); ACR(got) != ACRMFA {
		t.Fatalf("stepped-up sign-in acr = %q", ACR(got))
	}
	if ACR([]string{"pwd"}) != ACRPassword {
		t.Fatal("password sign-in must have the password acr")
	}
}

func TestCheckMFAPolicy(t *testing.T) {
	for _, p := range []string{"", "optional", "required"} {
		if err := CheckMFAPolicy(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range []string{"Required", "always", " required"} {
		if ErrorCode(CheckMFAPolicy(p)) != EINVALID {
			t.Errorf("%q accepted", p)
		}
	}
}
