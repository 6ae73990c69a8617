package tracing

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// redisScope is the instrumentation scope of the Redis spans.
const redisScope = "github.com/gatehouse-dev/gatehouse/internal/tracing/redis"

// Attributes of the Redis spans (OpenTelemetry's database conventions):
// the command's name, never its arguments (keys name API keys and
// clients; values are counts, but nothing is recorded that might be more).
var attrRedis = attribute.String("db.system.name", "redis")

const (
	AttrOperation = attribute.Key("db.operation.name")
	AttrBatchSize = attribute.Key("db.operation.batch.size")
	attrServer    = attribute.Key("server.address")
)

// InstrumentRedis adds a hook to c that records each command and each
// pipeline run within a traced operation as a child span ("redis
// EVALSHA", "redis pipeline"). Commands outside any trace (background
// work) are not recorded. With tp nil, c is left untouched.
func InstrumentRedis(c *redis.Client, tp trace.TracerProvider) {
	if tp == nil {
		return
	}
	host, _, err := net.SplitHostPort(c.Options().Addr)
	if err != nil {
		host = c.Options().Addr
	}
	c.AddHook(redisHook{tracer: tp.Tracer(redisScope), attrs: []attribute.KeyValue{attrRedis, attrServer.String(host)}})
}

type redisHook struct {
	tracer trace.Tracer
	attrs  []attribute.KeyValue
}

var _ redis.Hook = redisHook{}

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	return h.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(h.attrs...), trace.WithAttributes(attrs...))
}

func endRedis(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && !errors.Is(err, redis.Nil) { // a missing key is an answer
		Fail(span, err)
	}
	span.End()
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		name := strings.ToUpper(cmd.Name())
		ctx, span := h.start(ctx, "redis "+name, AttrOperation.String(name))
		err := next(ctx, cmd)
		endRedis(span, err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmds)
		}
		names := make([]string, 0, len(cmds))
		for _, c := range cmds {
			if n := strings.ToUpper(c.Name()); len(names) == 0 || names[len(names)-1] != n {
				names = append(names, n)
			}
		}
		ctx, span := h.start(ctx, "redis pipeline", AttrOperation.String(strings.Join(names, " ")), AttrBatchSize.Int(len(cmds)))
		err := next(ctx, cmds)
		endRedis(span, err)
		return err
	}
}
