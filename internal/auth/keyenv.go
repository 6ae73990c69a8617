package auth

import "strings"

// Key environments, as Stripe and Unkey have them: a property of each key,
// written in its prefix (sk_live_..., sk_test_...), so that every node
// accepts the keys of every environment its store holds, and routes and
// nodes may still keep one environment out.
const (
	KeyEnvLive = "live"
	KeyEnvTest = "test"
)

// KeyEnvironments lists every key environment.
var KeyEnvironments = []string{KeyEnvLive, KeyEnvTest}

// ValidKeyEnvironment reports whether env is one of KeyEnvironments.
func ValidKeyEnvironment(env string) bool {
	return env == KeyEnvLive || env == KeyEnvTest
}

// KeyEnvironmentOf returns the environment of the keys with that prefix: a
// prefix whose second segment is "test" (sk_test_, acme_test_) is the test
// environment's, every other one (sk_live_, acme_live_, and prefixes from
// before environments existed such as gh_ or acme_prod_) is live's. So the
// keys stored before environments keep the meaning they had: production
// keys, unless their prefix said test.
func KeyEnvironmentOf(prefix string) string {
	if strings.HasSuffix(prefix, "_test_") {
		return KeyEnvTest
	}
	return KeyEnvLive
}

// Environment returns the key's environment, which its prefix carries (see
// KeyEnvironmentOf).
func (k *APIKey) Environment() string { return KeyEnvironmentOf(k.Prefix) }
