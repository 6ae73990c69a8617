package apikey

import (
	"context"

	"go.opentelemetry.io/otel/attribute"

	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// tracerName is the instrumentation scope of the key service's spans.
const tracerName = "github.com/gatehouse-dev/gatehouse/internal/apikey"

// Span names and attributes (docs/tracing.md). Neither the key nor any
// part of it is ever recorded: only the stored record's ID, once found.
const (
	SpanVerify = "apikey.verify"
	SpanSettle = "apikey.settle"

	AttrCode  = attribute.Key("gatehouse.apikey.code")
	AttrKeyID = attribute.Key("gatehouse.apikey.id")
)

// authorizeTraced is Authorize inside an apikey.verify span: the store
// read of a key not cached shows as its child.
func (s *Service) authorizeTraced(ctx context.Context, req Request) (Result, error) {
	ctx, span := s.tracer.Start(ctx, SpanVerify)
	defer span.End()
	res, err := s.authorize(ctx, req)
	if err != nil {
		tracing.Fail(span, err)
		return res, err
	}
	span.SetAttributes(AttrCode.String(string(res.Code)))
	if res.Key != nil {
		span.SetAttributes(AttrKeyID.String(res.Key.ID))
	}
	return res, nil
}

// spends reports whether Settle will spend credits for res: the only case
// with I/O (the store or Redis), and so the only one worth a span.
func spends(res Result, refusal Code) bool {
	return res.Code == CodeValid && refusal == "" && res.Key != nil && res.Key.Credits != nil
}

// settleTraced is Settle inside an apikey.settle span.
func (s *Service) settleTraced(ctx context.Context, req Request, res Result, refusal Code) (Result, error) {
	ctx, span := s.tracer.Start(ctx, SpanSettle)
	defer span.End()
	span.SetAttributes(AttrKeyID.String(res.Key.ID))
	out, err := s.settleAndCount(ctx, req, res, refusal)
	if err != nil {
		tracing.Fail(span, err)
		return out, err
	}
	span.SetAttributes(AttrCode.String(string(out.Code)))
	return out, nil
}
