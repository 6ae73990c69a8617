package oauth

import (
	"context"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// tracerName is the instrumentation scope of the server's spans.
const tracerName = "github.com/gatehouse-dev/gatehouse/internal/oauth"

// Span name and attributes of token issuance (docs/tracing.md): the
// grant, the authenticated client and the outcome, never a secret, code
// or token of the request or the response.
const (
	SpanToken = "oauth.token"

	AttrGrantType = attribute.Key("gatehouse.oauth.grant_type")
	AttrClientID  = attribute.Key("gatehouse.client_id")
	AttrError     = attribute.Key("gatehouse.oauth.error")
)

// endTokenSpan ends a token request's span with its client and error.
type endTokenSpan func(c *auth.Client, err error)

func noTokenSpan(*auth.Client, error) {}

// startTokenSpan starts the span of one token request (one grant): the
// client's authentication, the grant's store work and the signing of the
// tokens are inside it. Tracing off, it returns ctx and a no-op.
func (s *Server) startTokenSpan(ctx context.Context, form url.Values) (context.Context, endTokenSpan) {
	if s.tracer == nil {
		return ctx, noTokenSpan
	}
	grant := form.Get("grant_type")
	if _, known := grantHandlers[grant]; !known {
		grant = "unsupported" // the caller's text is not recorded
	}
	ctx, span := s.tracer.Start(ctx, SpanToken, trace.WithAttributes(AttrGrantType.String(grant)))
	return ctx, func(c *auth.Client, err error) {
		defer span.End()
		if c != nil {
			span.SetAttributes(AttrClientID.String(c.ID))
		}
		if err == nil {
			return
		}
		e := asError(err)
		span.SetAttributes(AttrError.String(e.Code))
		if e.Code == CodeServerError || e.Code == CodeTemporarilyUnavailable {
			// The server's failure, not the client's: the cause is in
			// the chain (never a secret; see error.go).
			tracing.Fail(span, err)
		}
	}
}
