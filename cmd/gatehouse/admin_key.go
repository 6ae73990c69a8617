package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// ActorBreakGlass is the audit actor of admin keys made by `gatehouse
// admin-key create`: no admin key acted, the operator used the server's
// own storage and secret.
const ActorBreakGlass = "break-glass"

func newAdminKeyCommand(getenv env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin-key",
		Short: "Break-glass: make an admin key from the server's storage when none is left",
	}
	cmd.AddCommand(newAdminKeyCreateCommand(getenv))
	return cmd
}

func newAdminKeyCreateCommand(getenv env) *cobra.Command {
	var (
		f      serverFlags
		name   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "create --data D | --db postgres://...",
		Short: "Create an admin key directly in the database, with the server secret; the key is printed once",
		Long: "admin-key create is the way back in when every admin key is lost. It needs what `serve` needs\n" +
			"(the same --config, --data, --db and environment) and no running server: it opens the database,\n" +
			"reads the server secret, and stores a new key with the admin scope, recorded in the audit log\n" +
			"with the actor \"" + ActorBreakGlass + "\". A running server accepts the key at once.\n" +
			"Whoever can run it can read the secret anyway; keep the data folder and the secret as private as ever.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd, getenv)
			if err != nil {
				return err
			}
			logger := NewLogger(cfg, cmd.ErrOrStderr())
			k, key, err := createBreakGlassKey(cmd.Context(), cfg, logger, name)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]string{"admin_key": key, "admin_key_id": k.ID})
			}
			fmt.Fprintf(out, "Created admin key %s in %s (audited as %q).\n", k.ID, where(cfg.DB, cfg.DataDir), ActorBreakGlass)
			fmt.Fprintf(out, "The key is shown once; store it now:\n\n  %s\n\n", key)
			fmt.Fprintf(out, "Use it with: export GATEHOUSE_ADMIN_KEY=%s\n", key)
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().StringVar(&name, "name", "break-glass admin key", "a label for the key")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"admin_key": "...", "admin_key_id": "..."} for scripts`)
	return cmd
}

// createBreakGlassKey stores a new admin key with the server's secret. It
// never creates a secret: keys made with a new one would match nothing the
// server holds, so a missing secret is an error.
func createBreakGlassKey(ctx context.Context, cfg config.Config, logger *slog.Logger, name string) (*auth.APIKey, string, error) {
	secret, err := readSecret(cfg)
	if err != nil {
		return nil, "", err
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return nil, "", err
	}
	defer store.Close()
	svc, err := apikey.NewService(apikey.Config{
		Store: store, Audit: store, Secret: secret, Prefix: cfg.KeyPrefix, Logger: logger,
	})
	if err != nil {
		return nil, "", err
	}
	k, plaintext, err := svc.Create(ctx, apikey.CreateParams{
		Owner:  AdminOwner,
		Name:   name,
		Scopes: []string{admin.ScopeAdmin},
		Actor:  ActorBreakGlass,
	})
	if err != nil {
		return nil, "", fmt.Errorf("create the admin key: %w", err)
	}
	return k, plaintext, nil
}
