package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestTranslateUnreachableDatabaseIsUnavailable(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for name, err := range map[string]error{
		"a network error":                     dial,
		"a deadline":                          context.DeadlineExceeded,
		"a wrapped net error":                 errors.Join(errors.New("query"), dial),
		"a connection closed under the query": fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF),
		"a terminated backend":                &pgconn.PgError{Severity: "FATAL", Code: "57P01"},
		"a connection exception":              &pgconn.PgError{Code: "08006"},
		// What pgx returns for a pooled connection that died between
		// queries, as when the network to the database is cut.
		"a connection closed before the query": fmt.Errorf("create api key: %w", pgconn.ErrConnClosed),
	} {
		got := translate("get api key", err)
		if auth.ErrorCode(got) != auth.EUNAVAILABLE {
			t.Errorf("%s: code %s, want %s", name, auth.ErrorCode(got), auth.EUNAVAILABLE)
		}
		if !errors.Is(got, err) {
			t.Errorf("%s: the cause left the chain: %v", name, got)
		}
	}
	if code := auth.ErrorCode(translate("x", errors.New("syntax error"))); code != auth.EINTERNAL {
		t.Errorf("any other error: code %s, want %s", code, auth.EINTERNAL)
	}
}
