// Package routefile reads the gateway's routes file (YAML) into
// auth.Route records, and watches it for changes.
//
// The format is strict: unknown fields, values of the wrong type, or a
// table that auth.CheckRouteTable refuses (a route that breaks a rule, a
// name given twice, two path prefixes that differ only by case) make the
// whole file invalid, and the error names the route (index, name, line)
// and the field. An empty file, or "routes: []", is an empty table.
// examples/routes.yaml, at the root of the repository, documents every field.
package routefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// MaxSize bounds a routes file: far more than any real table, small enough
// that a mistaken path (a log file, a disk image) is refused quickly.
const MaxSize = 4 << 20

// Load reads and parses the routes file at path.
func Load(path string) ([]auth.Route, error) {
	routes, _, err := LoadVersion(path)
	return routes, err
}

// Parse reads a routes document. The routes are checked as one table
// (auth.CheckRouteTable: each Normalize()d, no name twice, no two path
// prefixes that differ only by case); the whole document is refused on
// the first problem, a field that does not decode before a rule.
func Parse(data []byte) ([]auth.Route, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("routes file: larger than %d bytes", MaxSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // empty, or only comments
			return []auth.Route{}, nil
		}
		return nil, fmt.Errorf("routes file: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("routes file: only one YAML document is allowed")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		return []auth.Route{}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("routes file: line %d: the document must be a mapping with a routes list", root.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		switch {
		case key.Value != "routes":
			return nil, fmt.Errorf("routes file: line %d: unknown field %q (only routes)", key.Line, key.Value)
		case list != nil:
			return nil, fmt.Errorf("routes file: line %d: routes given twice", key.Line)
		}
		list = val
	}
	if list == nil || isNull(list) {
		return []auth.Route{}, nil
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("routes file: line %d: routes must be a list", list.Line)
	}

	routes := make([]auth.Route, 0, len(list.Content))
	lines := make([]int, 0, len(list.Content))
	for i, node := range list.Content {
		r, err := decodeRoute(node)
		if err != nil {
			return nil, routeError(i, nameOf(node), node.Line, err)
		}
		routes = append(routes, r)
		lines = append(lines, node.Line)
	}
	var bad *auth.RouteTableError
	if err := auth.CheckRouteTable(routes); errors.As(err, &bad) {
		i, r := bad.Index, routes[bad.Index]
		if bad.Other >= 0 && routes[bad.Other].Name == r.Name {
			return nil, routeError(i, r.Name, lines[i], fmt.Errorf("field name: %q is already the name of routes[%d]", r.Name, bad.Other))
		}
		return nil, routeError(i, r.Name, lines[i], normalizeError(r.Name, bad.Err))
	} else if err != nil {
		return nil, fmt.Errorf("routes file: %w", err)
	}
	return routes, nil
}

func routeError(i int, name string, line int, err error) error {
	if name == "" {
		return fmt.Errorf("routes file: routes[%d] (line %d): %w", i, line, err)
	}
	return fmt.Errorf("routes file: routes[%d] %q (line %d): %w", i, name, line, err)
}

// normalizeError turns Normalize's message, which starts with the route's
// name, into one that follows routeError's prefix.
func normalizeError(name string, err error) error {
	msg := auth.ErrorMessage(err)
	if rest, ok := strings.CutPrefix(msg, "route "+name+": "); ok {
		return errors.New(rest)
	}
	if strings.HasPrefix(msg, "route name ") {
		return errors.New("field name: " + strings.TrimPrefix(msg, "route "))
	}
	return errors.New(msg)
}

// nameOf finds a route's name for error messages, before it is decoded.
func nameOf(node *yaml.Node) string {
	if node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	if node.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if k, v := node.Content[i], node.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && len(v.Value) <= 64 {
			return v.Value
		}
	}
	return ""
}

// fields decode each route field into the record.
var fields = map[string]func(r *auth.Route, v *yaml.Node) error{
	"name":              func(r *auth.Route, v *yaml.Node) error { return decodeString(v, &r.Name) },
	"hosts":             func(r *auth.Route, v *yaml.Node) error { return decodeStrings(v, &r.Hosts) },
	"path":              func(r *auth.Route, v *yaml.Node) error { return decodeString(v, &r.PathPrefix) },
	"methods":           func(r *auth.Route, v *yaml.Node) error { return decodeStrings(v, &r.Methods) },
	"upstreams":         func(r *auth.Route, v *yaml.Node) error { return decodeStrings(v, &r.Upstreams) },
	"strip_prefix":      func(r *auth.Route, v *yaml.Node) error { return decodeBool(v, &r.StripPrefix) },
	"timeout":           func(r *auth.Route, v *yaml.Node) error { return decodeDuration(v, &r.Timeout) },
	"policy":            func(r *auth.Route, v *yaml.Node) error { return decodeString(v, &r.Policy) },
	"scopes":            func(r *auth.Route, v *yaml.Node) error { return decodeStrings(v, &r.Scopes) },
	"audience":          func(r *auth.Route, v *yaml.Node) error { return decodeString(v, &r.Audience) },
	"issuer":            func(r *auth.Route, v *yaml.Node) error { return decodeString(v, &r.Issuer) },
	"jwks_uri":          func(r *auth.Route, v *yaml.Node) error { return decodeString(v, &r.JWKSURI) },
	"algorithms":        func(r *auth.Route, v *yaml.Node) error { return decodeStrings(v, &r.Algorithms) },
	"rate_limit":        func(r *auth.Route, v *yaml.Node) error { return decodeLimit(v, &r.RateLimit) },
	"client_rate_limit": func(r *auth.Route, v *yaml.Node) error { return decodeLimit(v, &r.ClientRateLimit) },
	"internal_jwt":      func(r *auth.Route, v *yaml.Node) error { return decodeBool(v, &r.InternalJWT) },
	"strip_headers":     func(r *auth.Route, v *yaml.Node) error { return decodeStrings(v, &r.StripHeaders) },
	"any_audience":      func(r *auth.Route, v *yaml.Node) error { return decodeBool(v, &r.AnyAudience) },
	"key_environment":   func(r *auth.Route, v *yaml.Node) error { return decodeString(v, &r.KeyEnvironment) },
	"require_mfa":       func(r *auth.Route, v *yaml.Node) error { return decodeBool(v, &r.RequireMFA) },
	"allow_path_params": func(r *auth.Route, v *yaml.Node) error { return decodeBool(v, &r.AllowPathParams) },
	"case_insensitive":  func(r *auth.Route, v *yaml.Node) error { return decodeBool(v, &r.CaseInsensitive) },
	"forward_method_override": func(r *auth.Route, v *yaml.Node) error {
		return decodeBool(v, &r.ForwardMethodOverride)
	},
}

