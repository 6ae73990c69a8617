package gateway

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// tracerName is the instrumentation scope of the gateway's spans.
const tracerName = "github.com/gatehouse-dev/gatehouse/internal/gateway"

// Span names and attributes (docs/tracing.md). The token itself is never
// recorded; the client it was issued to is, once its signature holds.
const (
	SpanVerifyJWT = "gateway.verify_jwt"

	AttrRoute  = attribute.Key("gatehouse.route")
	AttrIssuer = attribute.Key("gatehouse.jwt.issuer")
	AttrClient = attribute.Key("gatehouse.client_id")
	AttrReason = attribute.Key("gatehouse.refusal")
)

// ServerSpanName names the gateway's server span until its route is
// known (tracing.Middleware's name function): "METHOD gateway".
func ServerSpanName(*http.Request) string { return "gateway" }

// nameSpan names the request's server span after the route it matched
// ("METHOD route"), so that traces group by route, not by raw path.
func nameSpan(r *http.Request, rt *route) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	span.SetName(r.Method + " " + rt.name)
	span.SetAttributes(AttrRoute.String(rt.name), tracing.AttrRoute.String(rt.name))
}

// authJWTTraced is authJWT inside a gateway.verify_jwt span: the checks
// of signature, claims and revocation, and the client lookup (a store
// read when not cached) as its child.
func (g *Gateway) authJWTTraced(r *http.Request, rt *route, id *identity) error {
	issuer := g.cfg.Issuer
	if rt.verifier != nil {
		issuer = rt.cfg.Issuer
	}
	ctx, span := g.tracer.Start(r.Context(), SpanVerifyJWT,
		trace.WithAttributes(AttrRoute.String(rt.name), AttrIssuer.String(issuer)))
	defer span.End()
	err := g.checkJWT(r.WithContext(ctx), rt, id)
	if id.tokenClient != "" {
		span.SetAttributes(AttrClient.String(id.tokenClient))
	}
	if err != nil {
		// A refusal is the caller's error, not the span's: recorded as
		// the reason, the status left unset (the server span has the 401).
		reason := verify.ReasonOf(err)
		span.SetAttributes(AttrReason.String(string(reason)))
		if reason == verify.ReasonKeysUnavailable {
			tracing.Fail(span, err)
		}
	}
	return err
}
