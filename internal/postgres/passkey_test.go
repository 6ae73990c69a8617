package postgres

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func TestPasskeyStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunPasskeys(t, func(t *testing.T) auth.Store {
		dsn, _ := testenv.PostgresSchema(t)
		return openDSN(t, dsn)
	})
}
