package main

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/routes"
)

// startRoutes builds the service that manages the gateway routes stored
// through the admin API. Names of the routes file are reserved to it, and
// every change reloads this node's gateway at once. Nothing is loaded
// here: the gateway reads the store itself.
func (m *Main) startRoutes(ctx context.Context) error {
	svc, err := routes.New(routes.Config{
		Store:      m.Store,
		Now:        m.Now,
		FileRoutes: m.fileRoutes,
		Changed:    m.routesChanged,
	})
	if err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	m.Routes = svc
	return nil
}
