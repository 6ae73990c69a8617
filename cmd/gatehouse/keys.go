package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

// clientFlags are the settings of every command that talks to a server.
type clientFlags struct {
	server   string
	adminKey string
	asJSON   bool
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.server, "server", "", "Gatehouse URL (env GATEHOUSE_SERVER, default http://127.0.0.1:8080)")
	fl.StringVar(&f.adminKey, "admin-key", "", "admin API key (env GATEHOUSE_ADMIN_KEY)")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON for scripts")
}

// client is the admin API client of a command. Its credential is, first
// to last: --admin-key, GATEHOUSE_ADMIN_KEY, then the sign-in of
// `gatehouse login` (for the server it was made with); its server is
// --server, GATEHOUSE_SERVER, then the sign-in's server, then the
// default. A sign-in is never sent to another server than its own.
func (f *clientFlags) client(getenv env) (*admin.Client, error) {
	server := f.server
	if server == "" {
		server = getenv("GATEHOUSE_SERVER")
	}
	key := f.adminKey
	if key == "" {
		key = getenv("GATEHOUSE_ADMIN_KEY")
	}
	hc, err := cliHTTPClient(getenv)
	if err != nil {
		return nil, err
	}
	if key == "" {
		if cred, credServer := storedCredential(getenv, server, hc); cred != nil {
			return admin.NewClientWith(strings.TrimRight(orDefaultServer(credServer), "/"), cred, hc), nil
		}
	}
	return admin.NewClient(strings.TrimRight(orDefaultServer(server), "/"), key, hc), nil
}

// defaultServer is where the CLI looks for a server when told nowhere.
const defaultServer = "http://127.0.0.1:8080"

func orDefaultServer(server string) string {
	if server == "" {
		return defaultServer
	}
	return server
}

