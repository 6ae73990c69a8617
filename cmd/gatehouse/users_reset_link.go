package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// newUsersResetLinkCommand is `gatehouse users reset-link ID [--email]
// [--json]`: a one-time link for the user to choose a new password,
// printed (the URL alone on the first line) and, with --email, also sent
// to the user's address.
func newUsersResetLinkCommand(f *clientFlags, getenv env) *cobra.Command {
	var sendEmail bool
	cmd := &cobra.Command{
		Use:   "reset-link ID [--email]",
		Short: "Make a one-time link for a user to choose a new password (printed; --email also sends it)",
		Long: "Make a one-time password-reset link for a user. It works once, until it expires " +
			"(identity.reset_link_ttl), and voids the user's older links; choosing a password through it " +
			"ends all the user's sessions. The link is printed, the URL alone on the first line, for you to " +
			"pass on; --email also sends it to the user's address (identity.smtp must be set).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			l, err := c.CreateResetLink(cmd.Context(), args[0], sendEmail)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), l, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, l.URL)
				fmt.Fprintf(w, "The link works once, until %s.", stamp(l.ExpiresAt))
				if l.Emailed {
					fmt.Fprint(w, " It has been e-mailed to the user.")
				}
				fmt.Fprintln(w)
			})
		},
	}
	cmd.Flags().BoolVar(&sendEmail, "email", false, "also send the link to the user's e-mail address")
	return cmd
}
