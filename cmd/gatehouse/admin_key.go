package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

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
	if errors.Is(err, errNoSecret) {
		// init's advice would be wrong here: a new secret matches no key
		// the server holds. Only the server's own secret will do.
		return nil, "", fmt.Errorf("no server secret: admin-key create needs the secret the server runs with: "+
			"its secret file (%s, from --data or secret_file) or the same GATEHOUSE_SECRET", cfg.SecretPath())
	}
	if err != nil {
		return nil, "", err
	}
	// openStore creates a SQLite file that is not there; a mistyped --data
	// must not become a new, empty database with a key nobody serves.
	if !cfg.UsesPostgres() {
		if _, err := os.Stat(cfg.SQLitePath()); errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("no database at %s: check --data (the server's data folder); "+
				"admin-key create works only on a database `gatehouse init` has prepared", cfg.SQLitePath())
		} else if err != nil {
			return nil, "", fmt.Errorf("look for the database: %w", err)
		}
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return nil, "", err
	}
	defer store.Close()
	// init always stores the first admin key, and keys are revoked, never
	// deleted: a database without any key was never initialised (an empty
	// PostgreSQL database or schema named by mistake), on either backend.
	stored, _, err := store.ListAPIKeys(ctx, auth.APIKeyFilter{Limit: 1})
	if err != nil {
		return nil, "", fmt.Errorf("look for keys: %w", err)
	}
	if len(stored) == 0 {
		return nil, "", fmt.Errorf("%s holds no keys, so `gatehouse init` never ran on it: check --data and --db "+
			"(they must name the server's own database)", where(cfg.DB, cfg.SQLitePath()))
	}
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
