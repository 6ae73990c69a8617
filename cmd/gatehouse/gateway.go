package main

// fileRouteName reports whether a route of the routes file has that name:
// routes managed through the admin API may not take it.
func (m *Main) fileRouteName(name string) bool {
	return false
}

// routesChanged reloads the gateway's table after a change through the
// admin API, so it applies at once on this node.
func (m *Main) routesChanged() {
}
