package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/account"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// fakeTOTP is the one-time code service as the login flow sees it
// (TOTPVerifier), over a small RFC 6238 implementation of its own: SHA-1,
// 6 digits, 30-second steps, ±1 step, no step accepted twice, one
// recovery code per user, and a throttle of wrong codes per user. Tests
// compute codes with github.com/pquerna/otp, an independent
// implementation.
type fakeTOTP struct {
	mu       sync.Mutex
	now      func() time.Time
	secrets  map[string]string // user ID → base32 secret
	last     map[string]int64  // user ID → last accepted step
	recovery map[string]string // user ID → unused recovery code
	failures map[string]int
	limit    int // wrong codes per user before ERATELIMITED
	verified int // VerifyCode calls
}

var _ TOTPVerifier = (*fakeTOTP)(nil)

func newFakeTOTP() *fakeTOTP {
	return &fakeTOTP{now: time.Now, secrets: map[string]string{}, last: map[string]int64{},
		recovery: map[string]string{}, failures: map[string]int{}, limit: 5}
}

// enrol gives the user a TOTP secret and a recovery code; it returns the
// secret.
func (f *fakeTOTP) enrol(userID string) string {
	var b [20]byte
	rand.Read(b[:])
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[userID] = s
	f.recovery[userID] = "rc-" + strings.ToLower(s[:10])
	return s
}

func (f *fakeTOTP) Enrolled(_ context.Context, userID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.secrets[userID]
	return ok, nil
}

func (f *fakeTOTP) VerifyCode(_ context.Context, userID, code, addr string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verified++
	if f.failures[userID] >= f.limit {
		return "", auth.Errorf(auth.ERATELIMITED, "Too many wrong codes. Try again later.")
	}
	secret, ok := f.secrets[userID]
	if !ok {
		return "", auth.Errorf(auth.EUNAUTHORIZED, "wrong code")
	}
	if rc := f.recovery[userID]; rc != "" && hmac.Equal([]byte(code), []byte(rc)) {
		delete(f.recovery, userID)
		return auth.AMROTP, nil
	}
	key, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	step := f.now().Unix() / 30
	for _, s := range []int64{step - 1, step, step + 1} {
		if s > f.last[userID] && hmac.Equal([]byte(hotp(key, uint64(s))), []byte(code)) {
			f.last[userID] = s
			return auth.AMROTP, nil
		}
	}
	f.failures[userID]++
	return "", auth.Errorf(auth.EUNAUTHORIZED, "wrong code")
}

// hotp is RFC 4226 5.3 with 6 digits.
func hotp(key []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}

// totpCode computes the code of secret at t with github.com/pquerna/otp.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// fakePasskeys is the passkey service as the login flow sees it: a
// ceremony's state is single-use, and a "credential" is the JSON
// {"user": ID, "state": S, "uv": bool} of a user who has a passkey.
type fakePasskeys struct {
	mu     sync.Mutex
	users  map[string]bool
	states map[string]string // state → user ID the ceremony was for ("" discoverable)
	n      int
	// limiter, when set, throttles FinishLoginFrom as the real service
	// does.
	limiter *account.FactorLimiter
}

var _ PasskeyAuthenticator = (*fakePasskeys)(nil)

func newFakePasskeys() *fakePasskeys {
	return &fakePasskeys{users: map[string]bool{}, states: map[string]string{}}
}

func (f *fakePasskeys) register(userID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[userID] = true
}

func (f *fakePasskeys) Registered(_ context.Context, userID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.users[userID], nil
}

func (f *fakePasskeys) BeginLogin(_ context.Context, userID string) ([]byte, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	state := fmt.Sprintf("ceremony-%d", f.n)
	f.states[state] = userID
	opts, _ := json.Marshal(map[string]any{"publicKey": map[string]any{"challenge": state, "userVerification": "preferred"}})
	return opts, state, nil
}

func (f *fakePasskeys) FinishLoginFrom(ctx context.Context, state string, response []byte, addr string) (string, []string, error) {
	if f.limiter == nil {
		return f.finishLogin(ctx, state, response)
	}
	// Throttled as the passkey service does, with the real limiter.
	var cred struct {
		User string `json:"user"`
	}
	json.Unmarshal(response, &cred)
	if err := f.limiter.Take(ctx, cred.User, addr); err != nil {
		return "", nil, err
	}
	userID, amr, err := f.finishLogin(ctx, state, response)
	if err == nil {
		f.limiter.Refund(ctx, cred.User, addr)
	}
	return userID, amr, err
}

func (f *fakePasskeys) finishLogin(_ context.Context, state string, response []byte) (string, []string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for_, ok := f.states[state]
	delete(f.states, state)
	var cred struct {
		User  string `json:"user"`
		State string `json:"state"`
		UV    bool   `json:"uv"`
	}
	if !ok || json.Unmarshal(response, &cred) != nil || cred.State != state || !f.users[cred.User] || (for_ != "" && for_ != cred.User) {
		return "", nil, auth.Errorf(auth.EUNAUTHORIZED, "passkey refused")
	}
	amr := []string{auth.AMRHardwareKey}
	if cred.UV {
		amr = append(amr, auth.AMRUser)
	}
	return cred.User, amr, nil
}

// passkeyCredential is what the fake accepts for the user and state.
func passkeyCredential(userID, state string, uv bool) string {
	b, _ := json.Marshal(map[string]any{"user": userID, "state": state, "uv": uv})
	return string(b)
}
