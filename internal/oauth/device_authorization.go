package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// PrefixDeviceCode starts every device code (RFC 8628 3.2).
const PrefixDeviceCode = "gate_dc_"

// userCodeDraws is how many user codes are drawn before giving up when
// each collides with a stored one; with 20^8 codes a collision is rare,
// two in a row a sign of something else.
const userCodeDraws = 3

// setDeviceDefaults fills and checks the device grant's settings.
func setDeviceDefaults(cfg *Config) error {
	setDefault(&cfg.DeviceCodeTTL, DefaultDeviceCodeTTL)
	setDefault(&cfg.DeviceInterval, DefaultDeviceInterval)
	if cfg.DeviceAddressAttempts == 0 {
		cfg.DeviceAddressAttempts = DefaultDeviceAddressAttempts
	}
	if cfg.DeviceBrowserAttempts == 0 {
		cfg.DeviceBrowserAttempts = DefaultDeviceBrowserAttempts
	}
	switch {
	case cfg.DeviceCodeTTL < time.Minute || cfg.DeviceCodeTTL > MaxDeviceCodeTTL:
		return errors.New("oauth: DeviceCodeTTL must be between 1 minute and 1 hour")
	case cfg.DeviceInterval < time.Second || cfg.DeviceInterval > time.Minute || cfg.DeviceInterval%time.Second != 0:
		return errors.New("oauth: DeviceInterval must be whole seconds between 1 second and 1 minute")
	case cfg.DeviceAddressAttempts < 0 || cfg.DeviceBrowserAttempts < 0:
		return errors.New("oauth: device attempt limits must not be negative")
	}
	return nil
}

// deviceAuthorizationResponse is RFC 8628 3.2.
type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// handleDeviceAuthorization is the device authorization endpoint (RFC 8628
// 3.1, 3.2): the client authenticates as at the token endpoint (a public
// client with its client_id), must be allowed the device grant, and asks
// for scopes and resources checked as at the authorization endpoint. The
// answer holds a device code for the device to poll with and a user code
// for the person to type on the verification page.
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	resp, err := s.deviceAuthorization(r.Context(), r, form)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) deviceAuthorization(ctx context.Context, r *http.Request, form url.Values) (*deviceAuthorizationResponse, error) {
	c, err := s.authenticateClient(ctx, r, form)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.GrantTypes, auth.GrantDeviceCode) {
		return nil, errUnauthorizedClient("The client may not use the device authorization grant.")
	}
	scopes, err := s.grantScopes(c, form.Get("scope"))
	if err != nil {
		return nil, err
	}
	auds, err := s.resolveAudiences(c, form["resource"])
	if err != nil {
		return nil, err
	}
	deviceCode, deviceHash, err := s.hasher.New(PrefixDeviceCode)
	if err != nil {
		return nil, err
	}
	now := s.now()
	g := &auth.DeviceGrant{
		DeviceCodeHash: deviceHash,
		ClientID:       c.ID,
		Scopes:         scopes,
		Audiences:      auds,
		Status:         auth.DevicePending,
		Interval:       s.cfg.DeviceInterval,
		CreatedAt:      now,
		ExpiresAt:      now.Add(s.cfg.DeviceCodeTTL),
	}
	userCode, err := s.createDeviceGrant(ctx, g)
	if err != nil {
		return nil, err
	}
	shown := displayUserCode(userCode)
	return &deviceAuthorizationResponse{
		DeviceCode:              deviceCode,
		UserCode:                shown,
		VerificationURI:         s.url(PathDevice),
		VerificationURIComplete: s.url(PathDevice) + "?" + url.Values{"user_code": {shown}}.Encode(),
		ExpiresIn:               int64(s.cfg.DeviceCodeTTL / time.Second),
		Interval:                int64(s.cfg.DeviceInterval / time.Second),
	}, nil
}

// createDeviceGrant stores g under a fresh user code, drawing another if
// one collides with a stored code, and returns the code.
func (s *Server) createDeviceGrant(ctx context.Context, g *auth.DeviceGrant) (string, error) {
	for range userCodeDraws {
		code, err := newUserCode()
		if err != nil {
			return "", err
		}
		g.UserCodeHash = s.userCodeHash(code)
		err = s.store.CreateDeviceGrant(ctx, g)
		if err == nil {
			return code, nil
		}
		if auth.ErrorCode(err) != auth.ECONFLICT {
			return "", fmt.Errorf("oauth: create device grant: %w", err)
		}
	}
	return "", errors.New("oauth: every user code drawn was taken")
}
