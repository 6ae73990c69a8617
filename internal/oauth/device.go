package oauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Device cookies (OWASP Authentication Cheat Sheet, "device cookies").
//
// After a successful sign-in the browser gets a long-lived cookie proving
// that it signed in to that account before. A later sign-in carrying it
// is exempt from the account's lockout and answers to the cookie's own
// failure budget instead (account.Service.Authenticate), so guessing a
// user's password from elsewhere cannot lock the user out of their own
// browser.
//
// The value is userID "." issued "." nonce "." mac: the user's ID, the
// issue time in Unix microseconds (the precision at which the stores keep
// a password change, so that a cookie issued just before a reset is told
// from one issued after it), 16 random bytes, and an HMAC under the
// server's hashing secret (as CSRF tokens are signed; every node shares
// it) over the three and the format's version. A cookie of the first
// format (issue time in seconds, no version in the MAC) fails the MAC and
// exempts nobody; its holder gets a new one at the next sign-in. It is stateless, so no table grows with every
// sign-in; the account service checks that the user still holds the
// username tried and has not changed the password since, and the nonce
// keys the cookie's own failure budget. A new cookie is issued at every
// sign-in; signing out leaves it, since it proves the device, not a
// session.

// maxDeviceCookie bounds a presented value before any work: a user ID, up
// to maxDeviceIssued digits, 22 and 43 base64url characters, three dots.
const maxDeviceCookie = 128

// maxDeviceIssued bounds the issue time's digits (Unix microseconds have
// 16 until the year 2286).
const maxDeviceIssued = 16

// deviceFormat names the cookie's format in its MAC: "v2", microseconds.
const deviceFormat = "gatehouse-device-v2"

func (s *Server) deviceCookieName() string {
	if s.cfg.InsecureCookies {
		return auth.CookieDeviceInsecure
	}
	return auth.CookieDevice
}

func (s *Server) deviceMAC(userID, issued, nonce string) string {
	sum := s.hasher.Sum(deviceFormat + "\x00" + userID + "\x00" + issued + "\x00" + nonce)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// setDeviceCookie gives the browser a new device cookie for u.
func (s *Server) setDeviceCookie(w http.ResponseWriter, u *auth.User) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("oauth: device cookie nonce: %w", err)
	}
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	issued := strconv.FormatInt(s.now().UnixMicro(), 10)
	v := u.ID + "." + issued + "." + nonce + "." + s.deviceMAC(u.ID, issued, nonce)
	http.SetCookie(w, s.cookie(s.deviceCookieName(), v, s.cfg.DeviceTTL))
	return nil
}

// presentedDevice returns the request's device cookie if this server
// signed it less than DeviceTTL ago, or nil. Which account it exempts is
// the account service's decision.
func (s *Server) presentedDevice(r *http.Request) *account.Device {
	c, err := r.Cookie(s.deviceCookieName())
	if err != nil || len(c.Value) > maxDeviceCookie {
		return nil
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 || len(parts[1]) > maxDeviceIssued {
		return nil
	}
	userID, issued, nonce, mac := parts[0], parts[1], parts[2], parts[3]
	want := s.deviceMAC(userID, issued, nonce)
	if subtle.ConstantTimeCompare([]byte(mac), []byte(want)) != 1 {
		return nil
	}
	ts, err := strconv.ParseInt(issued, 10, 64)
	if err != nil {
		return nil
	}
	at := time.UnixMicro(ts)
	if age := s.now().Sub(at); age < -time.Minute || age > s.cfg.DeviceTTL {
		return nil
	}
	return &account.Device{ID: nonce, UserID: userID, IssuedAt: at}
}
