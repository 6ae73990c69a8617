package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func newInitCommand(getenv env) *cobra.Command {
	var f serverFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the data folder, the database and the first admin API key",
		Long: "init creates the server secret (unless GATEHOUSE_SECRET is set), applies the database migrations\n" +
			"and prints the first admin API key. The key is shown once: store it now.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd, getenv)
			if err != nil {
				return err
			}
			logger := NewLogger(cfg, cmd.ErrOrStderr())
			id, key, err := initialize(cmd.Context(), cfg, logger)
			if err != nil {
				return err
			}
			issuer, err := initDashboardClient(cmd.Context(), cfg, logger)
			if err != nil {
				return err
			}
			if key == "" {
				return fmt.Errorf("already initialised: admin key %s exists; create another with "+
					"`gatehouse keys create --owner %s --scopes admin`", id, AdminOwner)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				res := map[string]string{"admin_key": key, "admin_key_id": id}
				if issuer != "" {
					res["dashboard_url"] = dashboardURL(issuer)
				}
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "Gatehouse is initialised in %s.\n", where(cfg.DB, cfg.DataDir))
			fmt.Fprintf(out, "First admin API key (shown once, store it now):\n\n  %s\n\n", key)
			fmt.Fprintf(out, "Use it with: export GATEHOUSE_ADMIN_KEY=%s\n", key)
			dash := "at /dashboard/ on the server's URL"
			if issuer != "" {
				dash = "at " + dashboardURL(issuer)
			}
			fmt.Fprintf(out, "\nThe dashboard will be %s. Create an administrator to sign in to it:\n"+
				"  gatehouse users create --username U --role admin --password-stdin\n", dash)
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"admin_key": "..."} for scripts`)
	return cmd
}

func where(db, dataDir string) string {
	if db != "" {
		return "the configured PostgreSQL database"
	}
	return dataDir
}

func newServeCommand(getenv env) *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Gatehouse APIs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd, getenv)
			if err != nil {
				return err
			}
			logger := NewLogger(cfg, cmd.ErrOrStderr())
			out := cmd.OutOrStdout()
			ctx := cmd.Context()

			var firstKey, adminPassword string
			if cfg.Dev {
				// A developer's first start does what init would. The key is
				// printed at once: if the server then fails to start (a port
				// in use), it must not be lost.
				if _, firstKey, err = initialize(ctx, cfg, logger); err != nil {
					return err
				}
				if firstKey != "" {
					fmt.Fprintf(out, "First admin API key (shown once, store it now):\n\n  %s\n\n", firstKey)
					// And a user to sign in to the dashboard with, created
					// with the key so that a start that fails now does not
					// leave later starts without one.
					if adminPassword, err = initDevAdmin(ctx, cfg, logger); err != nil {
						return err
					}
				}
			}
			// SIGHUP rereads the routes file, as with most Unix servers.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			m := &Main{Config: cfg, Logger: logger, Reload: hup}
			if err := m.Run(ctx); err != nil {
				if adminPassword != "" {
					fmt.Fprintf(out, "The user %s was created with the password %s (shown once, store it now)\n", DevAdminUsername, adminPassword)
				}
				if errors.Is(err, errNoSecret) {
					return fmt.Errorf("%w (or start with --dev on a developer machine)", err)
				}
				return err
			}
			fmt.Fprintf(out, "Gatehouse is running at %s\n", m.URL())
			if cfg.Dev {
				printDevDashboard(out, m.OAuth.Issuer(), adminPassword)
			}
			if firstKey != "" {
				fmt.Fprintf(out, "Try: export GATEHOUSE_SERVER=%s GATEHOUSE_ADMIN_KEY=%s\n", m.URL(), firstKey)
				fmt.Fprintf(out, "     go run ./cmd/gatehouse keys create --owner my-service --scopes read\n")
			}
			if gw := m.GatewayURL(); gw != "" {
				fmt.Fprintf(out, "Gateway is running at %s\n", gw)
			}
			waitErr := m.Wait(ctx)
			logger.Info("shutting down")
			if waitErr == nil {
				// Told to stop (SIGTERM, Ctrl-C): drain first. Signals from
				// now on are the operator insisting.
				again := make(chan os.Signal, 1)
				signal.Notify(again, os.Interrupt, syscall.SIGTERM)
				m.Drain(cfg.ShutdownDelay, again)
				signal.Stop(again)
			}
			return errors.Join(waitErr, m.Close())
		},
	}
	f.register(cmd, true)
	return cmd
}
