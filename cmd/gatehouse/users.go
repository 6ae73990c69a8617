package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

func newUsersCommand(getenv env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Create and manage local user accounts",
	}
	f.register(cmd)
	cmd.AddCommand(
		newUsersCreateCommand(&f, getenv),
		newUsersListCommand(&f, getenv),
		newUsersGetCommand(&f, getenv),
		newUsersUpdateCommand(&f, getenv),
		newUsersEnableCommand(&f, getenv, false),
		newUsersEnableCommand(&f, getenv, true),
		newUsersResetPasswordCommand(&f, getenv),
		newUsersResetLinkCommand(&f, getenv),
		newUsersFactorsCommand(&f, getenv),
		newUsersResetFactorsCommand(&f, getenv),
		newUsersConsentsCommand(&f, getenv),
		newUsersRevokeConsentCommand(&f, getenv),
	)
	return cmd
}

// maxPasswordInput bounds what is read from stdin for a password.
const maxPasswordInput = 4096

// readPassword reads the first line of r: a password piped in, so it never
// appears in argv or the shell history.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordInput)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin")
	}
	return pw, nil
}

func newUsersCreateCommand(f *clientFlags, getenv env) *cobra.Command {
	var (
		req           admin.CreateUserRequest
		passwordStdin bool
	)
	cmd := &cobra.Command{
		Use:   "create --username U [--role admin|developer] [--owners a,b] --password-stdin",
		Short: "Create a user; the password is read from stdin",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !passwordStdin {
				return errors.New("give the password on stdin with --password-stdin (never on the command line)")
			}
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			req.Password = pw
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			u, err := c.CreateUser(cmd.Context(), req)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), u, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Created user %s.\n", u.ID)
				userDetails(w, *u)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Username, "username", "", "the sign-in name (required)")
	fl.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	fl.StringVar(&req.Email, "email", "", "email address")
	fl.BoolVar(&req.EmailVerified, "email-verified", false, "the email address is known to be the user's")
	fl.StringVar(&req.Name, "name", "", "full name")
	fl.Var(&singleValue{p: &req.Role, what: "a user has one role"}, "role", "admin or developer (default developer)")
	ownersVar(fl, &req.Owners, "owners", "the key and client owners the user may manage")
	cmd.MarkFlagRequired("username")
	return cmd
}

func userDetails(w *tabwriter.Writer, u admin.User) {
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%s\t%s\n", name, value)
		}
	}
	row("id", u.ID)
	row("username", u.Username)
	row("name", u.Name)
	if u.Email != "" {
		row("email", fmt.Sprintf("%s (verified: %t)", u.Email, u.EmailVerified))
	}
	status := "enabled"
	if u.Disabled {
		status = "disabled"
	}
	row("status", status)
	row("role", u.Role)
	owners := strings.Join(u.Owners, ", ")
	if owners == "" {
		owners = "-"
	}
	row("owners", owners)
	row("created", stamp(u.CreatedAt))
	if !u.PasswordChangedAt.IsZero() {
		row("password changed", stamp(u.PasswordChangedAt))
	}
}

func newUsersListCommand(f *clientFlags, getenv env) *cobra.Command {
	var p admin.PageParams
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			list, err := c.ListUsers(cmd.Context(), p)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tUSERNAME\tEMAIL\tSTATUS\tCREATED")
				for _, u := range list.Items {
					status := "enabled"
					if u.Disabled {
						status = "disabled"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, u.Email, status, stamp(u.CreatedAt))
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

func newUsersGetCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			u, err := c.GetUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), u, func(w *tabwriter.Writer) { userDetails(w, *u) })
		},
	}
}

func newUsersUpdateCommand(f *clientFlags, getenv env) *cobra.Command {
	var (
		role   string
		owners []string
	)
	cmd := &cobra.Command{
		Use:   "update ID [--role admin|developer] [--owners a,b]",
		Short: "Change a user's role or owners",
		Long: `Change a user's role or owners: only the flags given change anything.
--owners replaces all of the user's owners; --owners "" removes them all.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p admin.UserPatch
			changed := cmd.Flags().Changed
			if changed("role") {
				p.Role = admin.Some(role)
			}
			if changed("owners") {
				p.Owners = admin.Some(nonNil(owners))
			}
			if !p.Role.Set && !p.Owners.Set {
				return usageErrorf("nothing to change: give --role or --owners")
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			u, err := c.UpdateUser(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), u, func(w *tabwriter.Writer) { userDetails(w, *u) })
		},
	}
	fl := cmd.Flags()
	fl.Var(&singleValue{p: &role, what: "a user has one role"}, "role", "admin or developer")
	ownersVar(fl, &owners, "owners", "the key and client owners the user may manage, replacing the ones it has")
	return cmd
}

func newUsersEnableCommand(f *clientFlags, getenv env, enable bool) *cobra.Command {
	use, short := "disable ID", "Disable a user: no more sign-ins, and their sessions end"
	if enable {
		use, short = "enable ID", "Enable a disabled user"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			u, err := c.SetUserEnabled(cmd.Context(), args[0], enable)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), u, func(w *tabwriter.Writer) { userDetails(w, *u) })
		},
	}
}

func newUsersResetPasswordCommand(f *clientFlags, getenv env) *cobra.Command {
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "reset-password ID --password-stdin",
		Short: "Set a user's password (read from stdin, checked against the password policy); their sessions end",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !passwordStdin {
				return errors.New("give the password on stdin with --password-stdin (never on the command line)")
			}
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			if err := c.ResetPassword(cmd.Context(), args[0], pw); err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), map[string]any{"id": args[0], "password_reset": true}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Password of %s reset; their sessions have ended.\n", args[0])
			})
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func newUsersConsentsCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "consents ID",
		Short: "List the clients a user has consented to",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			list, err := c.ListConsents(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "CLIENT_ID\tSCOPES\tGRANTED")
				for _, cs := range list.Items {
					fmt.Fprintf(w, "%s\t%s\t%s\n", cs.ClientID, strings.Join(cs.Scopes, " "), stamp(cs.GrantedAt))
				}
			})
		},
	}
}

func newUsersRevokeConsentCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke-consent ID CLIENT_ID",
		Short: "Revoke a user's consent to a client, and the tokens it gave",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			if err := c.RevokeConsent(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), map[string]any{"user_id": args[0], "client_id": args[1], "revoked": true}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Revoked the consent of %s to %s, and its tokens.\n", args[0], args[1])
			})
		},
	}
}

func newSigningKeysCommand(getenv env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "signing-keys",
		Short: "List and rotate the keys that sign JWTs",
	}
	f.register(cmd)
	printKeys := func(w *tabwriter.Writer, keys []admin.SigningKey) {
		fmt.Fprintln(w, "KID\tALG\tSTATUS\tCREATED\tACTIVATES\tEXPIRES")
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.Status, stamp(k.CreatedAt), stamp(k.ActivatesAt), stamp(k.ExpiresAt))
		}
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the signing keys published in the JWKS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			list, err := c.ListSigningKeys(cmd.Context())
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) { printKeys(w, list.Items) })
		},
	}, &cobra.Command{
		Use:   "rotate",
		Short: "Make the next (already published) key sign from now on; the old one stays published until its tokens expire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			k, err := c.RotateSigningKey(cmd.Context())
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), k, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Key %s (%s) signs from now on.\n", k.KID, k.Algorithm)
			})
		},
	})
	return cmd
}
