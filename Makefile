# Convenience targets; the scripts are the source of truth.
.PHONY: test bench bench-verify bench-token bench-gateway cluster soak run fuzz screenshots

test:
	./scripts/test

run:
	go run ./cmd/gatehouse serve --dev

# The dashboard's screenshots in docs/images, rendered by headless Chromium
# from sample data (see docs/dashboard.md).
screenshots:
	GATEHOUSE_REQUIRE_BROWSER=1 go test ./internal/dashboard/ -run '^TestScreenshots$$' -count=1 -screenshots ../../docs/images

# Go benchmarks of the API-key hot paths (see docs/benchmarks.md).
bench:
	go test -run '^$$' -bench . -benchmem ./internal/apikey/ ./internal/admin/ ./internal/signing/ ./internal/oauth/

# Load test of POST /v1/keys/verify against a same-run baseline.
bench-verify:
	go run ./bench/verifyload -duration 10s -concurrency 32

# Load test of client-credentials issuance (POST /oauth2/token).
bench-token:
	go run ./bench/tokenload -duration 10s -concurrency 8

# Load test of the gateway: upstream alone, a bare ReverseProxy, and
# gatehouse's public, api_key and jwt routes, as ratios to the bare proxy.
bench-gateway:
	go run ./bench/gateway -duration 5s -concurrency 16 -rounds 3

# The cluster harness: 3 nodes on PostgreSQL and Redis behind HAProxy;
# throughput per node, propagation of every change, shared-limit accuracy
# (see docs/scaling.md).
cluster:
	go run ./bench/cluster -duration 20s

# Ten minutes of mixed load on the same cluster: zero 5xx, and memory,
# goroutines and file descriptors flat after warm-up (non-zero exit if not).
soak:
	go run ./bench/cluster -soak 10m

fuzz:
	go test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/apikey/
	go test -run '^$$' -fuzz FuzzExtract -fuzztime 30s ./internal/apikey/
	go test -run '^$$' -fuzz FuzzValid -fuzztime 30s ./internal/secret/
	go test -run '^$$' -fuzz FuzzDecodeCreateKey -fuzztime 30s ./internal/admin/
	go test -run '^$$' -fuzz FuzzLoadFile -fuzztime 30s ./internal/config/
	go test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./internal/password/
	go test -run '^$$' -fuzz FuzzParseForm -fuzztime 30s ./internal/oauth/
	go test -run '^$$' -fuzz FuzzParseBasicAuth -fuzztime 30s ./internal/oauth/
	go test -run '^$$' -fuzz FuzzParseScope -fuzztime 30s ./internal/auth/
	go test -run '^$$' -fuzz FuzzKeyHoldsWhatARouteRequires -fuzztime 30s ./internal/apikey/
	go test -run '^$$' -fuzz FuzzRedisStoredValue -fuzztime 30s ./internal/ratelimit/
	go test -run '^$$' -fuzz FuzzParseRateLimit -fuzztime 30s ./cmd/gatehouse/
	go test -run '^$$' -fuzz FuzzMatchRedirectURI -fuzztime 30s ./internal/oauth/
	go test -run '^$$' -fuzz FuzzParseDuration -fuzztime 30s ./internal/auth/
	go test -run '^$$' -fuzz FuzzParseRefill -fuzztime 30s ./internal/auth/
	go test -run '^$$' -fuzz FuzzKeyForm -fuzztime 30s ./internal/dashboard/
	go test -run '^$$' -fuzz FuzzAuditLogQuery -fuzztime 30s ./internal/dashboard/
	go test -run '^$$' -fuzz FuzzAuthorizeRequest -fuzztime 30s ./internal/oauth/
	go test -run '^$$' -fuzz FuzzRouteNormalize -fuzztime 30s ./internal/auth/
	go test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/gateway/routefile/
	go test -run '^$$' -fuzz FuzzRewritePath -fuzztime 30s ./internal/gateway/proxy/
	go test -run '^$$' -fuzz FuzzClientIP -fuzztime 30s ./internal/gateway/
	go test -run '^$$' -fuzz FuzzRequestID -fuzztime 30s ./internal/gateway/
	go test -run '^$$' -fuzz '^FuzzCheckPath$$' -fuzztime 30s ./internal/auth/
	go test -run '^$$' -fuzz FuzzCheckPathCanonical -fuzztime 30s ./internal/auth/
	go test -run '^$$' -fuzz FuzzRequestTargetPath -fuzztime 30s ./internal/gateway/
	go test -run '^$$' -fuzz FuzzReadAhead -fuzztime 30s ./internal/gateway/proxy/
	go test -run '^$$' -fuzz FuzzProtectFromConnection -fuzztime 30s ./internal/gateway/
	go test -run '^$$' -fuzz FuzzRoutePatch -fuzztime 30s ./internal/admin/
	go test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./verify/
	go test -run '^$$' -fuzz FuzzClaims -fuzztime 30s ./verify/
	go test -run '^$$' -fuzz FuzzBearerToken -fuzztime 30s ./verify/
