package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

func newClientsCommand(getenv env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Register and manage OAuth clients",
	}
	f.register(cmd)
	cmd.AddCommand(
		newClientsCreateCommand(&f, getenv),
		newClientsListCommand(&f, getenv),
		newClientsGetCommand(&f, getenv),
		newClientsUpdateCommand(&f, getenv),
		newClientsDeleteCommand(&f, getenv),
		newClientsRotateSecretCommand(&f, getenv),
		newClientsRegistrationTokenCommand(&f, getenv),
	)
	return cmd
}

// clientSettings are the flags of clients create and clients update.
type clientSettings struct {
	name          string
	owner         string
	public        bool
	authMethod    string
	jwksFile      string
	redirectURIs  []string
	logoutURIs    []string
	grantTypes    []string
	scopes        []string
	audiences     []string
	accessTTL     time.Duration
	refreshTTL    time.Duration
	refreshMaxTTL time.Duration

	requireDPoP        bool
	requirePAR         bool
	logoutChannelURI   string
	applicationType    string
	exchangeIssuers    []string
	allowImpersonation bool
	mfa                string
}

func (s *clientSettings) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&s.name, "name", "", "a name shown on the consent page")
	fl.StringVar(&s.owner, "owner", "", `the team or service the client belongs to, as for API keys (update: "" clears it); never changes OAuth behaviour`)
	fl.BoolVar(&s.public, "public", false, "a public client (browser or native app): no secret, PKCE only")
	fl.StringVar(&s.authMethod, "auth-method", "", "token endpoint auth method: client_secret_basic (default), client_secret_post, private_key_jwt (needs --jwks-file), none (public)")
	fl.StringVar(&s.jwksFile, "jwks-file", "", "file holding the client's public JWK Set, for private_key_jwt")
	fl.StringArrayVar(&s.redirectURIs, "redirect-uri", nil, "a redirect URI, matched exactly (repeatable)")
	fl.StringArrayVar(&s.logoutURIs, "post-logout-redirect-uri", nil, "a post-logout redirect URI (repeatable)")
	fl.StringSliceVar(&s.grantTypes, "grant-types", nil, "allowed grants, comma-separated: authorization_code,refresh_token,client_credentials,urn:ietf:params:oauth:grant-type:device_code,urn:ietf:params:oauth:grant-type:token-exchange")
	scopesVar(fl, &s.scopes, "scopes", `scopes the client may ask for, space- or comma-separated ("openid offline_access api:read"); repeatable`)
	fl.StringArrayVar(&s.audiences, "audience", nil, "an API (resource indicator) the client may get tokens for; the first is the default (repeatable)")
	durationVar(fl, &s.accessTTL, "access-token-ttl", 0, "access token lifetime, like 10m (default: the server's)")
	durationVar(fl, &s.refreshTTL, "refresh-token-ttl", 0, "refresh token idle lifetime, like 14d (default: the server's)")
	durationVar(fl, &s.refreshMaxTTL, "refresh-token-max-ttl", 0, "refresh token absolute lifetime, like 90d (default: the server's)")
	fl.BoolVar(&s.requireDPoP, "require-dpop", false, "refuse token requests without a DPoP proof (sender-constrained tokens, RFC 9449)")
	fl.BoolVar(&s.requirePAR, "require-par", false, "accept authorization requests only through pushed authorization requests (RFC 9126)")
	fl.StringVar(&s.logoutChannelURI, "backchannel-logout-uri", "", `where logout tokens are posted when a user's session ends (OIDC Back-Channel Logout); update: "" clears it`)
	fl.StringVar(&s.applicationType, "application-type", "", "web (default) or native")
	fl.StringArrayVar(&s.exchangeIssuers, "exchange-issuer", nil, "another issuer whose tokens the client may exchange (token-exchange grant; repeatable)")
	fl.BoolVar(&s.allowImpersonation, "allow-impersonation", false, "let the client exchange tokens without being named as the actor (token-exchange grant)")
	fl.StringVar(&s.mfa, "mfa", "", `second factor for the client's users: optional or required (default: the server's identity.mfa; update: "" goes back to it)`)
}

