package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/filelock"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
)

// The backup, restore and check commands, and the lock that keeps a restore
// from replacing the database beneath a running server. See docs/backup.md.

// dataLockPath is the lock file of a SQLite data folder: servers hold it
// shared, a restore exclusively.
func dataLockPath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "gatehouse.lock") }

// lockDataDir takes a server's shared lock on the SQLite data folder, so
// that `gatehouse restore` refuses while the server runs (several servers
// may share a folder, as before). Nothing is locked on PostgreSQL: nodes
// share the database by design, and restoring it is pg_restore's work.
func lockDataDir(cfg config.Config) (*filelock.Lock, error) {
	if cfg.UsesPostgres() {
		return nil, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	l, err := filelock.Shared(dataLockPath(cfg))
	if errors.Is(err, filelock.ErrLocked) {
		return nil, fmt.Errorf("the data folder %s is being restored (`gatehouse restore` holds %s): start once it has finished",
			cfg.DataDir, dataLockPath(cfg))
	}
	if err != nil {
		return nil, fmt.Errorf("lock the data folder: %w", err)
	}
	return l, nil
}

// errPostgresBackup and errPostgresRestore say what to do instead on
// PostgreSQL, whose own tools copy a live database better than we could.
var (
	errPostgresBackup = errors.New("backup copies the embedded SQLite database, and this configuration uses PostgreSQL: " +
		"back it up with `pg_dump --format=custom`, as docs/backup.md describes")
	errPostgresRestore = errors.New("restore replaces the embedded SQLite database, and this configuration uses PostgreSQL: " +
		"restore a pg_dump with `pg_restore`, then run `gatehouse check`, as docs/backup.md describes")
)

// secretSource names where the server secret comes from, for messages:
// never the secret itself.
func secretSource(cfg config.Config) string {
	if cfg.Secret != nil {
		return "GATEHOUSE_SECRET"
	}
	return cfg.SecretPath()
}

// errRestoredWithoutSecret says what a database without its server secret
// needs: never a new secret (as init would make), only the old one.
func errRestoredWithoutSecret(cfg config.Config) error {
	return fmt.Errorf("no server secret at %s (nor GATEHOUSE_SECRET): put the secret backed up with this database there, "+
		"or set the same GATEHOUSE_SECRET; without it the database's API keys, client secrets and signing keys are unusable",
		cfg.SecretPath())
}

// requireSQLiteFile refuses a data folder without a database, so that a
// mistyped --data is not taken for an empty installation.
func requireSQLiteFile(cfg config.Config) error {
	if _, err := os.Stat(cfg.SQLitePath()); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no database at %s: check --data (the server's data folder)", cfg.SQLitePath())
	} else if err != nil {
		return fmt.Errorf("look for the database: %w", err)
	}
	return nil
}

func newBackupCommand(getenv env) *cobra.Command {
	var (
		f      serverFlags
		to     string
		force  bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "backup --to FILE",
		Short: "Copy the SQLite database to FILE, consistently, while the server runs",
		Long: "backup writes a consistent copy of the embedded SQLite database (the same --config, --data and\n" +
			"environment as serve) to FILE, with mode 0600, while the server goes on serving. The copy is\n" +
			"written beside FILE, checked, and only then renamed to FILE; an existing FILE is kept unless\n" +
			"--force is given.\n\n" +
			"The server secret is not in the database: back it up apart (see docs/backup.md). On PostgreSQL\n" +
			"use pg_dump instead.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd, getenv)
			if err != nil {
				return err
			}
			if cfg.UsesPostgres() {
				return errPostgresBackup
			}
			if err := requireSQLiteFile(cfg); err != nil {
				return err
			}
			start := time.Now()
			info, err := sqlite.Backup(cmd.Context(), cfg.SQLitePath(), to, force)
			if errors.Is(err, sqlite.ErrExists) {
				return fmt.Errorf("%s exists: not overwriting it (pass --force to replace it)", to)
			}
			if err != nil {
				return err
			}
			st, err := os.Stat(to)
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			took := time.Since(start)
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]any{
					"file": to, "bytes": st.Size(), "schema_version": info.Version,
					"duration_ms": took.Milliseconds(), "secret": secretSource(cfg),
				})
			}
			fmt.Fprintf(out, "Backed up %s to %s (%d bytes, schema version %d) in %s.\n",
				cfg.SQLitePath(), to, st.Size(), info.Version, took.Round(time.Millisecond))
			fmt.Fprintf(out, "The server secret is not in the backup: keep a copy of %s apart from it.\n", secretSource(cfg))
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().StringVar(&to, "to", "", "the file to write the backup to")
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"file": ..., "bytes": ..., "schema_version": ...} for scripts`)
	cmd.MarkFlagRequired("to")
	return cmd
}

func newRestoreCommand(getenv env) *cobra.Command {
	var (
		f      serverFlags
		from   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "restore --from FILE",
		Short: "Replace the SQLite database with a backup; no server may be running on the data folder",
		Long: "restore checks that FILE is a Gatehouse database (its integrity, and a schema version this\n" +
			"gatehouse knows), keeps the current database as gatehouse.db.before-restore, and puts the backup\n" +
			"in its place. It refuses while a server runs on the data folder: stop it first.\n\n" +
			"The data folder needs the server secret the backup was made with (its secret file, or the same\n" +
			"GATEHOUSE_SECRET); run `gatehouse check` afterwards to verify it. On PostgreSQL use pg_restore.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd, getenv)
			if err != nil {
				return err
			}
			if cfg.UsesPostgres() {
				return errPostgresRestore
			}
			if _, err := os.Stat(from); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				return fmt.Errorf("create data folder: %w", err)
			}
			lock, err := filelock.Exclusive(dataLockPath(cfg))
			if errors.Is(err, filelock.ErrLocked) {
				return fmt.Errorf("a Gatehouse server is running on %s (it holds %s): stop every server on this data folder, then restore",
					cfg.DataDir, dataLockPath(cfg))
			}
			if err != nil {
				return fmt.Errorf("lock the data folder: %w", err)
			}
			defer lock.Close()
			aside, info, err := sqlite.Restore(cmd.Context(), from, cfg.SQLitePath())
			if err != nil {
				return err
			}
			_, secretErr := readSecret(cfg)
			out := cmd.OutOrStdout()
			if asJSON {
				res := map[string]any{"database": cfg.SQLitePath(), "schema_version": info.Version, "secret_found": secretErr == nil}
				if aside != "" {
					res["previous_database"] = aside
				}
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "Restored %s into %s (schema version %d).\n", from, cfg.SQLitePath(), info.Version)
			if aside != "" {
				fmt.Fprintf(out, "The database it replaced is kept as %s.\n", aside)
			}
			if errors.Is(secretErr, errNoSecret) {
				fmt.Fprintf(out, "Warning: %v.\n", errRestoredWithoutSecret(cfg))
			} else if secretErr != nil {
				fmt.Fprintf(out, "Warning: %v.\n", secretErr)
			}
			fmt.Fprintf(out, "Next: `gatehouse check` (with the same --data) verifies the secret opens it; then start the server.\n")
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().StringVar(&from, "from", "", "the backup file to restore")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"database": ..., "previous_database": ..., "schema_version": ...} for scripts`)
	cmd.MarkFlagRequired("from")
	return cmd
}

