package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// newNodesCommand is `gatehouse nodes`: the cluster's node table.
func newNodesCommand(getenv env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the nodes of the cluster and which of them are live",
		Long: `List the Gatehouse nodes sharing the server's store, from the table each
writes its heartbeat to every cluster.heartbeat_interval. A node is live when
heard from within three intervals; one stopped gracefully leaves the table at
once, one killed stays, not live, for 24 hours.`,
		Example: `  gatehouse nodes
  gatehouse nodes --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			list, err := c.ListNodes(cmd.Context())
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tHOSTNAME\tADDRESS\tVERSION\tSTARTED\tLAST SEEN\tSTATE")
				for _, n := range list.Items {
					state := "live"
					if !n.Live {
						state = "silent"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
						n.ID, dash(n.Hostname), dash(n.Address), dash(n.Version), stamp(n.StartedAt), stamp(n.SeenAt), state)
				}
				fmt.Fprintf(w, "\n%d of %d nodes live (heartbeat every %s).\n", list.Live, len(list.Items), list.HeartbeatInterval)
			})
		},
	}
	f.register(cmd)
	return cmd
}

// dash stands in for an empty cell, so the table's columns stay aligned.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