// cliHTTPClient is the HTTP client of the CLI's calls to a server: a
// 30-second timeout, and GATEHOUSE_CA_FILE's CA if set.
func cliHTTPClient(getenv env) (*http.Client, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	if caFile := getenv("GATEHOUSE_CA_FILE"); caFile != "" {
		// A server with a certificate from a private CA (or self-signed).
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("GATEHOUSE_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("GATEHOUSE_CA_FILE: %s holds no PEM certificate", caFile)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return hc, nil
}

// print writes v as JSON with --json, or calls table otherwise.
func (f *clientFlags) print(w io.Writer, v any, table func(*tabwriter.Writer)) error {
	if f.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func newKeysCommand(getenv env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list, update, rotate, revoke and verify API keys",
	}
	f.register(cmd)
	cmd.AddCommand(
		newKeysCreateCommand(&f, getenv),
		newKeysListCommand(&f, getenv),
		newKeysGetCommand(&f, getenv),
		newKeysUpdateCommand(&f, getenv),
		newKeysRotateCommand(&f, getenv),
		newKeysRevokeCommand(&f, getenv),
		newKeysVerifyCommand(&f, getenv),
	)
	return cmd
}

func newKeysCreateCommand(f *clientFlags, getenv env) *cobra.Command {
	var (
		req      admin.CreateKeyRequest
		scopes   []string
		meta     map[string]string
		expires  time.Duration
		rateSpec string
		burst    int
		rotation time.Duration
		credits  string
		refill   string
		allowed  string
	)
	cmd := &cobra.Command{
		Use:   "create --owner NAME",
		Short: "Create an API key; the key is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Scopes, req.Metadata = scopes, meta
			if expires < 0 {
				return usageErrorf("--expires must be positive")
			}
			if expires > 0 {
				req.ExpiresIn = formatDuration(expires)
			}
			if rotation < 0 {
				return usageErrorf("--rotation-period must be positive")
			}
			if rotation > 0 {
				req.RotationPeriod = formatDuration(rotation)
			}
			if rateSpec != "" {
				rate, err := parseRate(rateSpec)
				if err != nil {
					return usageErrorf("--rate %w", err)
				}
				req.RateLimit = &admin.RateLimit{Rate: rate, Burst: burst}
			} else if burst != 0 {
				return usageErrorf("--burst needs --rate")
			}
			if credits != "" {
				n, err := parseCredits(credits)
				if err != nil {
					return usageErrorf("--credits %w", err)
				}
				req.Credits = &admin.CreditsRequest{Remaining: &n}
				if refill != "" {
					r, err := parseRefill(refill)
					if err != nil {
						return usageErrorf("--refill %w", err)
					}
					req.Credits.Refill = &r
				}
			} else if refill != "" {
				return usageErrorf("--refill needs --credits")
			}
			if allowed != "" {
				req.AllowedIPs = splitList(allowed)
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			k, err := c.CreateKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), k, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Created key %s for %s. The key is shown once; store it now:\n\n  %s\n\n", k.ID, k.Owner, k.Secret)
				keyDetails(w, k.Key)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Owner, "owner", "", "the service or client the key belongs to (required)")
	fl.StringVar(&req.Name, "name", "", "a label for the key")
	fl.StringVar(&req.Environment, "env", "", "the key's environment, live or test; its prefix follows (sk_live_, sk_test_) (default: the server's, test with --dev)")
	scopesVar(fl, &scopes, "scopes", "scopes, comma- or space-separated (a,b); repeatable")
	fl.StringToStringVar(&meta, "metadata", nil, "metadata, k=v pairs (comma-separated or repeated)")
	durationVar(fl, &expires, "expires", 0, "lifetime, like 30d or 12h (default: never expires)")
	fl.StringVar(&rateSpec, "rate", "", "rate limit, like 100/s, 600/m, 10000/h or 50000/d (default: unlimited)")
	fl.IntVar(&burst, "burst", 0, "rate-limit burst (default: the per-second rate, at least 1)")
	durationVar(fl, &rotation, "rotation-period", 0, "rotation policy, like 90d; reported as due after it")
	fl.StringVar(&credits, "credits", "", "usage quota: credits each successful verification spends one of (default: none)")
	fl.StringVar(&refill, "refill", "", "refill of the credits at the start (UTC) of each day or month, like 1000/month")
	fl.StringVar(&allowed, "allowed-ips", "", "networks callers must come from, comma-separated, like 203.0.113.0/24,2001:db8::/32 (default: any)")
	cmd.MarkFlagRequired("owner")
	return cmd
}

func newKeysUpdateCommand(f *clientFlags, getenv env) *cobra.Command {
	var (
		name, rateSpec, credits, refill, allowed, expires string
		scopes                                            []string
		meta                                              map[string]string
		burst                                             int
	)
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change a key's name, scopes, metadata, limits, credits, networks or expiry without rotating it",
		Long: `Change a key without rotating it: only the flags given change anything.
--credits N resets the credits left (on every node); --credits none removes the quota.
--refill N/day|N/month sets the refill; --refill none removes it.
--allowed-ips "" lifts the network restriction; --rate 0 the rate limit.
--expires 30d sets the expiry to 30 days from now; --expires never removes it.
--metadata replaces all of the key's metadata.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p admin.KeyPatch
			changed := cmd.Flags().Changed
			if changed("name") {
				p.Name = admin.Some(name)
			}
			if changed("scopes") {
				p.Scopes = admin.Some(nonNil(scopes))
			}
			if changed("metadata") {
				if meta == nil {
					meta = map[string]string{}
				}
				p.Metadata = admin.Some(meta)
			}
			if changed("rate") {
				rate, err := parseRate(rateSpec)
				if err != nil {
					return usageErrorf("--rate %w", err)
				}
				p.RateLimit = admin.Some(admin.RateLimit{Rate: rate, Burst: burst})
			} else if changed("burst") {
				return usageErrorf("--burst needs --rate")
			}
			if changed("credits") || changed("refill") {
				cp, remove, err := creditsPatch(changed("credits"), credits, changed("refill"), refill)
				if err != nil {
					return err
				}
				if remove {
					p.Credits = admin.Null[admin.CreditsPatch]()
				} else {
					p.Credits = admin.Some(cp)
				}
			}
			if changed("allowed-ips") {
				p.AllowedIPs = admin.Some(nonNil(splitList(allowed)))
			}
			if changed("expires") {
				if expires == "never" {
					p.ExpiresAt = admin.Null[string]()
				} else {
					d, err := parseDuration(expires)
					if err != nil || d <= 0 {
						return usageErrorf("--expires wants a positive duration like 30d, or never")
					}
					p.ExpiresAt = admin.Some(time.Now().Add(d).UTC().Format(time.RFC3339))
				}
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			k, err := c.UpdateKey(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), k, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Updated %s.\n\n", k.ID)
				keyDetails(w, *k)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "a new label")
	scopesVar(fl, &scopes, "scopes", "the key's scopes (replacing them), comma- or space-separated; repeatable")
	fl.StringToStringVar(&meta, "metadata", nil, "the key's metadata (replacing it), k=v pairs")
	fl.StringVar(&rateSpec, "rate", "", "rate limit, like 100/s or 600/m; 0 for none")
	fl.IntVar(&burst, "burst", 0, "rate-limit burst (default: the per-second rate, at least 1)")
	fl.StringVar(&credits, "credits", "", "reset the credits left to N; none removes the quota")
	fl.StringVar(&refill, "refill", "", "refill, like 1000/day or 1000/month; none removes it")
	fl.StringVar(&allowed, "allowed-ips", "", `networks callers must come from, comma-separated; "" for any`)
	fl.StringVar(&expires, "expires", "", "expiry as a lifetime from now, like 30d; never for none")
	return cmd
}

// creditsPatch turns --credits and --refill of keys update into the
// "credits" member of the patch, or says to remove the credits.
func creditsPatch(setCredits bool, credits string, setRefill bool, refill string) (admin.CreditsPatch, bool, error) {
	var cp admin.CreditsPatch
	if setCredits && credits == "none" {
		if setRefill {
			return cp, false, usageErrorf("--refill cannot go with --credits none")
		}
		return cp, true, nil
	}
	if setCredits {
		n, err := parseCredits(credits)
		if err != nil {
			return cp, false, usageErrorf("--credits %w", err)
		}
		cp.Remaining = &n
	}
	if setRefill {
		if refill == "none" {
			cp.Refill = admin.Null[admin.CreditRefill]()
		} else {
			r, err := parseRefill(refill)
			if err != nil {
				return cp, false, usageErrorf("--refill %w", err)
			}
			cp.Refill = admin.Some(r)
		}
	}
	return cp, false, nil
}

func newKeysListCommand(f *clientFlags, getenv env) *cobra.Command {
	var p admin.ListKeysParams
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			var keys []admin.Key
			next := ""
			for {
				page, err := c.ListKeys(cmd.Context(), p)
				if err != nil {
					return err
				}
				keys = append(keys, page.Items...)
				next = page.NextCursor
				if !all || next == "" {
					break
				}
				p.Cursor = next
			}
			out := admin.KeyList{Items: keys, NextCursor: next}
			if out.Items == nil {
				out.Items = []admin.Key{}
			}
			return f.print(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tOWNER\tNAME\tSCOPES\tSTATUS\tKEY\tCREATED\tEXPIRES\tLAST USED\tROTATION")
				for _, k := range keys {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s…%s\t%s\t%s\t%s\t%s\n", k.ID, k.Owner, k.Name,
						strings.Join(k.Scopes, ","), k.Status, k.Prefix, k.Hint, stamp(k.CreatedAt),
						stamp(k.ExpiresAt), stamp(k.LastUsedAt), rotationState(k))
				}
				if next != "" {
					fmt.Fprintf(w, "\nMore keys: --cursor %s, or --all\n", next)
				}
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&p.Owner, "owner", "", "only keys of this owner")
	fl.IntVar(&p.Limit, "limit", 0, "keys per page (1-500, default 100)")
	fl.StringVar(&p.Cursor, "cursor", "", "start after this page cursor")
	fl.BoolVar(&p.RotationDue, "rotation-due", false, "only keys whose rotation policy says they are due")
	fl.BoolVar(&all, "all", false, "fetch every page")
	return cmd
}

// rotationState is the ROTATION column: where the key stands in a
// rotation (being replaced, replaced) or in its rotation policy.
func rotationState(k admin.Key) string {
	switch {
	case k.RotatedTo != "" && k.Status == "rotating":
		return "rotating to " + k.RotatedTo + " until " + stamp(k.ExpiresAt)
	case k.RotatedTo != "":
		return "rotated to " + k.RotatedTo
	case k.RotationDue:
		return "due since " + stamp(k.RotationDueAt)
	case !k.RotationDueAt.IsZero():
		return "due " + stamp(k.RotationDueAt)
	}
	return "-"
}

func keyDetails(w *tabwriter.Writer, k admin.Key) {
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%s\t%s\n", name, value)
		}
	}
	row("id", k.ID)
	row("owner", k.Owner)
	row("name", k.Name)
	row("scopes", strings.Join(k.Scopes, ","))
	row("status", k.Status)
	row("key", k.Prefix+"…"+k.Hint)
	row("environment", k.Environment)
	for mk, mv := range k.Metadata {
		row("metadata."+mk, mv)
	}
	if k.RateLimit != nil {
		row("rate limit", fmt.Sprintf("%g/s, burst %d", k.RateLimit.Rate, k.RateLimit.Burst))
	}
	row("rotation period", k.RotationPeriod)
	if c := k.Credits; c != nil {
		v := strconv.FormatInt(c.Remaining, 10) + " left"
		if c.Refill != nil {
			v += fmt.Sprintf(", refilled to %d each %s (UTC)", c.Refill.Amount, c.Refill.Interval)
		}
		row("credits", v)
	}
	row("allowed ips", strings.Join(k.AllowedIPs, ","))
	times := []struct {
		name string
		t    time.Time
	}{{"created", k.CreatedAt}, {"expires", k.ExpiresAt}, {"revoked", k.RevokedAt}, {"last used", k.LastUsedAt}, {"rotation due", k.RotationDueAt}}
	for _, t := range times {
		if !t.t.IsZero() {
			row(t.name, stamp(t.t))
		}
	}
	row("rotated from", k.RotatedFrom)
	row("rotated to", k.RotatedTo)
}

func newKeysGetCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one API key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			k, err := c.GetKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), k, func(w *tabwriter.Writer) { keyDetails(w, *k) })
		},
	}
}

// rotateOutput puts the new key at the top level, so scripts read .id and
// .key as they do after create.
type rotateOutput struct {
	admin.CreatedKey
	OldKey *admin.Key `json:"old_key,omitempty"`
}

func newKeysRotateCommand(f *clientFlags, getenv env) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "rotate ID",
		Short: "Issue a new key with the same owner, scopes and limits; the old one works for the grace period",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if grace < 0 {
				return usageErrorf("--grace must not be negative")
			}
			req := admin.RotateKeyRequest{}
			if cmd.Flags().Changed("grace") {
				req.Grace = formatDuration(grace)
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			r, err := c.RotateKey(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			out := rotateOutput{CreatedKey: r.NewKey, OldKey: r.OldKey}
			return f.print(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Rotated %s to %s. The new key is shown once; store it now:\n\n  %s\n\n", args[0], r.NewKey.ID, r.NewKey.Secret)
				switch {
				case r.OldKey == nil:
					// The server could not read the old key back; the new
					// key above is what matters.
				case r.OldKey.ExpiresAt.IsZero():
					fmt.Fprintf(w, "The old key keeps working.\n")
				case !r.OldKey.ExpiresAt.After(time.Now()):
					fmt.Fprintf(w, "The old key no longer works.\n")
				default:
					fmt.Fprintf(w, "The old key works until %s.\n", stamp(r.OldKey.ExpiresAt))
				}
			})
		},
	}
	durationVar(cmd.Flags(), &grace, "grace", admin.DefaultGrace, "how long the old key keeps working, like 1d or 30m (0s: stop it at once)")
	return cmd
}

func newKeysRevokeCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key; it is refused on the next request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			k, err := c.RevokeKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), k, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Revoked %s (%s).\n", k.ID, k.Owner)
			})
		},
	}
}

func newKeysVerifyCommand(f *clientFlags, getenv env) *cobra.Command {
	var (
		scopes []string
		cost   int
		ip     string
	)
	cmd := &cobra.Command{
		Use:   "verify KEY|-",
		Short: "Verify a key as a service would (POST /v1/keys/verify); - reads it from stdin; exit status 2 when it is not valid",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			key := args[0]
			if key == "-" {
				// From standard input, so the key stays out of argv and
				// shell history.
				line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read the key from standard input: %w", err)
				}
				key = strings.TrimSpace(line)
			}
			req := admin.VerifyRequest{Key: key, Scopes: scopes, IP: ip}
			if cmd.Flags().Changed("cost") {
				req.Cost = &cost
			}
			v, err := c.VerifyKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			err = f.print(cmd.OutOrStdout(), v, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s\n", v.Code)
				if v.KeyID != "" {
					fmt.Fprintf(w, "key id\t%s\nowner\t%s\nscopes\t%s\n", v.KeyID, v.Owner, strings.Join(v.Scopes, ","))
				}
				if v.Credits != nil {
					fmt.Fprintf(w, "credits\t%d left\n", v.Credits.Remaining)
				}
			})
			if err == nil && !v.Valid {
				// Scripts can write `if gatehouse keys verify "$KEY"; then`.
				return exitError{code: 2}
			}
			return err
		},
	}
	scopesVar(cmd.Flags(), &scopes, "scopes", "scopes the key must hold, comma- or space-separated; repeatable")
	cmd.Flags().IntVar(&cost, "cost", 1, "credits a valid verification spends from a key with credits")
	cmd.Flags().StringVar(&ip, "ip", "", "the caller's address, for keys restricted to networks")
	return cmd
}

func newAuditCommand(getenv env) *cobra.Command {
	var f clientFlags
	var p admin.AuditEventsParams
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log of key events",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			page, err := c.ListAuditEvents(cmd.Context(), p)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), page, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tTIME\tTYPE\tACTOR\tKEY\tREASON\tCOUNT")
				for _, e := range page.Items {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%d\n", e.ID, stamp(e.Time), e.Type,
						e.Actor, e.KeyID, e.Reason, e.Count)
				}
				if page.NextCursor != "" {
					fmt.Fprintf(w, "\nMore events: --cursor %s\n", page.NextCursor)
				}
			})
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&p.KeyID, "key", "", "only events of this key ID")
	fl.StringVar(&p.Type, "type", "", "only events of this type, like key.revoked")
	fl.StringVar(&p.Actor, "actor", "", "only events of this actor (an admin key ID, a user ID, or system)")
	fl.StringVar(&p.Target, "target", "", "only events about this object (key, client or user ID, kid, route name, webhook ID)")
	fl.Var(timeFlag{&p.Since}, "since", "only events at or after this time (RFC 3339, or a duration ago like 24h)")
	fl.Var(timeFlag{&p.Until}, "until", "only events before this time (RFC 3339, or a duration ago)")
	fl.IntVar(&p.Limit, "limit", 0, "events per page (1-500, default 100)")
	fl.StringVar(&p.Cursor, "cursor", "", "start after this page cursor")
	return cmd
}