// checkResult is what `gatehouse check` found.
type checkResult struct {
	OK    bool   `json:"ok"`
	Store string `json:"store"` // sqlite or postgres
	// Database is the SQLite file; a PostgreSQL DSN may hold a password
	// and is never printed.
	Database            string `json:"database,omitempty"`
	SchemaVersion       int64  `json:"schema_version"`
	LatestSchemaVersion int64  `json:"latest_schema_version"`
	// MigratedFrom is the version the database was at when check opened
	// it, if opening it applied migrations (as serve would have).
	MigratedFrom int64       `json:"migrated_from,omitempty"`
	Counts       checkCounts `json:"counts"`
	// Secret names where the server secret came from; SecretChecked says
	// whether signing keys proved it is the database's (none are stored
	// before the first start).
	Secret        string   `json:"secret"`
	SecretChecked bool     `json:"secret_checked"`
	Problems      []string `json:"problems,omitempty"`
}

type checkCounts struct {
	APIKeys     int `json:"api_keys"`
	Clients     int `json:"clients"`
	Users       int `json:"users"`
	Routes      int `json:"routes"`
	SigningKeys int `json:"signing_keys"`
}

func newCheckCommand(getenv env) *cobra.Command {
	var (
		f      serverFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the configured database and that the server secret opens it (after a restore)",
		Long: "check opens the database a server with the same --config, --data, --db and environment would\n" +
			"open (applying pending migrations, as serve would; a schema newer than this gatehouse is refused),\n" +
			"counts its API keys, clients, users, routes and signing keys, and opens every signing key with\n" +
			"the server secret: a secret that is not the database's own fails here, before any server starts\n" +
			"with it. It exits 0 when everything holds, 1 otherwise. Run it after `gatehouse restore` or\n" +
			"pg_restore.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd, getenv)
			if err != nil {
				return err
			}
			res, err := runCheck(cmd.Context(), cfg, NewLogger(cfg, cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := json.NewEncoder(out).Encode(res); err != nil {
					return err
				}
				if !res.OK {
					return exitError{exitFailure}
				}
				return nil
			}
			printCheck(out, res)
			if !res.OK {
				return fmt.Errorf("check failed: %d problem(s), listed above", len(res.Problems))
			}
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": ..., "schema_version": ..., "counts": {...}, "problems": [...]} for scripts`)
	return cmd
}

// runCheck does the work of `gatehouse check`. Errors are what stopped it
// from looking (no database, a newer schema); what it found wrong is in
// Problems.
func runCheck(ctx context.Context, cfg config.Config, logger *slog.Logger) (checkResult, error) {
	res := checkResult{Store: storeName(cfg), Secret: secretSource(cfg)}
	var version int64
	if cfg.UsesPostgres() {
		latest, err := postgres.LatestVersion()
		if err != nil {
			return res, err
		}
		if version, err = postgres.SchemaVersion(ctx, cfg.DB); err != nil {
			if errors.Is(err, postgres.ErrNoSchema) {
				return res, fmt.Errorf("%w: is --db (GATEHOUSE_DB) the server's database, with its search_path?", err)
			}
			return res, err
		}
		res.LatestSchemaVersion = latest
		if err := auth.CheckSchemaVersion(version, latest); err != nil {
			return res, err
		}
	} else {
		res.Database = cfg.SQLitePath()
		if err := requireSQLiteFile(cfg); err != nil {
			return res, err
		}
		// Not while a restore replaces the file.
		lock, err := lockDataDir(cfg)
		if err != nil {
			return res, err
		}
		defer lock.Close()
		info, err := sqlite.Inspect(ctx, cfg.SQLitePath())
		if err != nil {
			return res, fmt.Errorf("%s: %w", cfg.SQLitePath(), err)
		}
		version, res.LatestSchemaVersion = info.Version, info.Latest
	}

	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return res, err
	}
	defer store.Close()
	res.SchemaVersion = res.LatestSchemaVersion // openStore migrated it, if it was older
	if version < res.LatestSchemaVersion {
		res.MigratedFrom = version
	}
	if res.Counts, err = countRecords(ctx, store); err != nil {
		return res, err
	}
	res.Problems, res.SecretChecked, err = checkSigningKeys(ctx, cfg, store)
	if err != nil {
		return res, err
	}
	res.OK = len(res.Problems) == 0
	return res, nil
}

// countRecords counts what an operator recognises after a restore.
func countRecords(ctx context.Context, store auth.Store) (checkCounts, error) {
	var c checkCounts
	var err error
	if c.APIKeys, err = countPages(func(after string) ([]*auth.APIKey, string, error) {
		return store.ListAPIKeys(ctx, auth.APIKeyFilter{After: after, Limit: auth.MaxPageSize})
	}); err != nil {
		return c, fmt.Errorf("count API keys: %w", err)
	}
	if c.Clients, err = countPages(func(after string) ([]*auth.Client, string, error) {
		return store.ListClients(ctx, auth.ClientFilter{After: after, Limit: auth.MaxPageSize})
	}); err != nil {
		return c, fmt.Errorf("count clients: %w", err)
	}
	if c.Users, err = countPages(func(after string) ([]*auth.User, string, error) {
		return store.ListUsers(ctx, auth.UserFilter{After: after, Limit: auth.MaxPageSize})
	}); err != nil {
		return c, fmt.Errorf("count users: %w", err)
	}
	routes, err := store.ListRoutes(ctx)
	if err != nil {
		return c, fmt.Errorf("count routes: %w", err)
	}
	c.Routes = len(routes)
	keys, err := store.ListSigningKeys(ctx)
	if err != nil {
		return c, fmt.Errorf("count signing keys: %w", err)
	}
	c.SigningKeys = len(keys)
	return c, nil
}

// countPages counts the records of a paged list.
func countPages[T any](list func(after string) ([]T, string, error)) (int, error) {
	n := 0
	for after := ""; ; {
		page, next, err := list(after)
		if err != nil {
			return 0, err
		}
		n += len(page)
		if next == "" {
			return n, nil
		}
		after = next
	}
}

// checkSigningKeys opens every stored signing key with the configured
// server secret: the one part of the database sealed with it, so the proof
// that secret and database belong together (API keys and client secrets are
// keyed hashes, which cannot be checked without their plaintext). checked
// is false when no key is stored yet.
func checkSigningKeys(ctx context.Context, cfg config.Config, store auth.SigningKeyStore) (problems []string, checked bool, err error) {
	serverSecret, err := readSecret(cfg)
	if errors.Is(err, errNoSecret) {
		return []string{errRestoredWithoutSecret(cfg).Error()}, false, nil
	}
	if err != nil {
		return []string{err.Error()}, false, nil
	}
	sealer, err := signing.NewSealer(signing.DeriveMasterKey(serverSecret))
	if err != nil {
		return []string{fmt.Sprintf("the server secret (%s) cannot key the signing keys: %v", secretSource(cfg), err)}, false, nil
	}
	keys, err := store.ListSigningKeys(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("list signing keys: %w", err)
	}
	var bad []string
	for _, k := range keys {
		if err := signing.CheckKey(sealer, k); err != nil {
			bad = append(bad, k.ID)
			problems = append(problems, err.Error())
		}
	}
	if len(bad) > 0 && len(bad) == len(keys) {
		// Every key failing is a wrong secret, not damage: say that alone.
		return []string{fmt.Sprintf("no signing key (%s) opens with the server secret from %s: it is not the secret "+
			"this database was written with; use the secret backed up with the database", strings.Join(bad, ", "), secretSource(cfg))}, true, nil
	}
	return problems, len(keys) > 0, nil
}

func printCheck(w io.Writer, r checkResult) {
	store := "SQLite, " + r.Database
	if r.Store == "postgres" {
		store = "PostgreSQL"
	}
	fmt.Fprintf(w, "Store:          %s\n", store)
	fmt.Fprintf(w, "Schema version: %d (this gatehouse knows up to %d)", r.SchemaVersion, r.LatestSchemaVersion)
	if r.MigratedFrom != 0 {
		fmt.Fprintf(w, ", migrated from %d", r.MigratedFrom)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "API keys:       %d\n", r.Counts.APIKeys)
	fmt.Fprintf(w, "Clients:        %d\n", r.Counts.Clients)
	fmt.Fprintf(w, "Users:          %d\n", r.Counts.Users)
	fmt.Fprintf(w, "Routes:         %d\n", r.Counts.Routes)
	fmt.Fprintf(w, "Signing keys:   %d\n", r.Counts.SigningKeys)
	switch {
	case !r.OK:
		fmt.Fprintf(w, "Server secret:  %s: FAILED\n", r.Secret)
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	case r.SecretChecked:
		fmt.Fprintf(w, "Server secret:  %s opens every signing key\n", r.Secret)
	default:
		fmt.Fprintf(w, "Server secret:  %s (not verifiable yet: no signing key is stored before the first start)\n", r.Secret)
	}
	if r.OK {
		fmt.Fprintln(w, "OK")
	}
}
