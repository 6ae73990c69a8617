package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// This file holds the one spelling of each kind of flag value the CLI
// takes: durations, rates, scope lists and timestamps. Every command uses
// these, so `--expires 30d` and `--grace 1d` read alike.

// parseDuration reads a duration that may also count days: "30d",
// "1d12h" (auth.ParseDuration, which the dashboard's forms use too).
func parseDuration(s string) (time.Duration, error) { return auth.ParseDuration(s) }

// formatDuration writes d for the server, which takes Go durations.
func formatDuration(d time.Duration) string { return d.String() }

// durationValue is a pflag.Value read by parseDuration.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string {
	v := time.Duration(*d)
	if v == 0 {
		return "0" // what pflag recognises as no default worth showing
	}
	return auth.FormatDuration(v)
}

func (d *durationValue) Type() string { return "duration" }

// durationVar defines a duration flag that also takes days.
func durationVar(fl *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fl.Var((*durationValue)(p), name, usage)
}

// parseRate reads a rate, like 100/s (auth.ParseRate: the CLI and the
// dashboard spell rates alike).
func parseRate(s string) (float64, error) { return auth.ParseRate(s) }

// scopesValue is a repeatable scope-list flag: each use may hold several
// scopes separated by spaces or commas, and uses add up, so `--scopes a,b`,
// `--scopes "a b"` and `--scopes a --scopes b` mean the same.
type scopesValue struct {
	list  *[]string
	set   bool
	split func(string) []string // default splitScopes
}

func (v *scopesValue) Set(s string) error {
	if !v.set {
		*v.list = nil // the first use replaces the default
		v.set = true
	}
	split := v.split
	if split == nil {
		split = splitScopes
	}
	*v.list = append(*v.list, split(s)...)
	return nil
}

func (v *scopesValue) String() string { return strings.Join(*v.list, ",") }
func (v *scopesValue) Type() string {
	if v.split != nil {
		return "list"
	}
	return "scopes"
}

// scopesVar defines a repeatable scope-list flag. Its help says what the
// split costs: scopes may contain commas (RFC 6749 allows any printable
// ASCII but space, quote and backslash), and those cannot be given here.
func scopesVar(fl *pflag.FlagSet, p *[]string, name, usage string) {
	fl.Var(&scopesValue{list: p}, name, usage+"; "+scopeCommaNote)
}

// ownersVar defines a repeatable owner-list flag (a user's owners):
// commas separate owners and spaces around them are dropped, but spaces
// inside stay, since an owner name may hold them ("billing team").
func ownersVar(fl *pflag.FlagSet, p *[]string, name, usage string) {
	fl.Var(&scopesValue{list: p, split: auth.SplitOwners}, name, usage+"; commas separate owners, so an owner containing a comma must be set through the admin API")
}

// scopeCommaNote is the help text on scopes that contain a comma.
const scopeCommaNote = "commas separate scopes, so a scope containing a comma must be set through the admin API"

// splitScopes reads a scope list separated by spaces or commas.
func splitScopes(s string) []string { return auth.SplitList(s) }

// nonNil sends an empty list as [] rather than null.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// stamp is the one format of a time in the CLI's tables and details:
// RFC 3339 in UTC, to the second; "-" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// singleValue is a string flag that refuses a second use, for a setting
// that holds one value: repeating it is a mistake to report, not a choice
// between the two to make silently.
type singleValue struct {
	p    *string
	what string // why there is one, like "a route has one audience"
	set  bool
}

func (v *singleValue) Set(s string) error {
	if v.set {
		return fmt.Errorf("given twice, but %s", v.what)
	}
	*v.p, v.set = s, true
	return nil
}

func (v *singleValue) String() string { return *v.p }
func (v *singleValue) Type() string   { return "string" }

// parseCredits reads a number of credits for --credits (auth.ParseCredits).
func parseCredits(s string) (int64, error) { return auth.ParseCredits(s) }

// parseRefill reads a credits refill, "N/day" or "N/month" (auth.ParseRefill).
func parseRefill(s string) (admin.CreditRefill, error) {
	r, err := auth.ParseRefill(s)
	if err != nil {
		return admin.CreditRefill{}, err
	}
	return admin.CreditRefill{Amount: r.Amount, Interval: r.Interval}, nil
}

// splitList reads a list separated by commas or spaces (networks, for
// --allowed-ips).
func splitList(s string) []string { return splitScopes(s) }

// timeFlag is a pflag.Value for a point in time: RFC 3339, or a duration
// ago ("24h", "7d") as parseDuration reads it.
type timeFlag struct{ t *time.Time }

func (f timeFlag) Set(s string) error {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		*f.t = t.UTC()
		return nil
	}
	d, err := parseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("%q is neither an RFC 3339 time nor a positive duration like 24h or 7d", s)
	}
	*f.t = time.Now().Add(-d).UTC().Truncate(time.Second)
	return nil
}

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.UTC().Format(time.RFC3339)
}

func (f timeFlag) Type() string { return "time" }
