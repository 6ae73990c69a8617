package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

// Exit statuses of the CLI, documented in docs/cli.md. Scripts branch on
// them, so a number never changes meaning.
const (
	exitOK      = 0
	exitFailure = 1 // anything not listed below: network, server error, local I/O
	// exitInvalidKey is `keys verify`'s answer for a key that is not valid;
	// it predates this table and keeps its number.
	exitInvalidKey = 2
	exitAuth       = 3  // 401 or 403: no admin key, a wrong one, or one without the scope; a sign-in ended or refused
	exitNotFound   = 4  // 404
	exitConflict   = 5  // 409 or 412: exists already, or changed meanwhile
	exitRejected   = 6  // 400, 413 or 422: the server refused the input
	exitRetry      = 7  // 429 or 503: try again later
	exitUsage      = 64 // unknown command or flag, wrong arguments (sysexits EX_USAGE)
)

// exitError ends the program with a code after its message was printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError marks a mistake in the command line itself, as opposed to a
// failure of what the command did.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usageErrorf is fmt.Errorf for command-line mistakes found by a command.
func usageErrorf(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

// execute runs the command line args and reports a failure on stderr. It
// returns the exit status; main passes it to os.Exit, tests read it.
func execute(root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	return report(stderr, cmd, err, wantsJSON(cmd, args))
}

// wantsJSON tells whether the failed command was asked for JSON. When
// the flags could not be parsed the command line is read as it was given.
func wantsJSON(cmd *cobra.Command, args []string) bool {
	if cmd != nil {
		if f := cmd.Flags().Lookup("json"); f != nil && f.Changed {
			return f.Value.String() == "true"
		}
	}
	return slices.Contains(args, "--json") || slices.Contains(args, "--json=true")
}

// cliProblem is what a failure prints: the same members as the server's
// problem documents, so scripts read one shape.
type cliProblem struct {
	Status int    `json:"status,omitempty"` // the server's HTTP status; absent when no server answered
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
	Hint   string `json:"hint,omitempty"`
}

// report prints err once, prefixed by the program name (or as
// {"error": {...}} with --json), and returns the exit status it stands for.
// cmd is the command that failed, nil if none was found.
func report(w io.Writer, cmd *cobra.Command, err error, asJSON bool) int {
	var exit exitError
	if errors.As(err, &exit) {
		return exit.code // the command printed its own answer
	}
	p, code := describe(err)
	if code == exitUsage && cmd != nil {
		p.Hint = fmt.Sprintf("run '%s --help' for usage", cmd.CommandPath())
	}
	if asJSON {
		json.NewEncoder(w).Encode(map[string]cliProblem{"error": p})
		return code
	}
	msg := p.Detail
	switch {
	case p.Status != 0:
		msg = fmt.Sprintf("%d %s", p.Status, p.Title)
		if p.Detail != "" {
			msg += ": " + p.Detail
		}
	case p.Title == titleUnreachable:
		msg = p.Title + ": " + p.Detail
	}
	fmt.Fprintln(w, "gatehouse:", msg)
	if p.Hint != "" {
		fmt.Fprintln(w, "hint:", p.Hint)
	}
	return code
}

const titleUnreachable = "cannot reach the server"

// describe turns an error into what report prints and the exit status.
func describe(err error) (cliProblem, int) {
	var pe *admin.ProblemError
	if errors.As(err, &pe) {
		p := cliProblem{Status: pe.Status, Title: pe.Title, Detail: pe.Detail}
		if strings.EqualFold(p.Detail, pe.Title) {
			p.Detail = ""
		}
		switch pe.Status {
		case 401:
			p.Hint = "is GATEHOUSE_ADMIN_KEY (or --admin-key) set to a key with the admin scope? or sign in as an administrator with `gatehouse login --server URL`"
			return p, exitAuth
		case 403:
			// Making a key needs an admin key itself, so the hint names
			// both ways that work: with one, or break-glass on the server.
			// Refusals that are not about the key (the dashboard's own
			// client, an address outside the key's networks) say why
			// themselves.
			if strings.Contains(p.Detail, "managed by Gatehouse") || strings.Contains(p.Detail, "from this address") ||
				strings.Contains(p.Detail, "for administrators") {
				return p, exitAuth
			}
			p.Hint = "the admin key is valid but lacks the admin scope; with a key that has it, run " +
				"`gatehouse keys create --owner " + AdminOwner + " --scopes admin`; if none is left, run " +
				"`gatehouse admin-key create` where the server's data and secret are (same --data/--db)"
			return p, exitAuth
		case 404:
			return p, exitNotFound
		case 409, 412:
			return p, exitConflict
		case 400, 413, 422:
			return p, exitRejected
		case 429, 503:
			if pe.RetryAfter > 0 {
				p.Hint = fmt.Sprintf("try again in %s", pe.RetryAfter)
			}
			return p, exitRetry
		}
		return p, exitFailure
	}
	var se *signInError
	if errors.As(err, &se) {
		return cliProblem{Title: "Not signed in", Detail: se.Error(),
			Hint: "sign in again with `gatehouse login --server " + se.server + "`, or give an admin key"}, exitAuth
	}
	var ue usageError
	if errors.As(err, &ue) {
		return cliProblem{Title: "Usage error", Detail: ue.Error()}, exitUsage
	}
	p := cliProblem{Title: "Error", Detail: strings.TrimPrefix(err.Error(), "gatehouse: ")}
	var ue2 *url.Error
	if errors.As(err, &ue2) {
		p.Title = titleUnreachable
		server := ue2.URL
		if u, perr := url.Parse(ue2.URL); perr == nil {
			server = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
		}
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			p.Hint = fmt.Sprintf("is the server running at %s? (set --server or GATEHOUSE_SERVER)", server)
		case ue2.Timeout():
			p.Hint = fmt.Sprintf("%s did not answer in time; is it the Gatehouse server?", server)
		default:
			p.Hint = fmt.Sprintf("check --server or GATEHOUSE_SERVER (now %s)", server)
		}
	}
	return p, exitFailure
}

// strictGroups makes every command that only groups others (root, keys,
// clients...) refuse an unknown subcommand with a suggestion instead of
// printing its help and succeeding, and marks command-line mistakes found
// by cobra as usage errors. It walks the tree once, after it is built.
func strictGroups(c *cobra.Command) {
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = unknownSubcommand
	}
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
}

// unknownSubcommand is the RunE of a group: without arguments it shows the
// group's help; with one, that argument is no subcommand of it.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default for the root
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}

// checkFlags is the root's PersistentPreRunE: cobra checks required flags
// after it, but returns plain errors; checked here first, they are usage
// errors with their own exit status.
func checkFlags(cmd *cobra.Command, _ []string) error {
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return usageError{err}
	}
	if err := cmd.ValidateFlagGroups(); err != nil {
		return usageError{err}
	}
	return nil
}
