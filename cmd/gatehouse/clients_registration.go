package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

// newClientsRegistrationTokenCommand is clients registration-token: the
// initial access tokens of dynamic client registration (RFC 7591 3).
func newClientsRegistrationTokenCommand(f *clientFlags, getenv env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registration-token",
		Short: "Issue, list and revoke initial access tokens for dynamic client registration",
	}
	cmd.AddCommand(
		newRegistrationTokenCreateCommand(f, getenv),
		newRegistrationTokenListCommand(f, getenv),
		newRegistrationTokenRevokeCommand(f, getenv),
	)
	return cmd
}

func newRegistrationTokenCreateCommand(f *clientFlags, getenv env) *cobra.Command {
	var (
		uses    int
		expires time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Issue an initial access token; it is printed once",
		Long: `Issue an initial access token: the bearer token that lets a developer
register clients at POST /oauth2/register (RFC 7591). With --json it prints
exactly {"token": "..."}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if uses < 1 {
				return fmt.Errorf("--uses must be at least 1")
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			req := admin.RegistrationTokenRequest{Uses: uses}
			if expires != 0 {
				req.ExpiresIn = expires.String()
			}
			out, err := c.CreateRegistrationToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.asJSON {
				// Exactly the document the interface promises, spacing
				// included, for scripts that read it without a JSON parser.
				tok, err := json.Marshal(out.Token)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(w, "{\"token\": %s}\n", tok)
				return err
			}
			fmt.Fprintf(w, "Initial access token %s: %d registration(s) until %s. Shown once; store it now:\n\n  %s\n\n",
				out.ID, out.Uses, stamp(out.ExpiresAt), out.Token)
			fmt.Fprintf(w, "Register with: curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{...}' <issuer>/oauth2/register\n", out.Token)
			return nil
		},
	}
	cmd.Flags().IntVar(&uses, "uses", 1, "registrations the token allows")
	durationVar(cmd.Flags(), &expires, "expires", 24*time.Hour, "how long the token is valid, like 1h or 7d")
	return cmd
}

func newRegistrationTokenListCommand(f *clientFlags, getenv env) *cobra.Command {
	var p admin.PageParams
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List initial access tokens (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			list, err := c.ListRegistrationTokens(cmd.Context(), p)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tHINT\tSTATUS\tUSED\tEXPIRES\tCREATED")
				for _, t := range list.Items {
					fmt.Fprintf(w, "%s\t...%s\t%s\t%d/%d\t%s\t%s\n", t.ID, t.Hint, t.Status, t.Used, t.Uses, stamp(t.ExpiresAt), stamp(t.CreatedAt))
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

func newRegistrationTokenRevokeCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an initial access token; clients registered with it stay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			out, err := c.RevokeRegistrationToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Revoked %s (%d of %d registrations used).\n", out.ID, out.Used, out.Uses)
			})
		},
	}
}
