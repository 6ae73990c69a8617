package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// newUsersFactorsCommand is `gatehouse users factors ID [--json]`: the
// user's authenticator app and passkeys, never a secret.
func newUsersFactorsCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "factors ID",
		Short: "Show a user's second factors (authenticator app, recovery codes left, passkeys)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			fs, err := c.ListFactors(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), fs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "FACTOR\tID\tNAME\tCREATED\tLAST USED\tRECOVERY CODES LEFT")
				if fs.TOTP != nil {
					fmt.Fprintf(w, "totp\t-\t-\t%s\t-\t%d\n", stamp(fs.TOTP.EnrolledAt), fs.TOTP.RecoveryCodesLeft)
				}
				for _, p := range fs.Passkeys {
					used := "never"
					if p.LastUsedAt != nil {
						used = stamp(*p.LastUsedAt)
					}
					fmt.Fprintf(w, "passkey\t%s\t%s\t%s\t%s\t-\n", p.ID, p.Name, stamp(p.CreatedAt), used)
				}
			})
		},
	}
}

// newUsersResetFactorsCommand is `gatehouse users reset-factors ID
// [--totp|--passkey ID]`: removes the user's second factors (all, the
// authenticator app, or one passkey) and ends the user's sessions.
func newUsersResetFactorsCommand(f *clientFlags, getenv env) *cobra.Command {
	var totp bool
	var passkeyID string
	cmd := &cobra.Command{
		Use:   "reset-factors ID [--totp|--passkey ID]",
		Short: "Remove a locked-out user's second factors and end the user's sessions",
		Long: "Remove a user's second factors: all of them (the authenticator app with its recovery codes, " +
			"and every passkey), or with --totp the authenticator app alone, or with --passkey ID one passkey " +
			"(IDs from `gatehouse users factors ID`). All the user's sessions end. Audited as user.factors_reset.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			if err := c.ResetFactors(cmd.Context(), args[0], totp, passkeyID); err != nil {
				return err
			}
			what := "every second factor"
			switch {
			case totp:
				what = "the authenticator app and its recovery codes"
			case passkeyID != "":
				what = "passkey " + passkeyID
			}
			out := map[string]any{"user_id": args[0], "removed": true, "totp": totp, "passkey_id": passkeyID}
			return f.print(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Removed %s of %s and ended the user's sessions.\n", what, args[0])
			})
		},
	}
	cmd.Flags().BoolVar(&totp, "totp", false, "remove only the authenticator app and its recovery codes")
	cmd.Flags().StringVar(&passkeyID, "passkey", "", "remove only this passkey (its ID)")
	cmd.MarkFlagsMutuallyExclusive("totp", "passkey")
	return cmd
}