func decodeRoute(node *yaml.Node) (auth.Route, error) {
	var r auth.Route
	if node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	if node.Kind != yaml.MappingNode {
		return r, errors.New("a route must be a mapping of fields")
	}
	seen := make(map[string]bool, len(node.Content)/2)
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, val := node.Content[i], node.Content[i+1]
		if key.Kind != yaml.ScalarNode {
			return r, fmt.Errorf("line %d: a field name must be a string", key.Line)
		}
		decode, ok := fields[key.Value]
		if !ok {
			return r, fmt.Errorf("line %d: unknown field %q", key.Line, key.Value)
		}
		if seen[key.Value] {
			return r, fmt.Errorf("line %d: field %s given twice", key.Line, key.Value)
		}
		seen[key.Value] = true
		if err := decode(&r, val); err != nil {
			return r, fmt.Errorf("line %d: field %s: %w", val.Line, key.Value, err)
		}
	}
	return r, nil
}

func isNull(v *yaml.Node) bool {
	return v.Kind == 0 || (v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null")
}

// scalar follows an alias and checks that v is a scalar of tag (or null).
func scalar(v *yaml.Node, tags ...string) (*yaml.Node, error) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if isNull(v) {
		return nil, nil
	}
	if v.Kind == yaml.ScalarNode {
		for _, t := range tags {
			if v.ShortTag() == t {
				return v, nil
			}
		}
	}
	return nil, fmt.Errorf("want a %s, not %s", describeTags(tags), describe(v))
}

func describeTags(tags []string) string {
	switch tags[0] {
	case "!!str":
		return "string"
	case "!!bool":
		return "boolean (true or false)"
	default:
		return "number"
	}
}

func describe(v *yaml.Node) string {
	switch v.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("%s %q", strings.TrimPrefix(v.ShortTag(), "!!"), truncate(v.Value))
	default:
		return "this"
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func decodeString(v *yaml.Node, dst *string) error {
	s, err := scalar(v, "!!str")
	if s != nil {
		*dst = s.Value
	}
	return err
}

func decodeBool(v *yaml.Node, dst *bool) error {
	s, err := scalar(v, "!!bool")
	if s == nil {
		return err
	}
	return s.Decode(dst)
}

func decodeStrings(v *yaml.Node, dst *[]string) error {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return fmt.Errorf("want a list of strings, not %s", describe(v))
	}
	out := make([]string, 0, len(v.Content))
	for _, item := range v.Content {
		s, err := scalar(item, "!!str")
		if err != nil {
			return err
		}
		if s == nil {
			return errors.New("want a list of strings, not an empty item")
		}
		out = append(out, s.Value)
	}
	*dst = out
	return nil
}

// decodeDuration takes a Go duration ("10s", "1m30s"); a bare number has
// no unit and is refused, except 0.
func decodeDuration(v *yaml.Node, dst *time.Duration) error {
	s, err := scalar(v, "!!str", "!!int")
	if s == nil {
		return err
	}
	d, err := time.ParseDuration(s.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 10s or 1m30s", truncate(s.Value))
	}
	*dst = d
	return nil
}

func decodeLimit(v *yaml.Node, dst *auth.RateLimit) error {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("want a mapping {rate: N, burst: N}, not %s", describe(v))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i], v.Content[i+1]
		if seen[key.Value] {
			return fmt.Errorf("%s given twice", key.Value)
		}
		seen[key.Value] = true
		switch key.Value {
		case "rate":
			s, err := scalar(val, "!!int", "!!float")
			if err != nil {
				return fmt.Errorf("rate: %w", err)
			}
			if s != nil {
				if err := s.Decode(&dst.Rate); err != nil {
					return fmt.Errorf("rate: %w", err)
				}
			}
		case "burst":
			s, err := scalar(val, "!!int")
			if err != nil {
				return fmt.Errorf("burst: %w", err)
			}
			if s != nil {
				if err := s.Decode(&dst.Burst); err != nil {
					return fmt.Errorf("burst: %w", err)
				}
			}
		default:
			return fmt.Errorf("unknown field %q (rate, burst)", truncate(key.Value))
		}
	}
	return nil
}

// readFile reads at most MaxSize bytes of path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("routes file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("routes file: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("routes file %s: larger than %d bytes", path, MaxSize)
	}
	return data, nil
}
