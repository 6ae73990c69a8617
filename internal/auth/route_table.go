package auth

import "fmt"

// RouteConflict returns why two routes, each valid on its own, cannot be
// served in one table, or nil: they have one name, or path prefixes that
// differ only by case (PrefixesClash). The error is ECONFLICT and names
// both routes. It is the one rule between routes, whoever holds them: the
// admin API before it stores one, the routes file and the gateway for a
// whole table (CheckRouteTable), a node that must hold a stored route the
// others leave no room for.
func RouteConflict(r, other *Route) error {
	switch {
	case r.Name == other.Name:
		return Errorf(ECONFLICT, "route %s: the name is used by another route", r.Name)
	case PrefixesClash(r.PathPrefix, other.PathPrefix):
		return Errorf(ECONFLICT, "route %s: its path %q and route %s's path %q differ only by case; use one spelling (with case_insensitive: true for an upstream that ignores case)",
			r.Name, r.PathPrefix, other.Name, other.PathPrefix)
	}
	return nil
}

// RouteTableError is why CheckRouteTable refuses a table: route Index
// breaks a rule of its own (Other is -1, Err is Normalize's EINVALID), or
// conflicts with route Other, earlier in the table (Err is RouteConflict's
// ECONFLICT).
type RouteTableError struct {
	Index, Other int
	Err          error
}

func (e *RouteTableError) Error() string { return fmt.Sprintf("route %d: %v", e.Index, e.Err) }

func (e *RouteTableError) Unwrap() error { return e.Err }

// CheckRouteTable normalizes every route of a table in place (Normalize)
// and checks that they can be served together (RouteConflict). The error,
// for the first route in order at fault, is a *RouteTableError. The check
// takes linear time: tables are checked on every reload.
func CheckRouteTable(routes []Route) error {
	byName := make(map[string]int, len(routes))
	byFold := make(map[string]int, len(routes)) // the first route of each folded prefix
	for i := range routes {
		r := &routes[i]
		if err := r.Normalize(); err != nil {
			return &RouteTableError{Index: i, Other: -1, Err: err}
		}
		folded := FoldASCII(r.PathPrefix)
		j, ok := byName[r.Name]
		if !ok {
			// Prefixes that clash fold alike: only the first route of a
			// folded prefix is compared, since every later one either
			// clashes with it or spells the prefix as it does.
			j, ok = byFold[folded]
		}
		if ok {
			if err := RouteConflict(r, &routes[j]); err != nil {
				return &RouteTableError{Index: i, Other: j, Err: err}
			}
		}
		byName[r.Name] = i
		if _, ok := byFold[folded]; !ok {
			byFold[folded] = i
		}
	}
	return nil
}
