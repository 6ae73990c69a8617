package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// DevAdminUsername is the user serve --dev's first start creates, so that
// a newcomer can sign in to the dashboard at once.
const DevAdminUsername = "admin"

// dashboardURL is where people open the dashboard.
func dashboardURL(issuer string) string { return issuer + "/dashboard/" }

// ensureDashboardClient registers the dashboard's client for the issuer,
// or brings its redirect URIs up to date with it. An issuer that cannot
// have one (plain HTTP off loopback, allowed with --dev) costs the
// dashboard its sign-in, not the node its start: the warning says why.
func ensureDashboardClient(ctx context.Context, clients *client.Registry, issuer string, logger *slog.Logger) error {
	_, err := clients.EnsureFirstParty(ctx, dashboard.ClientID, dashboard.FirstPartyClient(issuer))
	if auth.ErrorCode(err) == auth.EINVALID {
		logger.Warn("the dashboard cannot sign anyone in: its OAuth client does not fit this issuer; set oauth.issuer to an https URL",
			"issuer", issuer, "reason", auth.ErrorMessage(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("dashboard client: %w", err)
	}
	return nil
}

// startDashboardClient is ensureDashboardClient for a running node, once
// its authorization server is built.
func (m *Main) startDashboardClient(ctx context.Context) error {
	if m.Config.Dashboard.Disabled {
		return nil
	}
	return ensureDashboardClient(ctx, m.Clients, m.issuer, m.Logger)
}

// configuredIssuer is the issuer a node started with cfg will have, for
// commands that do not listen (init): oauth.issuer, else the URL of the
// listen address, as Main.URL gives it. "" when the port is 0 and so not
// known until a node listens.
func configuredIssuer(cfg config.Config) string {
	if cfg.OAuth.Issuer != "" {
		return cfg.OAuth.Issuer
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || port == "0" {
		return ""
	}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	if host == "" {
		host = "::" // what a listener on ":port" reports
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// initDashboardClient registers the dashboard's client from init, which
// runs no node: over its own connection to the store. It returns the
// issuer it used ("" when none is known yet: serve registers it then).
func initDashboardClient(ctx context.Context, cfg config.Config, logger *slog.Logger) (string, error) {
	issuer := configuredIssuer(cfg)
	if issuer == "" || cfg.Dashboard.Disabled {
		return "", nil
	}
	serverSecret, err := readSecret(cfg)
	if err != nil {
		return "", err
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return "", err
	}
	defer store.Close()
	hasher, err := secret.NewHasher(serverSecret)
	if err != nil {
		return "", fmt.Errorf("dashboard client: %w", err)
	}
	clients, err := client.New(client.Config{Store: store, Hasher: hasher})
	if err != nil {
		return "", fmt.Errorf("dashboard client: %w", err)
	}
	return issuer, ensureDashboardClient(ctx, clients, issuer, logger)
}

// initDevAdmin creates the user admin with a generated password, for
// serve --dev's first start, and returns the password ("" when a user
// admin exists already: it is left as it is). It runs before the node
// does, over its own connection to the store, as initialize does.
func initDevAdmin(ctx context.Context, cfg config.Config, logger *slog.Logger) (string, error) {
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return "", err
	}
	defer store.Close()
	accounts, err := account.New(account.Config{Store: store, Sessions: store, Audit: store, Logger: logger})
	if err != nil {
		return "", fmt.Errorf("accounts: %w", err)
	}
	return createDevAdmin(ctx, accounts)
}

func createDevAdmin(ctx context.Context, accounts *account.Service) (string, error) {
	// 128 random bits, in letters and digits that survive any terminal.
	pw := rand.Text()
	_, err := accounts.Create(ctx, auth.ActorSystem, account.CreateInput{
		Username: DevAdminUsername, Password: pw, Name: "Administrator", Role: auth.RoleAdmin,
	})
	switch {
	case auth.ErrorCode(err) == auth.ECONFLICT:
		return "", nil
	case err != nil:
		return "", fmt.Errorf("create the user %s: %w", DevAdminUsername, err)
	}
	return pw, nil
}

// printDevDashboard tells a developer where the dashboard is and, on the
// first start, the password of the user admin: once, as the first admin
// key is.
func printDevDashboard(out io.Writer, issuer, adminPassword string) {
	fmt.Fprintf(out, "Dashboard: %s\n", dashboardURL(issuer))
	if adminPassword != "" {
		fmt.Fprintf(out, "  sign in as %s with password %s (shown once, store it now)\n", DevAdminUsername, adminPassword)
	}
}
