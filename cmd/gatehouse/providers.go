package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
)

func newProvidersCommand(getenv env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "providers",
		Short: "Manage upstream identity providers users may sign in through (OpenID Connect, OAuth 2.0)",
	}
	f.register(cmd)
	cmd.AddCommand(
		newProvidersCreateCommand(&f, getenv),
		newProvidersListCommand(&f, getenv),
		newProvidersGetCommand(&f, getenv),
		newProvidersDeleteCommand(&f, getenv),
	)
	return cmd
}

func newProvidersCreateCommand(f *clientFlags, getenv env) *cobra.Command {
	var (
		req                                           admin.ProviderRequest
		kind, issuer, clientID, displayName, authMeth string
		authURL, tokenURL, userinfoURL, emailsURL     string
		usernameClaim, mapping                        string
		scopes                                        []string
		secretStdin, noCreateUsers, disabled          bool
		trustEmail                                    bool
	)
	cmd := &cobra.Command{
		Use: "create --name NAME --issuer URL --client-id ID --client-secret-stdin [--scopes ...] [--claim-mapping k=v,...]" +
			" [--kind oidc|oauth2 --authorization-url URL --token-url URL --userinfo-url URL]",
		Short: "Add a provider; prints the redirect URI to register at the upstream",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set := cmd.Flags().Changed
			if secretStdin {
				secret, err := readPassword(cmd.InOrStdin())
				if err != nil {
					return errors.New("read the client secret from stdin: " + strings.TrimPrefix(err.Error(), "read the password from stdin: "))
				}
				req.ClientSecret = &secret
			}
			m, err := federation.ParseClaimMapping(mapping)
			if err != nil {
				return err
			}
			req.ClaimMapping = &m
			for name, p := range map[string]*string{
				"kind": &kind, "issuer": &issuer, "client-id": &clientID, "display-name": &displayName,
				"token-endpoint-auth-method": &authMeth, "authorization-url": &authURL, "token-url": &tokenURL,
				"userinfo-url": &userinfoURL, "emails-url": &emailsURL, "username-claim": &usernameClaim,
			} {
				if set(name) {
					v := *p
					switch name {
					case "kind":
						req.Kind = &v
					case "issuer":
						req.Issuer = &v
					case "client-id":
						req.ClientID = &v
					case "display-name":
						req.DisplayName = &v
					case "token-endpoint-auth-method":
						req.AuthMethod = &v
					case "authorization-url":
						req.AuthorizationURL = &v
					case "token-url":
						req.TokenURL = &v
					case "userinfo-url":
						req.UserinfoURL = &v
					case "emails-url":
						req.EmailsURL = &v
					case "username-claim":
						req.UsernameClaim = &v
					}
				}
			}
			if set("scopes") {
				sc := nonNil(scopes)
				req.Scopes = &sc
			}
			if noCreateUsers {
				no := false
				req.CreateUsers = &no
			}
			if disabled {
				no := false
				req.Enabled = &no
			}
			if trustEmail {
				req.TrustEmail = &trustEmail
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			p, err := c.CreateProvider(cmd.Context(), req)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), p, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Created provider %s. Register this redirect URI at the upstream:\n\n  %s\n\n", p.Name, p.RedirectURI)
				providerDetails(w, *p)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Name, "name", "", "the provider's name: lower-case letters, digits and hyphens (required)")
	fl.StringVar(&kind, "kind", "oidc", "oidc (endpoints from discovery) or oauth2 (give the three URLs)")
	fl.StringVar(&issuer, "issuer", "", "the upstream's issuer URL (required)")
	fl.StringVar(&clientID, "client-id", "", "the client ID registered at the upstream (required)")
	fl.BoolVar(&secretStdin, "client-secret-stdin", false, "read the client secret from the first line of stdin")
	fl.StringVar(&displayName, "display-name", "", "the name on the login page's button (default the name)")
	fl.StringVar(&authMeth, "token-endpoint-auth-method", "", "client_secret_basic (default) or client_secret_post")
	fl.Var(&scopesValue{list: &scopes}, "scopes", "scopes asked for at the upstream, comma- or space-separated (oidc default: openid email profile)")
	fl.StringVar(&mapping, "claim-mapping", "", "upstream claims of sub, email, email_verified, name: key=claim,key=claim")
	fl.StringVar(&usernameClaim, "username-claim", "", "the claim new usernames come from (default preferred_username; oauth2: login)")
	fl.StringVar(&authURL, "authorization-url", "", "the authorization endpoint (oauth2; overrides discovery for oidc)")
	fl.StringVar(&tokenURL, "token-url", "", "the token endpoint (oauth2; overrides discovery for oidc)")
	fl.StringVar(&userinfoURL, "userinfo-url", "", "the userinfo endpoint (oauth2; overrides discovery for oidc)")
	fl.StringVar(&emailsURL, "emails-url", "", "a GitHub-shaped list of the account's addresses and their verification (oauth2)")
	fl.BoolVar(&noCreateUsers, "no-create-users", false, "do not create accounts on first sign-in: identities must be linked by signed-in users")
	fl.BoolVar(&disabled, "disabled", false, "create it disabled (not offered on the login page)")
	fl.BoolVar(&trustEmail, "trust-email", false, "trust its verified e-mail addresses: a sign-in may link to the account with that address (needs identity.link_verified_email too)")
	for _, name := range []string{"name", "issuer", "client-id"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func providerDetails(w *tabwriter.Writer, p admin.Provider) {
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%s\t%s\n", name, value)
		}
	}
	row("name", p.Name)
	row("display name", p.DisplayName)
	row("kind", p.Kind)
	row("issuer", p.Issuer)
	row("client id", p.ClientID)
	row("client secret", map[bool]string{true: "set (sealed)", false: "none"}[p.ClientSecretSet])
	row("scopes", strings.Join(p.Scopes, " "))
	var pairs []string
	for k, v := range p.ClaimMapping {
		pairs = append(pairs, k+"="+v)
	}
	row("claim mapping", strings.Join(pairs, ","))
	row("authorization url", p.AuthorizationURL)
	row("token url", p.TokenURL)
	row("userinfo url", p.UserinfoURL)
	row("emails url", p.EmailsURL)
	row("username claim", p.UsernameClaim)
	row("create users", fmt.Sprint(p.CreateUsers))
	row("enabled", fmt.Sprint(p.Enabled))
	row("trust email", fmt.Sprint(p.TrustEmail))
	row("redirect uri", p.RedirectURI)
	row("created", stamp(p.CreatedAt))
	row("updated", stamp(p.UpdatedAt))
}

func newProvidersListCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the providers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			list, err := c.ListProviders(cmd.Context())
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), admin.ProviderList{Items: nonNilProviders(list)}, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tKIND\tENABLED\tISSUER\tREDIRECT URI")
				for _, p := range list {
					fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\n", p.Name, p.Kind, p.Enabled, p.Issuer, p.RedirectURI)
				}
			})
		},
	}
}

func nonNilProviders(l []admin.Provider) []admin.Provider {
	if l == nil {
		return []admin.Provider{}
	}
	return l
}

func newProvidersGetCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one provider and its redirect URI",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			p, err := c.GetProvider(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), p, func(w *tabwriter.Writer) { providerDetails(w, *p) })
		},
	}
}

func newProvidersDeleteCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a provider and every link of a user to it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			if err := c.DeleteProvider(cmd.Context(), args[0]); err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), map[string]any{"name": args[0], "deleted": true}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Deleted provider %s.\n", args[0])
			})
		},
	}
}
