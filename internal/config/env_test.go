package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEnvNamesListsEachVariableApplyEnvReadsOnce(t *testing.T) {
	t.Parallel()
	names := EnvNames()
	seen := map[string]bool{}
	for _, n := range names {
		if !strings.HasPrefix(n, "GATEHOUSE_") {
			t.Errorf("%q is not a GATEHOUSE_ variable", n)
		}
		if seen[n] {
			t.Errorf("%s is listed twice", n)
		}
		seen[n] = true
	}
	for _, want := range []string{"GATEHOUSE_SECRET", "GATEHOUSE_DB", "GATEHOUSE_REDIS_URL", "GATEHOUSE_ISSUER", "GATEHOUSE_GATEWAY_ADDR"} {
		if !slices.Contains(names, want) {
			t.Errorf("EnvNames() lacks %s", want)
		}
	}
}

// Each listed name must really be applied: set alone to a value no
// setting takes as it is, it either changes the configuration or is
// refused by name. A name listed but ignored would pass the deploy files'
// check while doing nothing.
func TestEveryNameEnvNamesListsTakesEffect(t *testing.T) {
	t.Parallel()
	for _, name := range EnvNames() {
		c := Default(false)
		err := c.ApplyEnv(func(k string) string {
			if k == name {
				return "not-a-value-of-any-setting"
			}
			return ""
		})
		switch {
		case err != nil:
			if !strings.Contains(err.Error(), name) {
				t.Errorf("%s: the error %q does not name the variable", name, err)
			}
		case reflect.DeepEqual(c, Default(false)):
			t.Errorf("%s is listed by EnvNames but changes nothing", name)
		}
	}
}
