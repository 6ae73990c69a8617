package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func newWebhooksCommand(getenv env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Manage the endpoints that receive Gatehouse's events (Standard Webhooks)",
	}
	f.register(cmd)
	cmd.AddCommand(
		newWebhooksCreateCommand(&f, getenv),
		newWebhooksListCommand(&f, getenv),
		newWebhooksGetCommand(&f, getenv),
		newWebhooksUpdateCommand(&f, getenv),
		newWebhooksDeleteCommand(&f, getenv),
		newWebhooksRotateSecretCommand(&f, getenv),
		newWebhooksDeliveriesCommand(&f, getenv),
		newWebhooksRetryCommand(&f, getenv),
	)
	return cmd
}

// eventsHelp lists the event types for the flags' help.
var eventsHelp = "event types, comma- or space-separated, repeatable: " + strings.Join(auth.WebhookEventTypes(), ", ")

func newWebhooksCreateCommand(f *clientFlags, getenv env) *cobra.Command {
	var req admin.WebhookRequest
	cmd := &cobra.Command{
		Use:   "create --url URL --events TYPE[,TYPE...] [--description TEXT]",
		Short: "Register an endpoint; its signing secret is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			req.Events = nonNil(req.Events)
			out, err := c.CreateWebhook(cmd.Context(), req)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Created webhook %s. Its signing secret is shown once; store it now:\n\n  %s\n\n", out.ID, out.Secret)
				webhookDetails(w, out.Webhook)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.URL, "url", "", "where events are POSTed: an http or https URL (https recommended)")
	fl.Var(&scopesValue{list: &req.Events}, "events", eventsHelp)
	fl.StringVar(&req.Description, "description", "", "a note for operators")
	for _, name := range []string{"url", "events"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func webhookDetails(w *tabwriter.Writer, h admin.Webhook) {
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%s\t%s\n", name, value)
		}
	}
	row("id", h.ID)
	row("url", h.URL)
	row("events", strings.Join(h.Events, " "))
	row("description", h.Description)
	row("status", h.Status)
	if !h.DisabledAt.IsZero() {
		row("disabled", stamp(h.DisabledAt))
	}
	row("disabled reason", h.DisabledReason)
	if !h.FailingSince.IsZero() {
		row("failing since", stamp(h.FailingSince))
	}
	if !h.PreviousSecretExpiresAt.IsZero() {
		row("previous secret signs until", stamp(h.PreviousSecretExpiresAt))
	}
	row("created", stamp(h.CreatedAt))
	row("updated", stamp(h.UpdatedAt))
}

func newWebhooksListCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the endpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			list, err := c.ListWebhooks(cmd.Context())
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tSTATUS\tURL\tEVENTS\tUPDATED")
				for _, h := range list.Items {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", h.ID, h.Status, h.URL, strings.Join(h.Events, ","), stamp(h.UpdatedAt))
				}
			})
		},
	}
}

func newWebhooksGetCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one endpoint, and why it is disabled if it is",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			h, err := c.GetWebhook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), h, func(w *tabwriter.Writer) { webhookDetails(w, *h) })
		},
	}
}

func newWebhooksUpdateCommand(f *clientFlags, getenv env) *cobra.Command {
	var (
		url, description string
		events           []string
		enable, disable  bool
	)
	cmd := &cobra.Command{
		Use:   "update ID [--url URL] [--events TYPES] [--description TEXT] [--enable | --disable]",
		Short: "Change an endpoint; flags not given keep their value. --enable re-enables a disabled one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set := cmd.Flags().Changed
			var p admin.WebhookPatch
			if set("url") {
				p.URL = admin.Some(url)
			}
			if set("events") {
				p.Events = admin.Some(nonNil(events))
			}
			if set("description") {
				p.Description = admin.Some(description)
			}
			switch {
			case enable && disable:
				return usageErrorf("--enable and --disable contradict each other")
			case enable:
				p.Enabled = admin.Some(true)
			case disable:
				p.Enabled = admin.Some(false)
			}
			if !p.URL.Set && !p.Events.Set && !p.Description.Set && !p.Enabled.Set {
				return usageErrorf("nothing to change: give --url, --events, --description, --enable or --disable")
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			h, err := c.UpdateWebhook(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), h, func(w *tabwriter.Writer) { webhookDetails(w, *h) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&url, "url", "", "the new URL")
	fl.Var(&scopesValue{list: &events}, "events", eventsHelp+" (replaces the list)")
	fl.StringVar(&description, "description", "", "the new note")
	fl.BoolVar(&enable, "enable", false, "deliver to the endpoint again (after it was disabled)")
	fl.BoolVar(&disable, "disable", false, "stop delivering to the endpoint")
	return cmd
}

func newWebhooksDeleteCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an endpoint and its deliveries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			if err := c.DeleteWebhook(cmd.Context(), args[0]); err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), map[string]any{"id": args[0], "deleted": true}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Deleted webhook %s.\n", args[0])
			})
		},
	}
}

func newWebhooksRotateSecretCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Give an endpoint a new signing secret, printed once; the old one signs alongside for 24 hours",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			out, err := c.RotateWebhookSecret(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "New signing secret for %s, shown once; store it now:\n\n  %s\n\n", out.ID, out.Secret)
				fmt.Fprintf(w, "The previous secret keeps signing until %s.\n", stamp(out.PreviousSecretExpiresAt))
			})
		},
	}
}

func newWebhooksDeliveriesCommand(f *clientFlags, getenv env) *cobra.Command {
	var p admin.WebhookDeliveriesParams
	cmd := &cobra.Command{
		Use:   "deliveries ID [--limit N] [--cursor C]",
		Short: "List an endpoint's deliveries, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.Limit < 0 || p.Limit > auth.MaxPageSize {
				return usageErrorf("--limit must be from 1 to %d", auth.MaxPageSize)
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			list, err := c.ListWebhookDeliveries(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tEVENT\tSTATE\tATTEMPTS\tSTATUS\tLATENCY\tLAST ATTEMPT\tNEXT ATTEMPT\tERROR")
				for _, d := range list.Items {
					status := "-"
					if d.StatusCode != 0 {
						status = fmt.Sprint(d.StatusCode)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%.0fms\t%s\t%s\t%s\n", d.ID, d.EventType, d.State, d.Attempts, status,
						d.LatencyMS, stamp(d.LastAttemptAt), stamp(d.NextAttemptAt), d.Error)
				}
				if list.NextCursor != "" {
					fmt.Fprintf(w, "\nMore: --cursor %s\n", list.NextCursor)
				}
			})
		},
	}
	cmd.Flags().IntVar(&p.Limit, "limit", 0, fmt.Sprintf("page size, 1 to %d (default 100)", auth.MaxPageSize))
	cmd.Flags().StringVar(&p.Cursor, "cursor", "", "the cursor a previous page printed")
	return cmd
}

func newWebhooksRetryCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "retry ID DELIVERY_ID",
		Short: "Send a delivery again now (same webhook-id)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			d, err := c.RetryWebhookDelivery(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), d, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Delivery %s of %s is due now; the server sends it within seconds.\n", d.ID, d.EventType)
			})
		},
	}
}
