package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	sqlitedriver "modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// Option is an optional setting of Open.
type Option func(*options)

type options struct {
	tracer trace.Tracer // nil: connections are the driver's own
}

// WithTracerProvider records a span per statement, transaction start and
// commit (see tracedConn); a nil tp records none, and the connections are
// the driver's, unwrapped.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tracing.Tracer(tp, tracerName) }
}

// tracerName is the instrumentation scope of the store's spans.
const tracerName = "github.com/gatehouse-dev/gatehouse/internal/sqlite"

// Attributes of the statement spans (OpenTelemetry's database
// conventions). The SQL text is recorded: every statement of this package
// passes its values as parameters (?), which are never recorded.
var (
	attrSystem    = attribute.String("db.system.name", "sqlite")
	AttrQueryText = attribute.Key("db.query.text")
)

// openPool opens a database/sql pool on dsn, its connections wrapped in
// tracedConn when o has a tracer. modernc.org/sqlite's NewConnector exists
// for this (see its documentation): no driver registration, and the
// wrapper unwraps.
func openPool(dsn string, o options) (*sql.DB, error) {
	if o.tracer == nil {
		return sql.Open("sqlite", dsn)
	}
	c, err := sqlitedriver.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(tracedConnector{Connector: c, tracer: o.tracer}), nil
}

type tracedConnector struct {
	driver.Connector
	tracer trace.Tracer
}

func (c tracedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	in, ok := conn.(inner)
	if !ok {
		return conn, nil // not one of the driver's: left as it is
	}
	return &tracedConn{conn: in, tracer: c.tracer}, nil
}

// inner is what every connection modernc.org/sqlite opens implements:
// the wrapper forwards all of it, so database/sql keeps its context-aware
// paths (see sqlitedriver.NewConnector).
type inner interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// tracedConn records the statements run within a traced operation (a
// request, a grant) as its child spans: "sqlite SELECT" and the like, and
// "sqlite BEGIN" and "sqlite COMMIT" around write transactions (waiting
// for the write lock, and the fsync). Statements with no span in their
// context (background flushes) are not recorded.
type tracedConn struct {
	conn   inner
	tracer trace.Tracer
}

var (
	_ inner                             = (*tracedConn)(nil)
	_ driver.StmtExecContext            = (*tracedStmt)(nil)
	_ driver.StmtQueryContext           = (*tracedStmt)(nil)
	_ interface{ Unwrap() driver.Conn } = (*tracedConn)(nil)
)

// Unwrap returns the driver's connection (sqlitedriver.Limit and sql.Conn.Raw
// users look through the wrapper with it).
func (c *tracedConn) Unwrap() driver.Conn { return c.conn }

// start starts a span for name when ctx is traced; span is nil otherwise.
func (c *tracedConn) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	attrs = append(attrs, attrSystem)
	return c.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && !errors.Is(err, driver.ErrSkip) {
		tracing.Fail(span, err)
	}
	span.End()
}

func (c *tracedConn) statement(ctx context.Context, query string) (context.Context, trace.Span) {
	return c.start(ctx, "sqlite "+tracing.SQLOperation(query), AttrQueryText.String(query))
}

func (c *tracedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *tracedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &tracedStmt{Stmt: s, conn: c, query: query}, nil
}

func (c *tracedConn) Close() error { return c.conn.Close() }

func (c *tracedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *tracedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	beginCtx, span := c.start(ctx, "sqlite BEGIN")
	tx, err := c.conn.BeginTx(beginCtx, opts)
	end(span, err)
	if err != nil {
		return nil, err
	}
	return &tracedTx{Tx: tx, conn: c, ctx: ctx}, nil
}

func (c *tracedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ctx, span := c.statement(ctx, query)
	res, err := c.conn.ExecContext(ctx, query, args)
	end(span, err)
	return res, err
}

func (c *tracedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	ctx, span := c.statement(ctx, query)
	rows, err := c.conn.QueryContext(ctx, query, args)
	end(span, err)
	return rows, err
}

func (c *tracedConn) Ping(ctx context.Context) error         { return c.conn.Ping(ctx) }
func (c *tracedConn) ResetSession(ctx context.Context) error { return c.conn.ResetSession(ctx) }
func (c *tracedConn) IsValid() bool                          { return c.conn.IsValid() }

// tracedTx records the commit, in the context the transaction began in
// (driver.Tx's Commit has none of its own).
type tracedTx struct {
	driver.Tx
	conn *tracedConn
	ctx  context.Context
}

func (t *tracedTx) Commit() error {
	_, span := t.conn.start(t.ctx, "sqlite COMMIT")
	err := t.Tx.Commit()
	end(span, err)
	return err
}

// tracedStmt records the executions of a prepared statement.
type tracedStmt struct {
	driver.Stmt
	conn  *tracedConn
	query string
}

func (s *tracedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ctx, span := s.conn.statement(ctx, s.query)
	res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	end(span, err)
	return res, err
}

func (s *tracedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	ctx, span := s.conn.statement(ctx, s.query)
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	end(span, err)
	return rows, err
}
