package docs_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	// The typed_config types the Envoy examples use, and only those: an
	// example naming another fails to load until it is added here.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// envoyExamples are the Envoy configurations integrations.md explains,
// each a whole bootstrap (envoy -c FILE).
var envoyExamples = []string{"envoy/envoy-http.yaml", "envoy/envoy-grpc.yaml"}

// TestEnvoyExamplesLoad: each Envoy example loads as Envoy loads it
// (YAML to JSON to a v3 Bootstrap, unknown fields refused, every
// typed_config resolved) and passes the protoc-gen-validate rules, the
// embedded typed_configs included; its ext_authz filter asks Gatehouse
// (below gateway.DecisionsPath over HTTP, a defined cluster over gRPC)
// and fails closed.
func TestEnvoyExamplesLoad(t *testing.T) {
	t.Parallel()
	for _, name := range envoyExamples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			docs := yamlDocuments(t, examplePath(name))
			if len(docs) != 1 {
				t.Fatalf("%d YAML documents, want one bootstrap", len(docs))
			}
			data, err := json.Marshal(jsonValue(docs[0]))
			if err != nil {
				t.Fatalf("YAML to JSON: %v", err)
			}
			var boot bootstrapv3.Bootstrap
			if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(data, &boot); err != nil {
				t.Fatalf("not an Envoy v3 bootstrap: %v", err)
			}
			for _, err := range validateEnvoy(&boot, "bootstrap") {
				t.Error(err)
			}

			clusters := map[string]bool{}
			for _, c := range boot.GetStaticResources().GetClusters() {
				clusters[c.GetName()] = true
			}
			var authz []*extauthzv3.ExtAuthz
			for _, l := range boot.GetStaticResources().GetListeners() {
				for _, fc := range l.GetFilterChains() {
					for _, f := range fc.GetFilters() {
						var hcm hcmv3.HttpConnectionManager
						if f.GetTypedConfig().MessageIs(&hcm) {
							if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
								t.Fatal(err)
							}
							authz = append(authz, extAuthzFilters(t, &hcm, clusters)...)
						}
					}
				}
			}
			if len(authz) != 1 {
				t.Fatalf("%d ext_authz filters, want one", len(authz))
			}
			a := authz[0]
			if a.GetFailureModeAllow() {
				t.Error("failure_mode_allow is true: Gatehouse unreachable would let requests through")
			}
			switch svc := a.GetServices().(type) {
			case *extauthzv3.ExtAuthz_HttpService:
				if !strings.HasSuffix(name, "http.yaml") {
					t.Errorf("%s asks over HTTP", name)
				}
				if p := svc.HttpService.GetPathPrefix(); p != gateway.DecisionsPath {
					t.Errorf("path_prefix %q, want %q", p, gateway.DecisionsPath)
				}
				if c := svc.HttpService.GetServerUri().GetCluster(); !clusters[c] {
					t.Errorf("http_service.server_uri.cluster %q is not a defined cluster", c)
				}
			case *extauthzv3.ExtAuthz_GrpcService:
				if !strings.HasSuffix(name, "grpc.yaml") {
					t.Errorf("%s asks over gRPC", name)
				}
				if c := svc.GrpcService.GetEnvoyGrpc().GetClusterName(); !clusters[c] {
					t.Errorf("grpc_service.envoy_grpc.cluster_name %q is not a defined cluster", c)
				}
			default:
				t.Errorf("ext_authz has neither http_service nor grpc_service: %T", svc)
			}
		})
	}
}

// extAuthzFilters is the ext_authz configurations among hcm's HTTP
// filters; it also reports a route to a cluster not in clusters (Envoy
// refuses a static route table naming one).
func extAuthzFilters(t *testing.T, hcm *hcmv3.HttpConnectionManager, clusters map[string]bool) []*extauthzv3.ExtAuthz {
	t.Helper()
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if c := r.GetRoute().GetCluster(); c != "" && !clusters[c] {
				t.Errorf("route %v goes to cluster %q, which is not defined", r.GetMatch(), c)
			}
		}
	}
	var out []*extauthzv3.ExtAuthz
	for _, f := range hcm.GetHttpFilters() {
		var a extauthzv3.ExtAuthz
		if f.GetTypedConfig().MessageIs(&a) {
			if err := f.GetTypedConfig().UnmarshalTo(&a); err != nil {
				t.Fatal(err)
			}
			out = append(out, &a)
		}
	}
	return out
}

// jsonValue is a decoded YAML value with every mapping key a string, as
// encoding/json (and so Envoy's YAML to JSON step) needs.
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonValue(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonValue(e)
		}
		return out
	default:
		return v
	}
}

// validateEnvoy runs m's protoc-gen-validate rules, then those of every
// message packed in an Any below it (typed_config and the like), which
// the generated ValidateAll leaves unchecked.
func validateEnvoy(m proto.Message, where string) []error {
	var errs []error
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	} else {
		errs = append(errs, fmt.Errorf("%s: %s has no validation rules", where, m.ProtoReflect().Descriptor().FullName()))
	}
	return append(errs, validateAnys(m.ProtoReflect(), where)...)
}

// validateAnys unpacks every Any below m and validates what it holds.
func validateAnys(m protoreflect.Message, where string) []error {
	var errs []error
	visit := func(v protoreflect.Message, at string) {
		if a, ok := v.Interface().(*anypb.Any); ok {
			inner, err := a.UnmarshalNew()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", at, err))
				return
			}
			errs = append(errs, validateEnvoy(inner, at+"("+string(inner.ProtoReflect().Descriptor().FullName())+")")...)
			return
		}
		errs = append(errs, validateAnys(v, at)...)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		at := where + "." + string(fd.Name())
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			var keys []string
			byKey := map[string]protoreflect.Message{}
			v.Map().Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
				keys = append(keys, k.String())
				byKey[k.String()] = e.Message()
				return true
			})
			slices.Sort(keys)
			for _, k := range keys {
				visit(byKey[k], at+"["+k+"]")
			}
		case fd.Message() == nil:
		case fd.IsList():
			for i := range v.List().Len() {
				visit(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", at, i))
			}
		default:
			visit(v.Message(), at)
		}
		return true
	})
	return errs
}