// apply copies the flags that are set (all of them for create) into req.
func (s *clientSettings) apply(cmd *cobra.Command, req *admin.ClientRequest, all bool) error {
	set := func(name string) bool { return all || cmd.Flags().Changed(name) }
	if set("name") {
		req.Name = s.name
	}
	if set("owner") {
		req.Owner = s.owner
	}
	if set("public") {
		req.Public = s.public
	}
	if set("auth-method") {
		req.TokenEndpointAuthMethod = s.authMethod
	}
	if s.jwksFile != "" {
		b, err := os.ReadFile(s.jwksFile)
		if err != nil {
			return fmt.Errorf("read --jwks-file: %w", err)
		}
		req.JWKS = b
	}
	if set("redirect-uri") {
		req.RedirectURIs = s.redirectURIs
	}
	if set("post-logout-redirect-uri") {
		req.PostLogoutRedirectURIs = s.logoutURIs
	}
	if set("grant-types") {
		req.GrantTypes = s.grantTypes
	}
	if set("scopes") {
		req.Scopes = nonNil(s.scopes)
	}
	if set("audience") {
		req.Audiences = s.audiences
	}
	if set("require-dpop") {
		req.RequireDPoP = s.requireDPoP
	}
	if set("require-par") {
		req.RequirePAR = s.requirePAR
	}
	if set("backchannel-logout-uri") {
		req.BackchannelLogoutURI = s.logoutChannelURI
	}
	if set("application-type") {
		req.ApplicationType = s.applicationType
	}
	if set("exchange-issuer") {
		req.ExchangeIssuers = s.exchangeIssuers
	}
	if set("allow-impersonation") {
		req.AllowImpersonation = s.allowImpersonation
	}
	if set("mfa") {
		req.MFA = s.mfa
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
		dst  *string
	}{
		{"access-token-ttl", s.accessTTL, &req.AccessTokenTTL},
		{"refresh-token-ttl", s.refreshTTL, &req.RefreshTokenTTL},
		{"refresh-token-max-ttl", s.refreshMaxTTL, &req.RefreshTokenMaxTTL},
	} {
		if !set(d.flag) {
			continue
		}
		if d.v < 0 {
			return usageErrorf("--%s must be positive", d.flag)
		}
		*d.dst = ""
		if d.v > 0 {
			*d.dst = formatDuration(d.v)
		}
	}
	return nil
}

func newClientsCreateCommand(f *clientFlags, getenv env) *cobra.Command {
	var s clientSettings
	cmd := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Register a client; a confidential client's secret is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var req admin.ClientRequest
			if err := s.apply(cmd, &req, true); err != nil {
				return err
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			out, err := c.CreateClient(cmd.Context(), req)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Registered client %s.\n", out.ClientID)
				if out.ClientSecret != "" {
					fmt.Fprintf(w, "The client secret is shown once; store it now:\n\n  %s\n\n", out.ClientSecret)
				}
				clientDetails(w, out.OAuthClient)
			})
		},
	}
	s.register(cmd)
	cmd.MarkFlagRequired("name")
	return cmd
}

func clientDetails(w *tabwriter.Writer, c admin.OAuthClient) {
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%s\t%s\n", name, value)
		}
	}
	row("client_id", c.ClientID)
	row("name", c.Name)
	row("owner", c.Owner)
	kind := "confidential"
	if c.Public {
		kind = "public"
	}
	row("type", kind)
	row("auth method", c.TokenEndpointAuthMethod)
	if c.SecretHint != "" {
		row("secret", "…"+c.SecretHint)
	}
	row("grant types", strings.Join(c.GrantTypes, ","))
	row("scopes", strings.Join(c.Scopes, " "))
	for _, u := range c.RedirectURIs {
		row("redirect uri", u)
	}
	for _, u := range c.PostLogoutRedirectURIs {
		row("post-logout uri", u)
	}
	for _, a := range c.Audiences {
		row("audience", a)
	}
	row("access token ttl", c.AccessTokenTTL)
	row("refresh token ttl", c.RefreshTokenTTL)
	row("refresh token max ttl", c.RefreshTokenMaxTTL)
	row("application type", c.ApplicationType)
	if c.RequireDPoP {
		row("dpop", "required")
	}
	if c.RequirePAR {
		row("pushed requests", "required")
	}
	row("back-channel logout", c.BackchannelLogoutURI)
	for _, iss := range c.ExchangeIssuers {
		row("exchange issuer", iss)
	}
	if c.AllowImpersonation {
		row("impersonation", "allowed")
	}
	row("second factor", c.MFA)
	if c.Registered {
		row("registered", "dynamically (RFC 7591)")
	}
	row("created", stamp(c.CreatedAt))
	row("updated", stamp(c.UpdatedAt))
}

