package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// env reads the environment; tests pass a map instead of os.Getenv.
type env func(string) string

func newRootCommand(stdout, stderr io.Writer, getenv env) *cobra.Command {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse: API keys, OAuth and JWT for your APIs, in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion().String(),
		// Checked before cobra does, so that a missing required flag is a
		// usage error (see cli.go).
		PersistentPreRunE: checkFlags,
	}
	root.SetVersionTemplate("gatehouse {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newInitCommand(getenv),
		newServeCommand(getenv),
		newKeysCommand(getenv),
		newClientsCommand(getenv),
		newRoutesCommand(getenv),
		newWebhooksCommand(getenv),
		newProvidersCommand(getenv),
		newUsersCommand(getenv),
		newSigningKeysCommand(getenv),
		newAuditCommand(getenv),
		newUsageCommand(getenv),
		newNodesCommand(getenv),
		newAdminKeyCommand(getenv),
		newLoginCommand(getenv),
		newLogoutCommand(getenv),
		newBackupCommand(getenv),
		newRestoreCommand(getenv),
		newCheckCommand(getenv),
		newVersionCommand(),
		newHealthcheckCommand(),
	)
	// cobra adds its completion group when the command runs; added now,
	// it is made strict like the others.
	root.InitDefaultCompletionCmd()
	strictGroups(root)
	return root
}

// serverFlags are the settings init and serve share.
type serverFlags struct {
	configFile string
	dev        bool
	dataDir    string
	db         string
	addr       string

	gatewayAddr string
	routesFile  string
}

func (f *serverFlags) register(cmd *cobra.Command, withAddr bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config", "", "YAML configuration file (env GATEHOUSE_CONFIG)")
	fl.BoolVar(&f.dev, "dev", false, "developer mode: plain HTTP, text logs, sk_test_ keys, initialise on first start")
	fl.StringVar(&f.dataDir, "data", "", "data folder for the SQLite database and the secret (env GATEHOUSE_DATA)")
	fl.StringVar(&f.db, "db", "", "database: empty for embedded SQLite, or a postgres:// URL (env GATEHOUSE_DB)")
	if withAddr {
		fl.StringVar(&f.addr, "addr", "", "listen address HOST:PORT (env GATEHOUSE_ADDR)")
		fl.StringVar(&f.gatewayAddr, "gateway-addr", "", `gateway listen address HOST:PORT, or "off" (env GATEHOUSE_GATEWAY_ADDR; default 127.0.0.1:8081)`)
		fl.StringVar(&f.routesFile, "routes", "", "YAML routes file of the gateway, reloaded on change and SIGHUP (env GATEHOUSE_ROUTES_FILE)")
	}
}

// load builds the configuration: defaults, then the file, then the
// environment, then flags given on the command line; and validates it.
func (f *serverFlags) load(cmd *cobra.Command, getenv env) (config.Config, error) {
	dev := f.dev
	if v := getenv("GATEHOUSE_DEV"); v != "" && !cmd.Flags().Changed("dev") {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return config.Config{}, fmt.Errorf("config: GATEHOUSE_DEV: %q is not a boolean", v)
		}
		dev = b
	}
	cfg := config.Default(dev)
	file := f.configFile
	if file == "" {
		file = getenv("GATEHOUSE_CONFIG")
	}
	if file != "" {
		if err := cfg.LoadFile(file); err != nil {
			return cfg, err
		}
	}
	if err := cfg.ApplyEnv(getenv); err != nil {
		return cfg, err
	}
	cfg.Dev = dev
	if cmd.Flags().Changed("data") {
		cfg.DataDir = f.dataDir
	}
	if cmd.Flags().Changed("db") {
		cfg.DB = f.db
	}
	if cmd.Flags().Changed("addr") {
		cfg.Addr = f.addr
	}
	if cmd.Flags().Changed("gateway-addr") {
		cfg.Gateway.Addr = f.gatewayAddr
	}
	if cmd.Flags().Changed("routes") {
		cfg.Gateway.RoutesFile = f.routesFile
	}
	return cfg, cfg.Validate()
}
