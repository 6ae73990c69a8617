package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

// chartWidth is the width of the longest bar, in characters.
const chartWidth = 40

func newUsageCommand(getenv env) *cobra.Command {
	var (
		f     clientFlags
		p     admin.UsageParams
		since time.Duration
	)
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Chart the verifications of a key, client, user, route or owner",
		Long: `Chart the verifications counted for a key, client, user, route or owner
(or all of them together, if none is given), one line per bucket, and the
totals by outcome. Counts reach the server every flush_interval.`,
		Example: `  gatehouse usage --key key_01JF... --since 7d
  gatehouse usage --route orders --since 2h --granularity minute
  gatehouse usage --owner billing --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since <= 0 {
				return usageErrorf("--since must be a positive duration, like 24h or 7d")
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			p.From = time.Now().Add(-since)
			u, err := c.Usage(cmd.Context(), p)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(u)
			}
			return drawUsage(out, subjectOf(p), u)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&p.KeyID, "key", "", "only this API key ID")
	fl.StringVar(&p.ClientID, "client", "", "only tokens of this OAuth client ID")
	fl.StringVar(&p.UserID, "user", "", "only tokens of this user ID")
	fl.StringVar(&p.Route, "route", "", "only this gateway route")
	fl.StringVar(&p.Owner, "owner", "", "only keys of this owner")
	durationVar(fl, &since, "since", 24*time.Hour, "how far back, like 90m, 24h or 30d")
	fl.StringVar(&p.Granularity, "granularity", "", "minute, hour or day (default: chosen for the range)")
	return cmd
}

// subjectOf names what the chart is about.
func subjectOf(p admin.UsageParams) string {
	var parts []string
	for _, s := range []struct{ what, v string }{
		{"key", p.KeyID}, {"client", p.ClientID}, {"user", p.UserID}, {"route", p.Route}, {"owner", p.Owner},
	} {
		if s.v != "" {
			parts = append(parts, s.what+" "+s.v)
		}
	}
	if len(parts) == 0 {
		return "everything"
	}
	return strings.Join(parts, ", ")
}

// drawUsage writes one line per bucket: its start, a bar scaled to the
// largest bucket (in eighths of a character), the count, and the outcomes
// other than VALID; then the totals.
func drawUsage(w io.Writer, subject string, u *admin.Usage) error {
	layout := "2006-01-02 15:04"
	if u.Granularity == "day" {
		layout = "2006-01-02"
	}
	fmt.Fprintf(w, "Usage of %s by %s, %s to %s UTC\n\n", subject, u.Granularity,
		u.From.UTC().Format(layout), u.To.UTC().Format(layout))
	var peak int64
	for _, b := range u.Series {
		peak = max(peak, sum(b.Outcomes))
	}
	digits := len(fmt.Sprint(peak))
	for _, b := range u.Series {
		n := sum(b.Outcomes)
		line := fmt.Sprintf("%s  %s  %*d", b.Start.UTC().Format(layout), bar(n, peak), digits, n)
		if others := outcomes(b.Outcomes, false); others != "" {
			line += "  " + others
		}
		fmt.Fprintln(w, line)
	}
	total := sum(u.Totals)
	if total == 0 {
		_, err := fmt.Fprintln(w, "\nNo verifications counted in this range.")
		return err
	}
	_, err := fmt.Fprintf(w, "\nTotal %d: %s\n", total, outcomes(u.Totals, true))
	return err
}

// eighths are the block characters from one eighth to a full cell.
var eighths = []rune("▏▎▍▌▋▊▉█")

// bar draws n out of peak in eighths of a cell, padded to chartWidth
// cells; any count above zero shows at least an eighth.
func bar(n, peak int64) string {
	e := 0
	if n > 0 && peak > 0 {
		e = max(1, int(n*chartWidth*8/peak))
	}
	s := strings.Repeat("█", e/8)
	if r := e % 8; r > 0 {
		s += string(eighths[r-1])
	}
	return s + strings.Repeat(" ", chartWidth-(e+7)/8)
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// outcomes lists counts by outcome, largest first (VALID first when
// withValid), as "VALID 5, INSUFFICIENT_SCOPE 2".
func outcomes(m map[string]int64, withValid bool) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	var parts []string
	if withValid && m["VALID"] > 0 {
		parts = append(parts, fmt.Sprintf("VALID %d", m["VALID"]))
	}
	for _, k := range keys {
		if k != "VALID" && m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}
