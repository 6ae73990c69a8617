package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
)

// `gatehouse login` signs a person in to the CLI through the device
// authorization grant (RFC 8628), with golang.org/x/oauth2 as the client,
// and keeps the tokens in the user's configuration folder
// (credentials.go); the admin commands then use them when no admin key is
// given. `gatehouse logout` revokes the sign-in (RFC 7009) and removes
// the file.

func newLoginCommand(getenv env) *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:   "login [--server URL]",
		Short: "Sign in to a server as a user (device flow), for the admin commands to use instead of an admin key",
		Long: "login signs you in to the Gatehouse server with your user account: it prints a page to open\n" +
			"in any browser and a code that page must show; you sign in there and approve. The tokens are\n" +
			"kept in your configuration folder (gatehouse/credentials.json, mode 0600) and the admin\n" +
			"commands use them whenever no admin key is given (--admin-key and GATEHOUSE_ADMIN_KEY win),\n" +
			"refreshing them as needed. Administrators may then do everything an admin key may; accounts\n" +
			"with the developer role are refused by the admin API (they use the dashboard).\n" +
			"The server is --server, else GATEHOUSE_SERVER, else " + defaultServer + ".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				server = getenv("GATEHOUSE_SERVER")
			}
			server = strings.TrimRight(orDefaultServer(server), "/")
			path, err := credentialsPath(getenv)
			if err != nil {
				return err
			}
			hc, err := cliHTTPClient(getenv)
			if err != nil {
				return err
			}
			creds, err := deviceLogin(cmd.Context(), hc, server, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			previous, _ := loadCredentials(path)
			if err := creds.save(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Signed in to %s. The admin commands use this sign-in when no admin key is given.\nCredentials: %s\n", server, path)
			// The sign-in this one replaces is of no more use: revoke it
			// rather than leave its refresh token valid for weeks.
			if previous != nil && previous.RefreshToken != creds.RefreshToken {
				if err := revokeSignIn(cmd.Context(), hc, previous); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "note: the previous sign-in, to %s, could not be revoked (%v); it stays valid until it expires\n", previous.Server, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "Gatehouse URL (env GATEHOUSE_SERVER, default "+defaultServer+")")
	return cmd
}

// serverMetadata is what login reads of the server's metadata (RFC 8414).
type serverMetadata struct {
	Issuer                      string `json:"issuer"`
	TokenEndpoint               string `json:"token_endpoint"`
	RevocationEndpoint          string `json:"revocation_endpoint"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
}

// maxMetadataBytes bounds the metadata document read.
const maxMetadataBytes = 1 << 20

// discover reads the authorization server metadata of server.
func discover(ctx context.Context, hc *http.Client, server string) (*serverMetadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+oauth.PathASMetadata, nil)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err // a *url.Error: the CLI says the server is unreachable
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes))
	if err != nil {
		return nil, fmt.Errorf("login: read %s: %w", oauth.PathASMetadata, err)
	}
	var md serverMetadata
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &md) != nil || md.TokenEndpoint == "" {
		return nil, fmt.Errorf("login: %s answered %d without authorization server metadata: is it a Gatehouse server?", server+oauth.PathASMetadata, resp.StatusCode)
	}
	if md.DeviceAuthorizationEndpoint == "" {
		return nil, fmt.Errorf("login: %s does not offer the device authorization grant that login uses: upgrade the server", server)
	}
	for _, e := range []string{md.TokenEndpoint, md.DeviceAuthorizationEndpoint, md.RevocationEndpoint} {
		if u, err := url.Parse(e); e != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			return nil, fmt.Errorf("login: the server's metadata names an endpoint that is not an http(s) URL: %q", e)
		}
	}
	return &md, nil
}

// deviceLogin runs the device flow against server: it asks for a device
// code, tells the person (on w) where to approve it, and polls the token
// endpoint until they have.
func deviceLogin(ctx context.Context, hc *http.Client, server string, w io.Writer) (*credentials, error) {
	md, err := discover(ctx, hc, server)
	if err != nil {
		return nil, err
	}
	conf := oauth2.Config{
		ClientID: admin.CLIClientID,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: md.DeviceAuthorizationEndpoint,
			TokenURL:      md.TokenEndpoint,
			AuthStyle:     oauth2.AuthStyleInParams, // a public client: client_id in the form, no secret
		},
		Scopes: strings.Fields(admin.CLIScopes),
	}
	octx := context.WithValue(ctx, oauth2.HTTPClient, hc)
	da, err := conf.DeviceAuth(octx)
	if err != nil {
		return nil, loginError("the server refused to start a sign-in", err)
	}
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(w, "To sign in, open this page in a browser:\n\n  %s\n\nand check that it shows the code %s.\n", da.VerificationURIComplete, da.UserCode)
	} else {
		fmt.Fprintf(w, "To sign in, open this page in a browser:\n\n  %s\n\nand enter the code %s.\n", da.VerificationURI, da.UserCode)
	}
	if !da.Expiry.IsZero() {
		fmt.Fprintf(w, "Waiting for you to approve (the code expires in %s)...\n", time.Until(da.Expiry).Round(time.Second))
	}
	tok, err := conf.DeviceAccessToken(octx, da)
	if err != nil {
		return nil, loginError("the sign-in did not complete", err)
	}
	if tok.AccessToken == "" {
		return nil, errors.New("login: the server answered without an access token")
	}
	return &credentials{
		Server:             server,
		ClientID:           conf.ClientID,
		TokenEndpoint:      md.TokenEndpoint,
		RevocationEndpoint: md.RevocationEndpoint,
		AccessToken:        tok.AccessToken,
		RefreshToken:       tok.RefreshToken,
		Expiry:             tok.Expiry,
	}, nil
}

// loginError explains a failed step of the device flow: the server's
// OAuth error when it sent one (RFC 8628 3.5), the cause otherwise.
func loginError(what string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode == "" {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("login: %s: the code expired before it was approved; run login again", what)
		}
		return fmt.Errorf("login: %s: %w", what, err)
	}
	switch re.ErrorCode {
	case "access_denied":
		return fmt.Errorf("login: %s: the request was denied on the approval page", what)
	case "expired_token":
		return fmt.Errorf("login: %s: the code expired before it was approved; run login again", what)
	}
	msg := fmt.Sprintf("login: %s: %s", what, re.ErrorCode)
	if re.ErrorDescription != "" {
		msg += ": " + re.ErrorDescription
	}
	return errors.New(msg)
}

func newLogoutCommand(getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the sign-in of `gatehouse login` at its server and delete it from this computer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := credentialsPath(getenv)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			creds, readErr := loadCredentials(path)
			if creds == nil && readErr == nil {
				fmt.Fprintf(out, "Not signed in: there is no %s.\n", path)
				return nil
			}
			var revokeErr error
			if creds != nil {
				hc, err := cliHTTPClient(getenv)
				if err != nil {
					return err
				}
				revokeErr = revokeSignIn(cmd.Context(), hc, creds)
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("logout: delete the sign-in: %w", err)
			}
			os.Remove(path + ".lock")
			switch {
			case readErr != nil:
				return fmt.Errorf("logout: deleted %s, which could not be used (%v); its tokens, if any, were not revoked and stay valid until they expire", path, readErr)
			case revokeErr != nil:
				return fmt.Errorf("logout: deleted %s, but %s did not revoke the sign-in (%w): its refresh token stays valid until it expires", path, creds.Server, revokeErr)
			}
			fmt.Fprintf(out, "Signed out of %s: the sign-in is revoked and %s deleted.\n", creds.Server, path)
			return nil
		},
	}
}

// revokeSignIn revokes the sign-in's refresh token at the server (RFC
// 7009), which revokes the access tokens issued with it too; a sign-in
// without one revokes its access token.
func revokeSignIn(ctx context.Context, hc *http.Client, c *credentials) error {
	if c.RevocationEndpoint == "" {
		return errors.New("the server has no revocation endpoint")
	}
	form := url.Values{"client_id": {c.ClientID}, "token": {c.RefreshToken}, "token_type_hint": {"refresh_token"}}
	if c.RefreshToken == "" {
		form.Set("token", c.AccessToken)
		form.Set("token_type_hint", "access_token")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the revocation endpoint answered %d", resp.StatusCode)
	}
	return nil
}
