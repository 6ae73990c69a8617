package auth

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLatestSchemaVersionIsTheHighestMigrationNumber(t *testing.T) {
	t.Parallel()
	files := fstest.MapFS{
		"m/00001_init.sql":  {},
		"m/00014_nodes.sql": {},
		"m/00002_more.sql":  {},
	}
	if v, err := LatestSchemaVersion(files, "m"); err != nil || v != 14 {
		t.Fatalf("LatestSchemaVersion = %d, %v; want 14", v, err)
	}
	for name, bad := range map[string]fstest.MapFS{
		"a file without a number": {"m/00001_init.sql": {}, "m/readme.sql": {}},
		"version 0":               {"m/00000_zero.sql": {}},
		"no migrations":           {"other/00001_init.sql": {}},
	} {
		if v, err := LatestSchemaVersion(bad, "m"); err == nil {
			t.Errorf("%s: LatestSchemaVersion = %d; want an error", name, v)
		}
	}
}

func TestCheckSchemaVersionRefusesOnlyANewerSchemaNamingBothVersions(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{0, 13, 14} {
		if err := CheckSchemaVersion(v, 14); err != nil {
			t.Errorf("CheckSchemaVersion(%d, 14) = %v; want nil", v, err)
		}
	}
	err := CheckSchemaVersion(15, 14)
	var tooNew *SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Database != 15 || tooNew.Known != 14 {
		t.Fatalf("CheckSchemaVersion(15, 14) = %v; want a SchemaTooNewError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "version 15") || !strings.Contains(msg, "version 14") {
		t.Errorf("the message does not name both versions: %s", msg)
	}
}