func newClientsListCommand(f *clientFlags, getenv env) *cobra.Command {
	var p admin.PageParams
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			list, err := c.ListClients(cmd.Context(), p)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "CLIENT_ID\tNAME\tOWNER\tTYPE\tGRANTS\tCREATED")
				for _, cl := range list.Items {
					kind := "confidential"
					if cl.Public {
						kind = "public"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", cl.ClientID, cl.Name, cl.Owner, kind, strings.Join(cl.GrantTypes, ","), stamp(cl.CreatedAt))
				}
				if list.NextCursor != "" {
					fmt.Fprintf(w, "\nMore: --cursor %s\n", list.NextCursor)
				}
			})
		},
	}
	cmd.Flags().IntVar(&p.Limit, "limit", 0, "page size, 1..500 (default 100)")
	cmd.Flags().StringVar(&p.Cursor, "cursor", "", "the cursor printed after the previous page")
	return cmd
}

func newClientsGetCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "get CLIENT_ID",
		Short: "Show one client",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			cl, err := c.GetClient(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), cl, func(w *tabwriter.Writer) { clientDetails(w, *cl) })
		},
	}
}

func newClientsUpdateCommand(f *clientFlags, getenv env) *cobra.Command {
	var s clientSettings
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID [flags]",
		Short: "Change a client's settings; flags not given keep their value",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			cur, err := c.GetClient(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			req := admin.ClientRequest{
				Name:                    cur.Name,
				Owner:                   cur.Owner,
				Public:                  cur.Public,
				TokenEndpointAuthMethod: cur.TokenEndpointAuthMethod,
				JWKS:                    cur.JWKS,
				RedirectURIs:            cur.RedirectURIs,
				PostLogoutRedirectURIs:  cur.PostLogoutRedirectURIs,
				GrantTypes:              cur.GrantTypes,
				Scopes:                  cur.Scopes,
				Audiences:               cur.Audiences,
				AccessTokenTTL:          cur.AccessTokenTTL,
				RefreshTokenTTL:         cur.RefreshTokenTTL,
				RefreshTokenMaxTTL:      cur.RefreshTokenMaxTTL,
				RequireDPoP:             cur.RequireDPoP,
				RequirePAR:              cur.RequirePAR,
				BackchannelLogoutURI:    cur.BackchannelLogoutURI,
				ApplicationType:         cur.ApplicationType,
				ExchangeIssuers:         cur.ExchangeIssuers,
				AllowImpersonation:      cur.AllowImpersonation,
				MFA:                     cur.MFA,
				Metadata:                cur.Metadata,
			}
			if err := s.apply(cmd, &req, false); err != nil {
				return err
			}
			cl, err := c.UpdateClient(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), cl, func(w *tabwriter.Writer) { clientDetails(w, *cl) })
		},
	}
	s.register(cmd)
	return cmd
}

func newClientsDeleteCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client; its tokens are revoked",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			if err := c.DeleteClient(cmd.Context(), args[0]); err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), map[string]any{"client_id": args[0], "deleted": true}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Deleted client %s; its tokens are revoked.\n", args[0])
			})
		},
	}
}

func newClientsRotateSecretCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-secret CLIENT_ID",
		Short: "Replace a client's secret; the old one stops working now and the new one is printed once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			out, err := c.RotateClientSecret(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "New secret for %s, shown once; store it now:\n\n  %s\n\n", out.ClientID, out.ClientSecret)
			})
		},
	}
}
