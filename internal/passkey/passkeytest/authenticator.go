// Package passkeytest is a WebAuthn authenticator in software for tests:
// it answers the creation and request options of internal/passkey the
// way a browser with an authenticator would, so tests can register and
// sign in with passkeys without a browser.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator is a WebAuthn authenticator in software, made for tests
// from the specification (WebAuthn Level 3, 6.1 and 6.5): ES256
// keys, "none" attestation, and the JSON a browser's
// PublicKeyCredential.toJSON() gives. Each field changes what it reports.
type Authenticator struct {
	Origin string // the origin the "browser" puts in clientData
	RPID   string // "": the rp.id / rpId of the options
	// BackupEligible and BackupState are the BE and BS flags (a synced
	// passkey); UserVerified the UV flag; Counting makes the signature
	// counter go up with each assertion (synced passkeys keep 0).
	BackupEligible, BackupState, UserVerified, Counting bool
	// Keys are the credentials it made, oldest first.
	Keys []*Key
}

// Key is one credential of an Authenticator.
type Key struct {
	Priv       *ecdsa.PrivateKey
	ID         []byte
	UserHandle []byte
	Counter    uint32
}

// B64 is the encoding of binary members in WebAuthn JSON.
var B64 = base64.RawURLEncoding

func (a *Authenticator) flags(attested bool) byte {
	f := byte(0x01) // UP
	if a.UserVerified {
		f |= 0x04
	}
	if a.BackupEligible {
		f |= 0x08
	}
	if a.BackupState {
		f |= 0x10
	}
	if attested {
		f |= 0x40
	}
	return f
}

func authData(rpID string, flags byte, counter uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, counter)
	return append(out, attested...)
}

func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// CreationOptions is what tests read of the creation options.
type CreationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
		AuthenticatorSelection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
	} `json:"publicKey"`
}

// RequestOptions is what tests read of the request options.
type RequestOptions struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		RPID             string `json:"rpId"`
		UserVerification string `json:"userVerification"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// Create answers navigator.credentials.create with a new key.
func (a *Authenticator) Create(t testing.TB, optionsJSON []byte) []byte {
	t.Helper()
	k := &Key{Priv: MustKey(t), ID: make([]byte, 32)}
	rand.Read(k.ID)
	return a.CreateWith(t, optionsJSON, k)
}

// CreateWith answers navigator.credentials.create with key k, which it
// keeps (its user handle set from the options).
func (a *Authenticator) CreateWith(t testing.TB, optionsJSON []byte, k *Key) []byte {
	t.Helper()
	var o CreationOptions
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		t.Fatalf("creation options: %v", err)
	}
	userHandle, err := B64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user.id: %v", err)
	}
	k.UserHandle = userHandle
	a.Keys = append(a.Keys, k)
	priv := k.Priv
	x, y := make([]byte, 32), make([]byte, 32)
	priv.PublicKey.X.FillBytes(x)
	priv.PublicKey.Y.FillBytes(y)
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		t.Fatal(err)
	}
	attested := make([]byte, 16) // the zero AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.ID)))
	attested = append(attested, k.ID...)
	attested = append(attested, cose...)
	rpID := a.RPID
	if rpID == "" {
		rpID = o.PublicKey.RP.ID
	}
	ad := authData(rpID, a.flags(true), 0, attested)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": B64.EncodeToString(k.ID), "rawId": B64.EncodeToString(k.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    B64.EncodeToString(clientData("webauthn.create", o.PublicKey.Challenge, a.Origin)),
			"attestationObject": B64.EncodeToString(att),
			"transports":        []string{"internal", "hybrid"},
		},
	})
	return b
}

// MustKey returns a new P-256 key.
func MustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Get answers navigator.credentials.get with key k (the last created when
// nil).
func (a *Authenticator) Get(t testing.TB, optionsJSON []byte, k *Key) []byte {
	t.Helper()
	var o RequestOptions
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		t.Fatalf("request options: %v", err)
	}
	if k == nil {
		k = a.Keys[len(a.Keys)-1]
	}
	if a.Counting {
		k.Counter++
	}
	rpID := a.RPID
	if rpID == "" {
		rpID = o.PublicKey.RPID
	}
	ad := authData(rpID, a.flags(false), k.Counter, nil)
	cd := clientData("webauthn.get", o.PublicKey.Challenge, a.Origin)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.Priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": B64.EncodeToString(k.ID), "rawId": B64.EncodeToString(k.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    B64.EncodeToString(cd),
			"authenticatorData": B64.EncodeToString(ad),
			"signature":         B64.EncodeToString(sig),
			"userHandle":        B64.EncodeToString(k.UserHandle),
		},
	})
	return b
}
