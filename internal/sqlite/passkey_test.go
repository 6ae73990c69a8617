package sqlite

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/storetest"
)

func TestPasskeyStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunPasskeys(t, func(t *testing.T) auth.Store { return openTemp(t) })
}
