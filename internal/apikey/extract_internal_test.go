package apikey

import (
	"net/http"
	"testing"
)

func TestHeaderAPIKeyCanonical(t *testing.T) {
	if got := http.CanonicalHeaderKey(HeaderAPIKey); got != headerAPIKeyCanonical {
		t.Fatalf("canonical form of %s is %s, not %s", HeaderAPIKey, got, headerAPIKeyCanonical)
	}
}
