package main

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/background"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/routefile"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// kicks wake the components that reread the store when the change feed
// reports a change of their kind, and every auth.FeedMaxAge while the feed
// does not vouch for itself (see changes.Kick); without a feed they never
// fire, and the components poll.
type kicks struct {
	routes, signing, revocations *changes.Kick
}

// followChanges builds the node's change feed, when its store has one (a
// store shared by several nodes): the caches of the API keys and the
// clients subscribe to it as they are built, and the components that
// reread the store subscribe here.
func (m *Main) followChanges() {
	m.kicks = kicks{routes: changes.NewKick(), signing: changes.NewKick(), revocations: changes.NewKick()}
	w, ok := m.Store.(auth.ChangeWatcher)
	if !ok {
		return
	}
	m.changes = changes.New(w, m.Logger)
	m.changes.SetOutageGrace(m.Config.StoreOutageGrace)
	m.changes.Subscribe(m.kicks.routes, auth.ChangeRoute)
	m.changes.Subscribe(m.kicks.signing, auth.ChangeSigningKey)
	m.changes.Subscribe(m.kicks.revocations, auth.ChangeRevocation)
}

// backgroundTasks lists the node's background work, each under the
// contract of background.Runner.
func (m *Main) backgroundTasks() []background.Task {
	tasks := []background.Task{
		{Name: "signing key rotation", Runner: m.Signing},
		{Name: "oauth purge", Runner: m.OAuth},
		{Name: "api key usage flush", Runner: m.Keys},
		{Name: "webhook delivery", Runner: m.Dispatcher},
		{Name: "back-channel logout delivery", Runner: m.LogoutNotifier},
		// Stopped after the servers (Close), so its final flush holds
		// the counts of the last requests served.
		{Name: "usage counts flush", Runner: &usage.Flusher{
			Counter: m.Usage, Store: m.Store, Interval: m.Config.FlushInterval,
			Retention: m.Config.Usage.Retention, Now: m.Now, Logger: m.Logger,
		}},
	}
	if m.nodes != nil {
		tasks = append(tasks, background.Task{Name: "cluster heartbeat", Runner: m.nodes})
	}
	if m.Dashboard != nil {
		tasks = append(tasks, background.Task{Name: "dashboard session purge", Runner: m.Dashboard})
	}
	if m.changes != nil {
		tasks = append(tasks,
			background.Task{Name: "change feed", Runner: m.changes},
			background.Task{Name: "signing keys reread while the feed is lost", Runner: m.kicks.signing},
		)
	}
	if m.Gateway == nil {
		return tasks
	}
	tasks = append(tasks,
		background.Task{Name: "revocation list", Runner: m.Revocations},
		background.Task{Name: "stored routes watch", Runner: background.Func(m.watchStoredRoutes)},
	)
	if m.changes != nil {
		tasks = append(tasks,
			background.Task{Name: "revocations reread while the feed is lost", Runner: m.kicks.revocations},
			background.Task{Name: "routes reread while the feed is lost", Runner: m.kicks.routes},
		)
	}
	if m.Config.Gateway.RoutesFile != "" {
		tasks = append(tasks, background.Task{Name: "routes file watch", Runner: background.Func(m.watchRoutesFile)})
	}
	if m.Reload != nil {
		tasks = append(tasks, background.Task{Name: "reload on request", Runner: background.Func(m.reloadOnRequest)})
	}
	return tasks
}

// reloadOnRequest rereads the routes on each receive from m.Reload, until
// ctx is done.
func (m *Main) reloadOnRequest(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.Reload:
			m.ReloadRoutes(ctx) // logs its own outcome; a bad file keeps the old routes
		}
	}
}

// watchStoredRoutes rereads the routes stored through the admin API when
// the change feed reports a route change on any node, and every
// routePollInterval as the safety net, until ctx is done.
func (m *Main) watchStoredRoutes(ctx context.Context) error {
	t := time.NewTicker(routePollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kicks.routes.C:
		}
		if err := m.reloadStoredRoutes(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Warn("reading the stored routes failed; the previous routes stay in force", "err", err)
		}
	}
}

// watchRoutesFile applies the routes file whenever it changes, until ctx
// is done; from the version loaded at start, so that a change between that
// load and the first poll is not missed.
func (m *Main) watchRoutesFile(ctx context.Context) error {
	path := m.Config.Gateway.RoutesFile
	routefile.WatchFrom(ctx, path, time.Second, m.routes.loaded, func(routes []auth.Route, err error) {
		if err != nil {
			m.Logger.Error("routes file rejected; the previous routes stay in force", "file", path, "err", err)
			return
		}
		m.applyFileRoutes(routes, "file changed")
	})
	return nil
}
