package passkey_test

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

// softAuthenticator is a WebAuthn authenticator in software, made for these
// tests from the specification (WebAuthn Level 3, 6.1 and 6.5): ES256
// keys, "none" attestation, and the JSON a browser's
// PublicKeyCredential.toJSON() gives. Each field changes what it reports.
type softAuthenticator struct {
	origin string // the origin the "browser" puts in clientData
	rpID   string // "" : the rp.id / rpId of the options
	// backupEligible and backupState are the BE and BS flags (a synced
	// passkey); userVerified the UV flag; counting makes the signature
	// counter go up with each assertion (synced passkeys keep 0).
	backupEligible, backupState, userVerified, counting bool
	keys                                                []*softKey
}

type softKey struct {
	priv       *ecdsa.PrivateKey
	id         []byte
	userHandle []byte
	counter    uint32
}

var b64 = base64.RawURLEncoding

func (a *softAuthenticator) flags(attested bool) byte {
	f := byte(0x01) // UP
	if a.userVerified {
		f |= 0x04
	}
	if a.backupEligible {
		f |= 0x08
	}
	if a.backupState {
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

// creationOptions is what the tests read of the creation options.
type creationOptions struct {
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

type requestOptions struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		RPID             string `json:"rpId"`
		UserVerification string `json:"userVerification"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// create answers navigator.credentials.create with a new key.
func (a *softAuthenticator) create(t testing.TB, optionsJSON []byte) []byte {
	t.Helper()
	k := &softKey{priv: mustKey(t), id: make([]byte, 32)}
	rand.Read(k.id)
	return a.createWith(t, optionsJSON, k)
}

// createWith answers navigator.credentials.create with key k, which it
// keeps (its user handle set from the options).
func (a *softAuthenticator) createWith(t testing.TB, optionsJSON []byte, k *softKey) []byte {
	t.Helper()
	var o creationOptions
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		t.Fatalf("creation options: %v", err)
	}
	userHandle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user.id: %v", err)
	}
	k.userHandle = userHandle
	a.keys = append(a.keys, k)
	priv := k.priv
	x, y := make([]byte, 32), make([]byte, 32)
	priv.PublicKey.X.FillBytes(x)
	priv.PublicKey.Y.FillBytes(y)
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		t.Fatal(err)
	}
	attested := make([]byte, 16) // the zero AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(attested, k.id...)
	attested = append(attested, cose...)
	rpID := a.rpID
	if rpID == "" {
		rpID = o.PublicKey.RP.ID
	}
	ad := authData(rpID, a.flags(true), 0, attested)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData("webauthn.create", o.PublicKey.Challenge, a.origin)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal", "hybrid"},
		},
	})
	return b
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// get answers navigator.credentials.get with key k (the last created when
// nil).
func (a *softAuthenticator) get(t testing.TB, optionsJSON []byte, k *softKey) []byte {
	t.Helper()
	var o requestOptions
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		t.Fatalf("request options: %v", err)
	}
	if k == nil {
		k = a.keys[len(a.keys)-1]
	}
	if a.counting {
		k.counter++
	}
	rpID := a.rpID
	if rpID == "" {
		rpID = o.PublicKey.RPID
	}
	ad := authData(rpID, a.flags(false), k.counter, nil)
	cd := clientData("webauthn.get", o.PublicKey.Challenge, a.origin)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(k.userHandle),
		},
	})
	return b
}
